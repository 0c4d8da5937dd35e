/*
 * fuzz_reader: a capture file (pcap or pcapng, whatever libpcap takes)
 * through dv_reader (lib/dv_reader.h).
 *
 * Input: the file's bytes, written to a scratch file (tmpfs when there is
 * one) that dv_reader_open() opens by path, as --read does. Every packet is
 * read until the end or the damage. Invariants: open and a damaged file
 * explain themselves in err; every frame read is counted once as IP,
 * non-IP or malformed; only IP packets are returned, each family 4 or 6
 * with a wire length; the bytes of the packets returned are within the
 * bytes counted; the link type is a supported one; dv_reader_first_ts()
 * agrees with the first packet when that was the file's first frame.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "dv_reader.h"
#include "fuzz_common.h"

static char path[PATH_MAX];

/*
 * ASan: large shadow ranges cleared with memset rather than remapped, and
 * freed memory kept mapped. The reader takes a 1 MiB stdio buffer per open
 * (two opens per input), whose shadow ASan otherwise remaps and faults in
 * again every time: 3.0-3.5 ms of CPU and 101 page faults per corpus input,
 * 2.0 ms and 70 with these (2026-12-06). Neither changes what ASan detects;
 * ASAN_OPTIONS still overrides both.
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "clear_shadow_mmap_threshold=1073741824:allocator_release_to_os_interval_ms=-1";
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(path, sizeof(path), "%s/capture", dv_fuzz_scratch_dir());
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct dv_reader_stats *st;
	struct dv_reader *r;
	struct dv_decap_cfg decap;
	struct dv_pkt_tun tun;
	struct dv_pkt pkt;
	char err[512] = "";
	uint64_t returned = 0, bytes = 0, first_ts = 0, first_frame_ts = 0;
	int rc, first_rc, first_is_frame_1 = 0;

	dv_decap_cfg_default(&decap);
	dv_fuzz_write_file(path, data, size);
	r = dv_reader_open(path, err, sizeof(err));
	if (r == NULL) {
		dv_fuzz_check(err[0] != '\0', "dv_reader_open failed without a message");
		return 0;
	}
	dv_fuzz_check(dv_linktype_supported(dv_reader_linktype(r)), "link type %d",
		      dv_reader_linktype(r));
	st = dv_reader_stats(r);
	while ((rc = dv_reader_next(r, &decap, &pkt, &tun, err, sizeof(err))) == 1) {
		dv_fuzz_check(pkt.family == 4 || pkt.family == 6, "family %u", pkt.family);
		dv_fuzz_check(pkt.wire_len > 0, "wire length 0");
		if (returned == 0 && st->packets == 1) {
			first_is_frame_1 = 1;
			first_frame_ts = pkt.ts_ns;
		}
		returned++;
		bytes += pkt.wire_len;
	}
	dv_fuzz_check(rc == 0 || rc == -EIO, "dv_reader_next returned %d", rc);
	if (rc == -EIO)
		dv_fuzz_check(err[0] != '\0', "-EIO without a message");
	dv_fuzz_check(st->packets == st->ip_packets + st->non_ip + st->malformed,
		      "%llu frames, %llu IP + %llu non-IP + %llu malformed",
		      (unsigned long long)st->packets, (unsigned long long)st->ip_packets,
		      (unsigned long long)st->non_ip, (unsigned long long)st->malformed);
	dv_fuzz_check(returned == st->ip_packets, "%llu returned, %llu counted as IP",
		      (unsigned long long)returned, (unsigned long long)st->ip_packets);
	dv_fuzz_check(bytes <= st->bytes, "%llu bytes returned, %llu counted",
		      (unsigned long long)bytes, (unsigned long long)st->bytes);
	dv_reader_close(r);

	first_rc = dv_reader_first_ts(path, &first_ts);
	dv_fuzz_check(first_rc <= 1, "dv_reader_first_ts returned %d", first_rc);
	if (first_is_frame_1)
		dv_fuzz_check(first_rc == 1 && first_ts == first_frame_ts,
			      "dv_reader_first_ts %d %llu, first packet at %llu", first_rc,
			      (unsigned long long)first_ts, (unsigned long long)first_frame_ts);
	return 0;
}
