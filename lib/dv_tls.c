/*
 * dv_tls: the SNI of a TLS ClientHello (see dv_tls.h for what is read and
 * what is refused).
 *
 * Two layers. The record layer (RFC 8446 5.1, RFC 5246 6.2.1) is walked
 * first: when the ClientHello lies in one record, which is nearly always,
 * its bytes are read in place; when it spans records, their fragments are
 * gathered into a buffer on the stack (at most 2^14 bytes). Then the
 * handshake message (RFC 8446 4.1.2):
 *
 *   type 1 | length (3) | legacy_version (2) | random (32)
 *   | session_id <0..32> | cipher_suites <2..2^16-2> | compression <1..2^8-1>
 *   | extensions <0..2^16-1>: { type (2) | length (2) | data }
 *
 * and the server_name extension (type 0, RFC 6066 3):
 *   list length (2) | { name_type (1) | length (2) | name }
 *
 * Every field is checked against two ends: the bytes present (past them:
 * DV_CTX_MORE) and the message's own length (past it: DV_CTX_BAD).
 */
#include <string.h>

#include "dv_tls.h"

#define TLS_CONTENT_HANDSHAKE 22
#define TLS_HS_CLIENT_HELLO   1
#define TLS_RECORD_HDR	      5
#define TLS_RECORD_MAX	      16384 /* 2^14: a record's plaintext, and the ClientHello bound */
#define TLS_HS_HDR	      4
#define TLS_EXT_SNI	      0
#define TLS_SNI_HOST_NAME     0

static uint32_t be16(const uint8_t *b)
{
	return (uint32_t)b[0] << 8 | b[1];
}

static uint32_t be24(const uint8_t *b)
{
	return (uint32_t)b[0] << 16 | (uint32_t)b[1] << 8 | b[2];
}

int dv_ctx_name_text(const uint8_t *name, uint32_t n, char *out, uint32_t cap)
{
	uint32_t t = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint8_t c = name[i];
		uint32_t w = (c >= 0x20 && c < 0x7f) ? (c == '\\' ? 2 : 1) : 4;

		if (t + w >= cap) { /* room for the NUL too */
			if (cap > 0)
				out[0] = '\0';
			return -1;
		}
		if (w == 1) {
			out[t++] = (char)c;
		} else if (w == 2) {
			out[t++] = '\\';
			out[t++] = '\\';
		} else {
			out[t++] = '\\';
			out[t++] = (char)('0' + c / 100);
			out[t++] = (char)('0' + c / 10 % 10);
			out[t++] = (char)('0' + c % 10);
		}
	}
	if (t >= cap) /* n == 0 and cap == 0 */
		return -1;
	out[t] = '\0';
	return (int)t;
}

/* The first len bytes of a handshake message of total bytes. */
struct hs_view {
	const uint8_t *b;
	uint32_t len;
	uint32_t total;
};

/* 0 when b[off..off+n) is present; DV_CTX_MORE when it is inside the
 * message but not all present; DV_CTX_BAD when it runs past the message. */
static int span(const struct hs_view *v, uint32_t off, uint32_t n)
{
	uint64_t end = (uint64_t)off + n;

	if (end > v->total)
		return DV_CTX_BAD;
	return end > v->len ? DV_CTX_MORE : 0;
}

/* The server_name extension's data, e[0..n). */
static int read_sni_ext(const uint8_t *e, uint32_t n, char *out, uint32_t cap)
{
	uint32_t off = 2;

	if (n < 2 || be16(e) != n - 2 || n == 2)
		return DV_CTX_BAD;
	while (off < n) {
		uint32_t l;

		if (n - off < 3)
			return DV_CTX_BAD;
		l = be16(e + off + 1);
		if (l > n - off - 3)
			return DV_CTX_BAD;
		if (e[off] == TLS_SNI_HOST_NAME) {
			if (l == 0 || dv_ctx_name_text(e + off + 3, l, out, cap) < 0)
				return DV_CTX_BAD;
			return DV_CTX_FOUND;
		}
		off += 3 + l;
	}
	return DV_CTX_NONE; /* names of other types only */
}

/* The extensions block from off (its 2-byte length) to the message's end. */
static int read_extensions(const struct hs_view *v, uint32_t off, char *out, uint32_t cap)
{
	uint32_t end;
	int rc;

	if (off == v->total)
		return v->len == v->total ? DV_CTX_NONE : DV_CTX_MORE; /* no extensions */
	if ((rc = span(v, off, 2)) != 0)
		return rc;
	end = off + 2 + be16(v->b + off);
	if (end != v->total)
		return DV_CTX_BAD;
	for (off += 2; off < end;) {
		uint32_t type, l;

		if (end - off < 4)
			return DV_CTX_BAD;
		if ((rc = span(v, off, 4)) != 0)
			return rc;
		type = be16(v->b + off);
		l = be16(v->b + off + 2);
		if (l > end - off - 4)
			return DV_CTX_BAD;
		if (type == TLS_EXT_SNI) {
			if ((rc = span(v, off + 4, l)) != 0)
				return rc;
			return read_sni_ext(v->b + off + 4, l, out, cap);
		}
		off += 4 + l;
	}
	return v->len == v->total ? DV_CTX_NONE : DV_CTX_MORE;
}

