/*
 * test_reader: dv_reader over pcap files written here byte by byte, so every
 * expected value is a field of a record header this test wrote: the wire
 * length the rows count, and the records whose original length is not
 * believed (bad_length). The records dv_reader frames itself are checked
 * against libpcap's own reading of the same files (timestamps of both
 * resolutions and byte orders, a record past the snap length, a file cut in
 * a record, records across the framing buffer's refills).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "dv_reader.h"

/* Ethernet + IPv4 (20 bytes) + UDP 10.0.0.1:1000 -> 10.0.0.2:2000, 60 bytes. */
static void udp_frame(uint8_t f[60])
{
	static const uint8_t hdr[] = {
	    0x02, 0,	0,    0,    0, 2,  0x02, 0, 0,	0,  0, 1, 0x08, 0x00, /* Ethernet */
	    0x45, 0,	0,    46,   0, 1,  0,	 0, 64, 17, 0, 0, 10,	0,
	    0,	  1,	10,   0,    0, 2,	    /* IPv4 */
	    0x03, 0xe8, 0x07, 0xd0, 0, 26, 0,	 0, /* UDP */
	};

	memset(f, 0, 60);
	memcpy(f, hdr, sizeof(hdr));
}

static void put32(FILE *f, uint32_t v)
{
	assert_int_equal(fwrite(&v, 4, 1, f), 1); /* little-endian file, as written */
}

/* One record: caplen bytes of the frame, claiming orig_len on the wire. */
static void record(FILE *f, uint32_t sec, uint32_t caplen, uint32_t orig_len)
{
	uint8_t frame[60];

	udp_frame(frame);
	put32(f, sec);
	put32(f, 0);
	put32(f, caplen);
	put32(f, orig_len);
	assert_int_equal(fwrite(frame, 1, caplen, f), caplen);
}

