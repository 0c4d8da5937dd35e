/*
 * test_ctx_dns: lib/dv_dns.c, the DNS reader for dns_query / dns_rcode.
 *
 * The messages are written here byte by byte; what tshark 4.0.17 says of
 * each (dns.qry.name, dns.flags.response, dns.flags.rcode, from a capture of
 * them) is beside it. Names agree with tshark where the labels are plain;
 * where they are not, the expected text is RFC 1035 5.1's (tshark prints a
 * label's '.' and '\' bare, other bytes C-escaped in octal or as UTF-8, and
 * the root as "<Root>"). Every message is also read cut at every length:
 * no read past the end (each copy ends where an inaccessible page begins,
 * so a read past it crashes the test), a name only when all its labels are
 * there.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "guarded.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dv_dns.h"

struct msg {
	const char *hex;
	uint32_t name_end; /* bytes up to the end of the first name */
	const char *qname;
	uint8_t response, rcode;
};

static const struct msg msgs[] = {
    /* query www.example.com A; tshark: www.example.com, response 0 */
    {"12340100000100000000000003777777076578616d706c6503636f6d0000010001", 29, "www.example.com", 0,
     0},
    /* NXDOMAIN for nx.example.org AAAA; tshark: nx.example.org, response 1, rcode 3 */
    {"123481830001000000000000026e78076578616d706c65036f726700001c0001", 28, "nx.example.org", 1,
     3},
    /* labels "a.b", "c\d", "\001z ", "x"; tshark: a.b.c\d.\001z .x */
    {"00010000000100000000000003612e6203635c6403017a2001780000010001", 27, "a\\.b.c\\\\d.\\001z .x",
     0, 0},
    /* the root, REFUSED; tshark: <Root>, response 1, rcode 5 */
    {"0002810500010000000000000000020001", 13, ".", 1, 5},
    /* one label 0xc8 0x7f 0x09; tshark: U+FFFD \177 \t */
    {"00010000000100000000000003c87f090000010001", 17, "\\200\\127\\009", 0, 0},
};

static uint32_t unhex(const char *hex, uint8_t *out)
{
	uint32_t n = 0;

	for (; hex[0] && hex[1]; hex += 2)
		out[n++] = (uint8_t)strtoul((char[]){hex[0], hex[1], 0}, NULL, 16);
	return n;
}

/* dv_dns_read() of the first len bytes of b, copied to the end of a page
 * that an inaccessible page follows. */
static int read_cut(const uint8_t *b, uint32_t len, struct dv_dns_info *info)
{
	struct guarded g = {0};
	int rc = dv_dns_read(guarded_put(&g, 1, b, len), len, info);

	guarded_free(&g);
	return rc;
}

static void test_messages(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		uint8_t b[512];
		uint32_t n = unhex(msgs[i].hex, b);
		struct dv_dns_info info;

		assert_int_equal(read_cut(b, n, &info), 0);
		assert_string_equal(info.qname, msgs[i].qname);
		assert_int_equal(info.qname_len, strlen(msgs[i].qname));
		assert_int_equal(info.response, msgs[i].response);
		if (info.response)
			assert_int_equal(info.rcode, msgs[i].rcode);
		for (uint32_t cut = 0; cut < n; cut++) {
			int rc = read_cut(b, cut, &info);

			if (cut < msgs[i].name_end)
				assert_int_equal(rc, -1);
			else
				assert_string_equal(info.qname, msgs[i].qname);
		}
	}
}

/* No question, pointer loops, forward pointers, reserved label types, a
 * name longer than 255 bytes: no name. A pointer back into the header is
 * followed (the bytes there are read as labels, as any reader would). */
static void test_bad(void **state)
{
	uint8_t b[600];
	struct dv_dns_info info;
	uint32_t n;

	(void)state;
	n = unhex("123401000000000000000000037777770000010001", b); /* QDCOUNT 0 */
	assert_int_equal(read_cut(b, n, &info), -1);
	n = unhex("1234010000010000000000000c0c", b); /* pointer to itself */
	assert_int_equal(read_cut(b, n, &info), -1);
	n = unhex("123401000001000000000000c00e0161c00c", b); /* forward, then back */
	assert_int_equal(read_cut(b, n, &info), -1);
	n = unhex("12340100000100000000000001614161", b); /* 0x41: extended label */
	assert_int_equal(read_cut(b, n, &info), -1);
	n = unhex("12340100000100000000000001618161", b); /* 0x81: reserved */
	assert_int_equal(read_cut(b, n, &info), -1);
	/* a pointer to byte 4 (QDCOUNT's high byte, 0): the root */
	n = unhex("000000000001000000000000c004", b);
	assert_int_equal(read_cut(b, n, &info), 0); /* byte 4 = 0: the root */
	assert_string_equal(info.qname, ".");
	/* 128 labels of one byte: 257 bytes on the wire, one too many */
	memset(b, 0, 12);
	b[5] = 1;
	n = 12;
	for (int i = 0; i < 128; i++) {
		b[n++] = 1;
		b[n++] = 'a';
	}
	b[n++] = 0;
	assert_int_equal(read_cut(b, n, &info), -1);
	/* 127 labels: 255 bytes, the most there may be */
	n = 12 + 127 * 2;
	b[n++] = 0;
	assert_int_equal(read_cut(b, n, &info), 0);
	assert_int_equal(info.qname_len, 127 * 2 - 1);
}

/* The longest text: 254 label bytes that each need \DDD fit the buffer. */
static void test_longest_text(void **state)
{
	uint8_t b[300];
	struct dv_dns_info info;
	uint32_t n = 12;

	(void)state;
	memset(b, 0, sizeof(b));
	b[5] = 1;
	for (int l = 0; l < 4; l++) { /* 63 + 63 + 63 + 61 bytes in 4 labels: 254 */
		int len = l < 3 ? 63 : 61;

		b[n++] = (uint8_t)len;
		memset(b + n, 0x01, (size_t)len);
		n += (uint32_t)len;
	}
	b[n++] = 0;
	assert_int_equal(n - 12, 255);
	assert_int_equal(read_cut(b, n, &info), 0);
	assert_int_equal(info.qname_len, 250 * 4 + 3);
	assert_true(info.qname_len < DV_DNS_TEXT_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_messages),
	    cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_longest_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
