/*
 * test_tls: lib/dv_tls.c, the SNI of a TLS ClientHello (server_name).
 *
 * The ClientHello is RFC 9001 Appendix A.2's (the CRYPTO frame's content of
 * the client Initial, whose SNI is "example.com"; those bytes authenticate
 * under the Appendix A.1 keys, test_quic checks that), put in TLS records
 * here; the others are built field by field from RFC 8446 4.1.2 and RFC
 * 6066 3. Every message is read cut at every length, each copy ending where
 * an inaccessible page begins (a read past the end crashes the test):
 * DV_CTX_MORE with the bytes of the whole message until the SNI extension is
 * all there, then the name.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "guarded.h"
#include "rfc9001.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dv_tls.h"

/* Where its SNI extension ends: header 4, version 2, random 32, session id
 * 1, suites 2+4, compression 1+1, extensions length 2, SNI 4+16. */
#define A2_SNI_END 69

static void put16(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

/* A ClientHello: version 3.3, a random of 0x11, a session id of sid bytes,
 * two suites, null compression, then the extensions ext[0..n) (with
 * with_ext 0: no extensions block at all). Returns its length. */
static uint32_t build_hello(uint8_t *b, uint32_t sid, const uint8_t *ext, uint32_t n, int with_ext)
{
	uint32_t o = 4;

	b[o++] = 3;
	b[o++] = 3;
	memset(b + o, 0x11, 32);
	o += 32;
	b[o++] = (uint8_t)sid;
	memset(b + o, 0x22, sid);
	o += sid;
	put16(b + o, 4);
	memcpy(b + o + 2, "\x13\x01\xc0\x2f", 4);
	o += 6;
	b[o++] = 1;
	b[o++] = 0;
	if (with_ext) {
		put16(b + o, n);
		memcpy(b + o + 2, ext, n);
		o += 2 + n;
	}
	b[0] = 1;
	b[1] = (uint8_t)((o - 4) >> 16);
	put16(b + 2, o - 4);
	return o;
}

/* An SNI extension of one host_name, name[0..n). Returns its length. */
static uint32_t sni_ext(uint8_t *b, const uint8_t *name, uint32_t n)
{
	put16(b, 0);
	put16(b + 2, n + 5);
	put16(b + 4, n + 3);
	b[6] = 0;
	put16(b + 7, n);
	if (n) /* an empty name may come as NULL: memcpy must not see it (UBSan) */
		memcpy(b + 9, name, n);
	return 9 + n;
}

/* hs[0..n) in records of at most frag bytes each (version 3.1). */
static uint32_t records(uint8_t *out, const uint8_t *hs, uint32_t n, uint32_t frag)
{
	uint32_t o = 0;

	for (uint32_t i = 0; i < n; i += frag) {
		uint32_t l = n - i < frag ? n - i : frag;

		out[o++] = 22;
		out[o++] = 3;
		out[o++] = 1;
		put16(out + o, l);
		memcpy(out + o + 2, hs + i, l);
		o += 2 + l;
	}
	return o;
}

/* dv_tls_sni() of the first len bytes of b, copied to the end of a page that
 * an inaccessible page follows. */
static int sni_cut(const uint8_t *b, uint32_t len, char *out, uint32_t cap, uint32_t *need)
{
	struct guarded g = {0};
	int rc = dv_tls_sni(guarded_put(&g, 8, b, len), len, out, cap, need);

	guarded_free(&g);
	return rc;
}

static int hello_cut(const uint8_t *b, uint32_t len, char *out, uint32_t cap)
{
	struct guarded g = {0};
	int rc = dv_tls_hello_sni(guarded_put(&g, 8, b, len), len, out, cap);

	guarded_free(&g);
	return rc;
}

/*
 * Records r[0..n) holding a ClientHello whose SNI extension ends at byte
 * sni_end of r (0: none). Every cut: before the SNI's end MORE, asking for
 * at least the bytes given and exactly n once every record header is seen
 * (need_exact_from), then the answer.
 */
static void check_cuts(const uint8_t *r, uint32_t n, uint32_t sni_end, uint32_t need_exact_from,
		       int want, const char *name)
{
	char out[DV_CTX_NAME_MAX];

	for (uint32_t cut = 1; cut <= n; cut++) {
		uint32_t need = 0;
		int rc = sni_cut(r, cut, out, sizeof(out), &need);

		if (cut == n || (sni_end != 0 && cut >= sni_end)) {
			assert_int_equal(rc, want);
			if (want == DV_CTX_FOUND)
				assert_string_equal(out, name);
			continue;
		}
		assert_int_equal(rc, DV_CTX_MORE);
		assert_true(need > cut && need <= n);
		if (cut >= need_exact_from)
			assert_int_equal(need, n);
	}
}

/* A.2's ClientHello in one record, then in records of 50, 100 and 1 bytes. */
static void test_rfc9001_hello(void **state)
{
	uint8_t hs[300], r[2000];
	uint32_t n = unhex(a2_hello, hs), rn;
	char out[DV_CTX_NAME_MAX];
	uint32_t need = 7;

	(void)state;
	assert_int_equal(n, 241);
	rn = records(r, hs, n, 16384);
	assert_int_equal(sni_cut(r, rn, out, sizeof(out), &need), DV_CTX_FOUND);
	assert_string_equal(out, "example.com");
	assert_int_equal(need, 7); /* written only with MORE */
	check_cuts(r, rn, 5 + A2_SNI_END, 9, DV_CTX_FOUND, "example.com");
	/* 50-byte records: the SNI's end (hs byte 69) is in the second. */
	rn = records(r, hs, n, 50);
	assert_int_equal(rn, 241 + 5 * 5);
	check_cuts(r, rn, 10 + A2_SNI_END, 3 * 55 + 5, DV_CTX_FOUND, "example.com");
	/* 100-byte records: the SNI in the first */
	rn = records(r, hs, n, 100);
	check_cuts(r, rn, 5 + A2_SNI_END, 105 + 5, DV_CTX_FOUND, "example.com");
	/* 1-byte records split the handshake header: not read (dv_tls.h) */
	rn = records(r, hs, n, 1);
	assert_int_equal(sni_cut(r, rn, out, sizeof(out), &need), DV_CTX_BAD);
	/* The message alone, as QUIC's CRYPTO stream carries it. */
	for (uint32_t cut = 0; cut <= n; cut++) {
		int rc = hello_cut(hs, cut, out, sizeof(out));

		assert_int_equal(rc, cut == 0		? DV_CTX_BAD
				     : cut < A2_SNI_END ? DV_CTX_MORE
							: DV_CTX_FOUND);
	}
}

/* No SNI extension, no extensions at all, a host_name after another type:
 * NONE only for the complete message. */
static void test_no_sni(void **state)
{
	uint8_t hs[600], r[700], ext[64];
	uint32_t n, rn;
	char out[DV_CTX_NAME_MAX];
	uint32_t need;

	(void)state;
	/* supported_versions (43) only */
	memcpy(ext, "\x00\x2b\x00\x03\x02\x03\x04", 7);
	n = build_hello(hs, 32, ext, 7, 1);
	rn = records(r, hs, n, 16384);
	check_cuts(r, rn, 0, 9, DV_CTX_NONE, NULL);
	/* TLS 1.2 without the extensions block */
	n = build_hello(hs, 0, NULL, 0, 0);
	rn = records(r, hs, n, 16384);
	check_cuts(r, rn, 0, 9, DV_CTX_NONE, NULL);
	/* an SNI list with a name of type 1, then host_name "b.example" */
	{
		static const uint8_t e[] = {0, 0, 0, 20,  0,   18,  1,	 0,   3,   'x', 'y', 'z',
					    0, 0, 9, 'b', '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e'};

		n = build_hello(hs, 0, e, sizeof(e), 1);
		rn = records(r, hs, n, 16384);
		assert_int_equal(sni_cut(r, rn, out, sizeof(out), &need), DV_CTX_FOUND);
		assert_string_equal(out, "b.example");
		/* the host_name entry taken away: names of another type only */
		memcpy(ext, e, 12);
		ext[3] = 8;
		ext[5] = 6;
		n = build_hello(hs, 0, ext, 12, 1);
		rn = records(r, hs, n, 16384);
		assert_int_equal(sni_cut(r, rn, out, sizeof(out), &need), DV_CTX_NONE);
	}
}

/* Bytes that are not a ClientHello, or one whose lengths disagree. */
static void test_bad(void **state)
{
	uint8_t hs[600], r[700], ext[64];
	uint32_t n, rn, e;
	char out[DV_CTX_NAME_MAX];
	uint32_t need;

	(void)state;
	e = sni_ext(ext, (const uint8_t *)"a.example", 9);
	n = build_hello(hs, 0, ext, e, 1);
	rn = records(r, hs, n, 16384);
	assert_int_equal(sni_cut(r, rn, out, sizeof(out), &need), DV_CTX_FOUND);
	assert_string_equal(out, "a.example");
#define BAD_IF(stmt)                                                                               \
	do {                                                                                       \
		uint8_t c[700];                                                                    \
		memcpy(c, r, rn);                                                                  \
		stmt;                                                                              \
		assert_int_equal(sni_cut(c, rn, out, sizeof(out), &need), DV_CTX_BAD);             \
	} while (0)
	BAD_IF(c[0] = 23);	  /* application data */
	BAD_IF(c[1] = 2);	  /* not 3.x */
	BAD_IF(c[2] = 5);	  /* 3.5 */
	BAD_IF(c[5] = 2);	  /* ServerHello */
	BAD_IF(c[3] = c[4] = 0);  /* an empty record */
	BAD_IF(c[3] = 0x40);	  /* a record of 16384 + 52 bytes */
	BAD_IF(c[6] = 1);	  /* a ClientHello past 2^14 bytes */
	BAD_IF(c[5 + 38] = 33);	  /* session id of 33 bytes */
	BAD_IF(c[5 + 40] = 3);	  /* an odd cipher suites length */
	BAD_IF(c[5 + 45] = 0);	  /* no compression method */
	BAD_IF(c[5 + 48]++);	  /* extensions past the message */
	BAD_IF(c[5 + 48]--);	  /* extensions short of the message */
	BAD_IF(c[5 + 52]++);	  /* SNI extension past the block */
	BAD_IF(c[5 + 54]--);	  /* SNI list shorter than its extension */
	BAD_IF(c[5 + 57] = 0x7f); /* host name past its list */
	BAD_IF(c[5 + 57]++);	  /* host name one byte past it */
	/* a host name of no bytes */
	e = sni_ext(ext, NULL, 0);
	n = build_hello(hs, 0, ext, e, 1);
	rn = records(r, hs, n, 16384);
	assert_int_equal(sni_cut(r, rn, out, sizeof(out), &need), DV_CTX_BAD);
	/* the second record is not a handshake record */
	e = sni_ext(ext, (const uint8_t *)"a.example", 9);
	n = build_hello(hs, 0, ext, e, 1);
	rn = records(r, hs, n, 40);
	BAD_IF(c[45] = 21);
	/* a ClientHello whose records would exceed 16384 + 5 bytes */
	hs[1] = 0;
	put16(hs + 2, 16380 - 4);
	rn = records(r, hs, 40, 40);
	assert_int_equal(sni_cut(r, rn, out, sizeof(out), &need), DV_CTX_BAD);
	put16(hs + 2, 16380 - 5);
	rn = records(r, hs, 40, 40);
	assert_int_equal(sni_cut(r, rn, out, sizeof(out), &need), DV_CTX_MORE);
	assert_int_equal(need, 16384 + 5);
	/* Short inputs: an unknown first byte is refused at once. */
	assert_int_equal(sni_cut(r, 0, out, sizeof(out), &need), DV_CTX_BAD);
	assert_int_equal(sni_cut((const uint8_t *)"GET ", 4, out, sizeof(out), &need), DV_CTX_BAD);
#undef BAD_IF
}

/* The text of a name: printable ASCII as it is, '\' doubled, other bytes
 * \DDD; a text past cap gives no name. */
static void test_escaping(void **state)
{
	static const uint8_t odd[] = {'a', 0x01, 'b', 0xff, 'c', '\\', 'd', ' ', 'e', 0x7f};
	uint8_t hs[2000], r[2100], ext[1100], name[300];
	uint32_t n, rn, e;
	char out[DV_CTX_NAME_MAX];
	uint32_t need;

	(void)state;
	e = sni_ext(ext, odd, sizeof(odd));
	n = build_hello(hs, 0, ext, e, 1);
	rn = records(r, hs, n, 16384);
	assert_int_equal(sni_cut(r, rn, out, sizeof(out), &need), DV_CTX_FOUND);
	assert_string_equal(out, "a\\001b\\255c\\\\d e\\127");
	/* 255 printable bytes fit 256; 256 do not */
	memset(name, 'x', sizeof(name));
	e = sni_ext(ext, name, 255);
	n = build_hello(hs, 0, ext, e, 1);
	rn = records(r, hs, n, 16384);
	assert_int_equal(sni_cut(r, rn, out, sizeof(out), &need), DV_CTX_FOUND);
	assert_int_equal(strlen(out), 255);
	e = sni_ext(ext, name, 256);
	n = build_hello(hs, 0, ext, e, 1);
	rn = records(r, hs, n, 16384);
	assert_int_equal(sni_cut(r, rn, out, sizeof(out), &need), DV_CTX_BAD);
	/* 63 bytes of 0x01: 252 characters; 64: 256, too many */
	memset(name, 1, sizeof(name));
	e = sni_ext(ext, name, 63);
	n = build_hello(hs, 0, ext, e, 1);
	rn = records(r, hs, n, 16384);
	assert_int_equal(sni_cut(r, rn, out, sizeof(out), &need), DV_CTX_FOUND);
	assert_int_equal(strlen(out), 252);
	e = sni_ext(ext, name, 64);
	n = build_hello(hs, 0, ext, e, 1);
	rn = records(r, hs, n, 16384);
	assert_int_equal(sni_cut(r, rn, out, sizeof(out), &need), DV_CTX_BAD);
	/* a small cap */
	assert_int_equal(dv_ctx_name_text((const uint8_t *)"abc", 3, out, 4), 3);
	assert_int_equal(dv_ctx_name_text((const uint8_t *)"abc", 3, out, 3), -1);
	assert_string_equal(out, "");
	assert_int_equal(dv_ctx_name_text((const uint8_t *)"", 0, out, 0), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc9001_hello),
	    cmocka_unit_test(test_no_sni),
	    cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_escaping),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