static void test_absurd_lengths_not_trusted(void **state)
{
	char path[] = "/tmp/dv-test-reader-XXXXXX", err[256];
	struct dv_reader *r;
	struct dv_pkt pkt;
	uint32_t want_wire[] = {60, 60, 1000, 60, 262144};
	int fd = mkstemp(path), n = 0, rc;
	FILE *f;

	(void)state;
	assert_true(fd >= 0);
	f = fdopen(fd, "wb");
	assert_non_null(f);
	put32(f, 0xa1b2c3d4); /* microsecond pcap, snap length 65535, Ethernet */
	put32(f, 2 | 4u << 16);
	put32(f, 0);
	put32(f, 0);
	put32(f, 65535);
	put32(f, 1);
	record(f, 1, 60, 60);	       /* a whole frame */
	record(f, 2, 60, 4093509168u); /* a fuzzed header: 4 GB on the wire */
	record(f, 3, 60, 1000);	       /* cut by a snap length: 1000 is believable */
	record(f, 4, 60, 50);	       /* fewer bytes on the wire than captured */
	record(f, 5, 60, 262144);      /* the longest believed */
	assert_int_equal(fclose(f), 0);

	r = dv_reader_open(path, err, sizeof(err));
	assert_non_null(r);
	while ((rc = dv_reader_next(r, NULL, &pkt, NULL, err, sizeof(err))) == 1) {
		assert_true(n < 5);
		assert_int_equal(pkt.wire_len, want_wire[n]);
		assert_int_equal(pkt.sport, 1000);
		n++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(n, 5);
	assert_int_equal(dv_reader_stats(r)->packets, 5);
	assert_int_equal(dv_reader_stats(r)->bad_length, 2);
	assert_int_equal(dv_reader_stats(r)->bytes, 60 + 60 + 1000 + 60 + 262144);
	dv_reader_close(r);
	unlink(path);
}

/* A pcap file of the given magic, written in either byte order. */
struct crafted {
	FILE *f;
	int big; /* big-endian fields */
};

static void cput32(struct crafted *c, uint32_t v)
{
	put32(c->f, c->big ? __builtin_bswap32(v) : v);
}

static void crafted_header(struct crafted *c, uint32_t magic, uint32_t snap)
{
	cput32(c, magic);
	if (c->big) { /* version 2.4: major then minor, each 16 bits */
		uint8_t v[4] = {0, 2, 0, 4};

		assert_int_equal(fwrite(v, 1, 4, c->f), 4);
	} else {
		put32(c->f, 2 | 4u << 16);
	}
	cput32(c, 0);
	cput32(c, 0);
	cput32(c, snap);
	cput32(c, 1); /* Ethernet */
}

static void crafted_record(struct crafted *c, uint32_t sec, uint32_t frac, uint32_t caplen,
			   uint32_t orig_len)
{
	static uint8_t frame[65536];

	assert_true(caplen <= sizeof(frame));
	memset(frame, 0, sizeof(frame));
	udp_frame(frame);
	/* Bytes past the headers that say which record this is. */
	for (uint32_t i = 42; i < caplen; i++)
		frame[i] = (uint8_t)(sec * 131 + frac + i);
	cput32(c, sec);
	cput32(c, frac);
	cput32(c, caplen);
	cput32(c, orig_len);
	assert_int_equal(fwrite(frame, 1, caplen, c->f), caplen);
}

/*
 * dv_reader and libpcap (pcap_next_ex at nanosecond precision, the oracle)
 * over path: the same packets with the same times and lengths, the same end
 * (rc_end: 0 or -EIO; with -EIO libpcap's error is in dv_reader's). Returns
 * the records dv_reader framed itself.
 */
static uint64_t same_as_libpcap(const char *path, int rc_end)
{
	char perr[PCAP_ERRBUF_SIZE], err[512];
	struct dv_reader_frame fr;
	struct pcap_pkthdr *h;
	const u_char *data;
	struct dv_reader *r, *raw;
	struct dv_pkt pkt;
	uint64_t framed;
	pcap_t *p;
	int rc, lrc, n = 0;

	p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, perr);
	assert_non_null(p);
	r = dv_reader_open(path, err, sizeof(err));
	assert_non_null(r);
	raw = dv_reader_open(path, err, sizeof(err));
	assert_non_null(raw);
	while ((rc = dv_reader_next(r, NULL, &pkt, NULL, err, sizeof(err))) == 1) {
		uint64_t want_ts;
		uint32_t want_wire;

		assert_int_equal(lrc = pcap_next_ex(p, &h, &data), 1);
		want_ts = h->ts.tv_sec < 0
			      ? 0
			      : (uint64_t)h->ts.tv_sec * 1000000000u + (uint64_t)h->ts.tv_usec;
		want_wire = h->len > DV_WIRE_LEN_MAX || h->len < h->caplen ? h->caplen : h->len;
		if (pkt.ts_ns != want_ts)
			print_message("  %s record %d: dv_reader %llu ns, libpcap %lld s %lld\n",
				      path, n, (unsigned long long)pkt.ts_ns,
				      (long long)h->ts.tv_sec, (long long)h->ts.tv_usec);
		assert_int_equal(pkt.ts_ns, want_ts);
		assert_int_equal(pkt.wire_len, want_wire);
		assert_int_equal(pkt.sport, 1000);
		/* The record itself, every byte, as libpcap has it. */
		assert_int_equal(dv_reader_next_frame(raw, &fr, err, sizeof(err)), 1);
		assert_int_equal(fr.ts_ns, want_ts);
		assert_int_equal(fr.caplen, h->caplen);
		assert_int_equal(fr.len, h->len);
		assert_memory_equal(fr.data, data, h->caplen);
		n++;
	}
	lrc = pcap_next_ex(p, &h, &data);
	assert_int_equal(rc, rc_end);
	assert_int_equal(lrc, rc_end == 0 ? PCAP_ERROR_BREAK : PCAP_ERROR);
	assert_int_equal(dv_reader_next_frame(raw, &fr, perr, sizeof(perr)), rc_end);
	if (rc_end != 0) {
		print_message("  dv_reader: %s\n", err);
		assert_non_null(strstr(err, pcap_geterr(p)));
	}
	assert_int_equal(dv_reader_stats(r)->packets, n);
	framed = dv_reader_stats(r)->framed;
	assert_int_equal(dv_reader_stats(raw)->framed, framed);
	dv_reader_close(raw);
	dv_reader_close(r);
	pcap_close(p);
	return framed;
}

