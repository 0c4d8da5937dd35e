/*
 * test_reader: dv_reader over pcap files written here byte by byte, so every
 * expected value is a field of a record header this test wrote: the wire
 * length the rows count, and the records whose original length is not
 * believed (bad_length).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_absurd_lengths_not_trusted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