/* A ClientHello's body, from legacy_version to the extensions. */
static int read_hello(const struct hs_view *v, char *out, uint32_t cap)
{
	uint32_t off = TLS_HS_HDR, l;
	int rc;

	if ((rc = span(v, off, 2 + 32 + 1)) != 0) /* version, random, session id length */
		return rc;
	l = v->b[off + 34];
	if (l > 32)
		return DV_CTX_BAD;
	off += 35 + l;
	if ((rc = span(v, off, 2)) != 0)
		return rc;
	l = be16(v->b + off);
	if (l < 2 || (l & 1))
		return DV_CTX_BAD;
	off += 2 + l;
	if ((rc = span(v, off, 1)) != 0)
		return rc;
	l = v->b[off];
	if (l < 1)
		return DV_CTX_BAD;
	if ((rc = span(v, off, 1 + l)) != 0)
		return rc;
	return read_extensions(v, off + 1 + l, out, cap);
}

int dv_tls_hello_sni(const uint8_t *h, uint32_t len, char *out, uint32_t cap)
{
	struct hs_view v = {h, len, 0};

	if (len < 1 || h[0] != TLS_HS_CLIENT_HELLO)
		return DV_CTX_BAD;
	if (len < TLS_HS_HDR)
		return DV_CTX_MORE;
	v.total = TLS_HS_HDR + be24(h + 1);
	if (v.len > v.total)
		v.len = v.total;
	return read_hello(&v, out, cap);
}

/* A record header at p[0..5): a handshake record of 3.x with 1 to 2^14
 * bytes. Returns its length, or 0 when it is not one. */
static uint32_t record_len(const uint8_t *p)
{
	uint32_t l = be16(p + 3);

	if (p[0] != TLS_CONTENT_HANDSHAKE || p[1] != 3 || p[2] > 4 || l == 0 || l > TLS_RECORD_MAX)
		return 0;
	return l;
}

/*
 * A ClientHello that starts in a record of rec_len bytes and goes on past
 * it: gather the fragments of the records that follow, then read it. pos
 * walks p; n counts the message's bytes gathered, seen the bytes of it the
 * records seen so far hold (all of them present or not).
 */
static int __attribute__((noinline)) read_records(const uint8_t *p, uint32_t len, uint32_t total,
						  char *out, uint32_t cap, uint32_t *need)
{
	uint8_t buf[TLS_RECORD_MAX];
	uint32_t n = 0, pos = 0, seen = 0, end_at = 0;
	int rc;

	while (seen < total) {
		uint32_t rl, take, have;

		if (len - pos < TLS_RECORD_HDR)
			break;
		rl = record_len(p + pos);
		if (rl == 0)
			return DV_CTX_BAD;
		take = rl < total - seen ? rl : total - seen;
		have = len - pos - TLS_RECORD_HDR;
		if (have > take)
			have = take;
		memcpy(buf + n, p + pos + TLS_RECORD_HDR, have);
		n += have;
		end_at = pos + TLS_RECORD_HDR + take; /* where the message ends, if here */
		seen += take;
		pos += TLS_RECORD_HDR + rl;
		if (have < take)
			break;
	}
	rc = dv_tls_hello_sni(buf, n, out, cap);
	if (rc != DV_CTX_MORE)
		return rc;
	/* The rest in one more record, if the records seen do not hold it. */
	*need = seen < total ? pos + TLS_RECORD_HDR + (total - seen) : end_at;
	return *need > DV_TLS_NEED_MAX ? DV_CTX_BAD : DV_CTX_MORE;
}

int dv_tls_sni(const uint8_t *p, uint32_t len, char *out, uint32_t cap, uint32_t *need)
{
	uint32_t rl, total;
	int rc;

	/* Cheap rejects first: most payloads are not a ClientHello. */
	if (len < 1 || p[0] != TLS_CONTENT_HANDSHAKE || (len > 1 && p[1] != 3) ||
	    (len > 2 && p[2] > 4) || (len > TLS_RECORD_HDR && p[5] != TLS_HS_CLIENT_HELLO))
		return DV_CTX_BAD;
	if (len < TLS_RECORD_HDR + TLS_HS_HDR) {
		/* Too short to know the lengths: ask for the two headers. */
		if (len >= TLS_RECORD_HDR && record_len(p) == 0)
			return DV_CTX_BAD;
		*need = TLS_RECORD_HDR + TLS_HS_HDR;
		return DV_CTX_MORE;
	}
	rl = record_len(p);
	if (rl == 0)
		return DV_CTX_BAD;
	total = TLS_HS_HDR + be24(p + TLS_RECORD_HDR + 1);
	if (rl < TLS_HS_HDR || total > TLS_RECORD_MAX)
		return DV_CTX_BAD; /* a split handshake header, or a ClientHello past the bound */
	if (total > rl && len > TLS_RECORD_HDR + rl)
		return read_records(p, len, total, out, cap, need);
	rc = dv_tls_hello_sni(p + TLS_RECORD_HDR, len - TLS_RECORD_HDR, out, cap);
	if (rc == DV_CTX_MORE) {
		*need = total <= rl ? TLS_RECORD_HDR + total
				    : TLS_RECORD_HDR + rl + TLS_RECORD_HDR + (total - rl);
		if (*need > DV_TLS_NEED_MAX)
			return DV_CTX_BAD;
	}
	return rc;
}