/* Microsecond and nanosecond files, little and big endian: times as
 * libpcap gives them, also for a fraction of a second past one second and a
 * time before 1970, all framed by dv_reader. */
static void test_framed_times_and_byte_orders(void **state)
{
	static const uint32_t magic[] = {0xa1b2c3d4, 0xa1b23c4d};

	(void)state;
	for (int m = 0; m < 2; m++) {
		for (int big = 0; big < 2; big++) {
			char path[] = "/tmp/dv-test-reader-XXXXXX";
			int fd = mkstemp(path);
			struct crafted c = {fdopen(fd, "wb"), big};

			assert_non_null(c.f);
			print_message("  magic %08x, %s endian: %s\n", magic[m],
				      big ? "big" : "little", path);
			crafted_header(&c, magic[m], 65535);
			crafted_record(&c, 1700000000, 999999, 60, 60);
			crafted_record(&c, 1700000001, 1, 60, 1514);
			crafted_record(&c, 0xfffffffbu, 5, 60, 60);	     /* -5 s */
			crafted_record(&c, 1700000002, 3000000, 60, 60);     /* fraction > 1 s */
			crafted_record(&c, 1700000003, 0xfffffff0u, 60, 60); /* < 0 as int32 */
			assert_int_equal(fclose(c.f), 0);
			assert_int_equal(same_as_libpcap(path, 0), 5);
			unlink(path);
		}
	}
}

/* A record past the snap length and a record cut by the end of the file:
 * dv_reader hands the file to libpcap at the first, which cuts it to the
 * snap length and reads on, and then fails on the second as it always did. */
static void test_framed_hands_odd_records_to_libpcap(void **state)
{
	char path[] = "/tmp/dv-test-reader-XXXXXX";
	int fd = mkstemp(path);
	struct crafted c = {fdopen(fd, "wb"), 0};

	(void)state;
	assert_non_null(c.f);
	crafted_header(&c, 0xa1b2c3d4, 64);
	crafted_record(&c, 10, 0, 60, 60);
	crafted_record(&c, 11, 0, 60, 60);
	crafted_record(&c, 12, 0, 100, 100); /* past the snap length: libpcap keeps 64 */
	crafted_record(&c, 13, 0, 60, 60);
	cput32(&c, 14); /* a record cut in its data */
	cput32(&c, 0);
	cput32(&c, 60);
	cput32(&c, 60);
	assert_int_equal(fwrite("abcdefghij", 1, 10, c.f), 10);
	assert_int_equal(fclose(c.f), 0);
	assert_int_equal(same_as_libpcap(path, -EIO), 2);
	unlink(path);
}

/* Records of 60 B to 64 KiB, 7 MB in all: the framing buffer (1 MiB) is
 * refilled about seven times, with records and their headers cut by its
 * end in every way the sizes give; every record framed by dv_reader, as
 * libpcap reads them. */
static void test_framed_across_refills(void **state)
{
	static const uint32_t sizes[] = {60, 61, 1514, 9001, 65535, 77, 4096};
	char path[] = "/tmp/dv-test-reader-XXXXXX";
	int fd = mkstemp(path);
	struct crafted c = {fdopen(fd, "wb"), 0};
	uint32_t n = 0;

	(void)state;
	assert_non_null(c.f);
	crafted_header(&c, 0xa1b23c4d, 262144);
	for (uint64_t bytes = 0; bytes < 7u << 20; n++) {
		uint32_t len = sizes[n % 7];

		crafted_record(&c, 1700000000 + n, n * 7919u % 1000000000u, len, len);
		bytes += 16 + len;
	}
	assert_int_equal(fclose(c.f), 0);
	print_message("  %u records\n", n);
	assert_int_equal(same_as_libpcap(path, 0), n);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_absurd_lengths_not_trusted),
	    cmocka_unit_test(test_framed_times_and_byte_orders),
	    cmocka_unit_test(test_framed_hands_odd_records_to_libpcap),
	    cmocka_unit_test(test_framed_across_refills),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
