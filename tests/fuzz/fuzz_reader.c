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
 * agrees with the first packet when that was the file's first frame. And
 * libpcap's own reading of the file (pcap_next_ex, the oracle for the
 * records dv_reader frames itself) gives as many frames, the
 * same wire bytes, the same records byte for byte and the same end (a
 * damaged file or not).
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <pcap/pcap.h>

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

/* What libpcap reads from the file: frames, their wire bytes as dv_reader
 * counts them (DV_WIRE_LEN_MAX), and whether it ended on damage; and every
 * record dv_reader_next_frame() gives beside it, the same byte for byte
 * (times, lengths, data). */
static void libpcap_reads(uint64_t *frames, uint64_t *bytes, int *damaged)
{
	char perr[PCAP_ERRBUF_SIZE], err[512];
	struct dv_reader_frame fr;
	struct pcap_pkthdr *h;
	struct dv_reader *raw;
	const u_char *d;
	pcap_t *p;
	int rc, raw_rc;

	*frames = *bytes = 0;
	p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, perr);
	dv_fuzz_check(p != NULL, "libpcap cannot open what dv_reader opened: %s", perr);
	raw = dv_reader_open(path, err, sizeof(err));
	dv_fuzz_check(raw != NULL, "dv_reader cannot open it again: %s", err);
	while ((rc = pcap_next_ex(p, &h, &d)) == 1) {
		uint64_t ts = h->ts.tv_sec < 0
				  ? 0
				  : (uint64_t)h->ts.tv_sec * 1000000000u + (uint64_t)h->ts.tv_usec;

		raw_rc = dv_reader_next_frame(raw, &fr, err, sizeof(err));
		dv_fuzz_check(raw_rc == 1 && fr.ts_ns == ts && fr.caplen == h->caplen &&
				  fr.len == h->len && memcmp(fr.data, d, h->caplen) == 0,
			      "record %llu: dv_reader %d (%llu ns, %u of %u bytes), libpcap %llu "
			      "ns, %u of %u bytes, or other data",
			      (unsigned long long)*frames, raw_rc, (unsigned long long)fr.ts_ns,
			      fr.caplen, fr.len, (unsigned long long)ts, h->caplen, h->len);
		(*frames)++;
		*bytes += h->len > DV_WIRE_LEN_MAX || h->len < h->caplen ? h->caplen : h->len;
	}
	*damaged = rc != PCAP_ERROR_BREAK;
	raw_rc = dv_reader_next_frame(raw, &fr, err, sizeof(err));
	dv_fuzz_check(raw_rc == (*damaged ? -EIO : 0), "the end: dv_reader %d, libpcap %d", raw_rc,
		      rc);
	dv_reader_close(raw);
	pcap_close(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t lp_frames, lp_bytes, st_packets, st_bytes;
	int lp_damaged;
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
	st_packets = st->packets;
	st_bytes = st->bytes;
	dv_reader_close(r);
	libpcap_reads(&lp_frames, &lp_bytes, &lp_damaged);
	dv_fuzz_check(lp_frames == st_packets && lp_bytes == st_bytes && lp_damaged == (rc == -EIO),
		      "libpcap reads %llu frames, %llu bytes%s; dv_reader %llu, %llu%s",
		      (unsigned long long)lp_frames, (unsigned long long)lp_bytes,
		      lp_damaged ? ", damaged" : "", (unsigned long long)st_packets,
		      (unsigned long long)st_bytes, rc == -EIO ? ", damaged" : "");

	first_rc = dv_reader_first_ts(path, &first_ts);
	dv_fuzz_check(first_rc <= 1, "dv_reader_first_ts returned %d", first_rc);
	if (first_is_frame_1)
		dv_fuzz_check(first_rc == 1 && first_ts == first_frame_ts,
			      "dv_reader_first_ts %d %llu, first packet at %llu", first_rc,
			      (unsigned long long)first_ts, (unsigned long long)first_frame_ts);
	return 0;
}
