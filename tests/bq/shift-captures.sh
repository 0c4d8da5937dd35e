# Sourced by the end-to-end scripts: shift_captures DIR PCAP... moves each
# capture so its first packet lies one hour ago (editcap -t; BigQuery and the
# doubles take rows of the present), into DIR/shifted-<i>.pcapng, and sets
# the array `reads` to the matching --read options.
shift_captures() {
	local dir=$1 i=0 now first f
	shift
	now=$(date +%s)
	reads=()
	for f in "$@"; do
		first=$(capinfos -T -r -a -S "$f" | awk -F'\t' '{print int($2)}')
		editcap -t $((now - 3600 - first)) "$f" "$dir/shifted-$i.pcapng"
		reads+=(--read "$dir/shifted-$i.pcapng")
		i=$((i + 1))
	done
}
