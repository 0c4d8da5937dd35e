/*
 * dv_quic: the SNI of a QUIC v1 client Initial (see dv_quic.h).
 *
 * The steps of RFC 9001 5 in order: the long header (RFC 9000 17.2:
 * first byte, version, DCID, SCID, token, length), the client's Initial
 * secrets from the DCID (5.2), header protection off (5.4: a mask from
 * AES-ECB of 16 bytes sampled 4 bytes after the packet number's start),
 * AEAD decryption (5.3: nonce = iv XOR packet number, AAD = the header as
 * unprotected), then the frames (RFC 9000 19). Lengths are varints checked
 * against the bytes that hold them; nothing outside p[0..len) is read.
 */
/* SHA256_Init() and its kin are deprecated in OpenSSL 3.0, but they are
 * the only SHA-256 that does not allocate: an EVP digest context allocates
 * its state again at every init (3.0.19: one malloc an init, four an
 * EVP_MAC_init() of HMAC). Their states are plain structs, so an HMAC key's
 * inner and outer states are computed once and copied. */
#define OPENSSL_API_COMPAT 0x10100000L

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "dv_quic.h"

#define QUIC_V1		 0x00000001u
#define QUIC_CID_MAX	 20
#define QUIC_TAG	 16
#define QUIC_SAMPLE	 16
#define QUIC_PKT_MAX	 65536 /* a UDP payload */
#define QUIC_INITIAL_MIN 1200  /* a client's datagram with an Initial, at least */
#define QUIC_LONG	 0x80
#define QUIC_FIXED	 0x40
#define QUIC_TYPE_INIT	 0
#define QUIC_TYPE_RETRY	 3
#define FRAME_PADDING	 0x00
#define FRAME_PING	 0x01
#define FRAME_ACK	 0x02
#define FRAME_ACK_ECN	 0x03
#define FRAME_CRYPTO	 0x06
#define FRAME_CONN_CLOSE 0x1c

/*
 * The Initial salts, by version: RFC 9001 5.2 for version 1, and the
 * drafts' (draft-ietf-quic-tls-23 to -28, -29 to -32 A.1) that the same
 * packet layout, frames and labels carry: captures of 2020 and 2021 hold
 * many draft-29 Initials (tshark reads them). Other versions (2, gQUIC,
 * mvfst's) are not read.
 */
enum { SALT_V1, SALT_D23, SALT_D29, N_SALTS };
static const uint8_t salts[N_SALTS][20] = {
    [SALT_V1] = {0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
		 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a},
    [SALT_D23] = {0xc3, 0xee, 0xf7, 0x12, 0xc7, 0x2e, 0xbb, 0x5a, 0x11, 0xa7,
		  0xd2, 0x43, 0x2b, 0xb4, 0x63, 0x65, 0xbe, 0xf9, 0xf5, 0x02},
    [SALT_D29] = {0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97,
		  0x86, 0xf1, 0x9c, 0x61, 0x11, 0xe0, 0x43, 0x90, 0xa8, 0x99},
};

/* The salt of a version, or -1 for a version not read. */
static int salt_of(uint32_t version)
{
	if (version == QUIC_V1)
		return SALT_V1;
	if (version >= 0xff000017u && version <= 0xff00001cu)
		return SALT_D23;
	if (version >= 0xff00001du && version <= 0xff000020u)
		return SALT_D29;
	return -1;
}

/* An HMAC-SHA256 key (RFC 2104) as the SHA-256 states after its padded
 * key blocks. */
struct hmac_key {
	SHA256_CTX in, out;
};

struct dv_quic {
	struct hmac_key salt[N_SALTS]; /* HKDF-Extract's keys */
	EVP_CIPHER_CTX *ecb;	       /* AES-128-ECB: header protection */
	EVP_CIPHER_CTX *gcm;	       /* AES-128-GCM: the payload */
	uint32_t n_ranges;	       /* CRYPTO frames placed */
	struct {
		uint32_t lo, hi; /* crypto[lo..hi) holds stream bytes */
	} ranges[DV_QUIC_CRYPTO_FRAMES];
	uint8_t crypto[DV_QUIC_CRYPTO_MAX];
	uint8_t pt[QUIC_PKT_MAX]; /* the decrypted payload */
};

/* The keys of one packet. */
struct initial_keys {
	uint8_t key[16], iv[12], hp[16];
};

/* The states for a key of at most 64 bytes (ours: 20 and 32). */
static int hmac_set_key(struct hmac_key *h, const uint8_t *key, size_t n)
{
	uint8_t pad[SHA256_CBLOCK];
	int ok;

	memset(pad, 0x36, sizeof(pad));
	for (size_t i = 0; i < n; i++)
		pad[i] ^= key[i];
	ok = SHA256_Init(&h->in) == 1 && SHA256_Update(&h->in, pad, sizeof(pad)) == 1;
	for (size_t i = 0; i < sizeof(pad); i++)
		pad[i] ^= 0x36 ^ 0x5c;
	ok = ok && SHA256_Init(&h->out) == 1 && SHA256_Update(&h->out, pad, sizeof(pad)) == 1;
	OPENSSL_cleanse(pad, sizeof(pad));
	return ok;
}

/* HMAC-SHA256(key, a) into out (32 bytes). */
static int hmac(const struct hmac_key *h, const uint8_t *a, size_t alen, uint8_t *out)
{
	SHA256_CTX c = h->in;
	uint8_t t[32];
	int ok = SHA256_Update(&c, a, alen) == 1 && SHA256_Final(t, &c) == 1;

	c = h->out;
	ok = ok && SHA256_Update(&c, t, sizeof(t)) == 1 && SHA256_Final(out, &c) == 1;
	OPENSSL_cleanse(&c, sizeof(c));
	OPENSSL_cleanse(t, sizeof(t));
	return ok;
}

struct dv_quic *dv_quic_create(void)
{
	struct dv_quic *q = OPENSSL_zalloc(sizeof(*q));

	if (q == NULL)
		return NULL;
	q->ecb = EVP_CIPHER_CTX_new();
	q->gcm = EVP_CIPHER_CTX_new();
	for (int i = 0; i < N_SALTS; i++)
		if (!hmac_set_key(&q->salt[i], salts[i], sizeof(salts[i]))) {
			dv_quic_destroy(q);
			return NULL;
		}
	if (q->ecb == NULL || q->gcm == NULL ||
	    EVP_EncryptInit_ex(q->ecb, EVP_aes_128_ecb(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_set_padding(q->ecb, 0) != 1 ||
	    EVP_DecryptInit_ex(q->gcm, EVP_aes_128_gcm(), NULL, NULL, NULL) != 1) {
		dv_quic_destroy(q);
		return NULL;
	}
	return q;
}

void dv_quic_destroy(struct dv_quic *q)
{
	if (q == NULL)
		return;
	EVP_CIPHER_CTX_free(q->gcm);
	EVP_CIPHER_CTX_free(q->ecb);
	OPENSSL_clear_free(q, sizeof(*q));
}

/* HKDF-Expand-Label(secret, label, "", len) of TLS 1.3 (RFC 8446 7.1) for
 * len <= 32: one HMAC block, T(1), under the secret's key states. */
static int expand_label(const struct hmac_key *secret, const char *label, uint8_t *out, size_t len)
{
	uint8_t info[2 + 1 + 6 + 16 + 1 + 1], t[32];
	size_t l = strlen(label), n = 0;
	int ok;

	info[n++] = 0;
	info[n++] = (uint8_t)len;
	info[n++] = (uint8_t)(6 + l);
	memcpy(info + n, "tls13 ", 6);
	memcpy(info + n + 6, label, l);
	n += 6 + l;
	info[n++] = 0; /* empty context */
	info[n++] = 1; /* the block counter */
	ok = hmac(secret, info, n, t);
	memcpy(out, t, len);
	OPENSSL_cleanse(t, sizeof(t));
	return ok;
}

/* RFC 9001 5.2: the client's Initial keys for a DCID, with a salt. The
 * client secret's key states serve its three labels: 14 SHA-256 blocks in
 * all. */
static int client_keys(struct dv_quic *q, int salt, const uint8_t *dcid, size_t n,
		       struct initial_keys *k)
{
	uint8_t secret[32];
	struct hmac_key key;
	int ok = hmac(&q->salt[salt], dcid, n, secret) && hmac_set_key(&key, secret, 32) &&
		 expand_label(&key, "client in", secret, 32) && hmac_set_key(&key, secret, 32) &&
		 expand_label(&key, "quic key", k->key, 16) &&
		 expand_label(&key, "quic iv", k->iv, 12) &&
		 expand_label(&key, "quic hp", k->hp, 16);

	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(&key, sizeof(key));
	return ok;
}

/* A variable-length integer (RFC 9000 16) at b[*off], within n. */
static int varint(const uint8_t *b, uint32_t n, uint32_t *off, uint64_t *v)
{
	uint32_t l;

	if (*off >= n)
		return 0;
	l = 1u << (b[*off] >> 6);
	if (n - *off < l)
		return 0;
	*v = b[*off] & 0x3f;
	for (uint32_t k = 1; k < l; k++)
		*v = *v << 8 | b[*off + k];
	*off += l;
	return 1;
}

/* Place a CRYPTO frame's data (stream offset o) in the buffer. */
static void place(struct dv_quic *q, uint64_t o, const uint8_t *d, uint64_t l)
{
	uint32_t lo, hi;

	if (o >= DV_QUIC_CRYPTO_MAX || l == 0 || q->n_ranges == DV_QUIC_CRYPTO_FRAMES)
		return;
	lo = (uint32_t)o;
	hi = l < DV_QUIC_CRYPTO_MAX - o ? (uint32_t)(o + l) : DV_QUIC_CRYPTO_MAX;
	memcpy(q->crypto + lo, d, hi - lo);
	q->ranges[q->n_ranges].lo = lo;
	q->ranges[q->n_ranges].hi = hi;
	q->n_ranges++;
}

/* Skip n varints. */
static int skip_varints(const uint8_t *b, uint32_t n, uint32_t *off, uint32_t count)
{
	uint64_t v;

	while (count-- > 0)
		if (!varint(b, n, off, &v))
			return 0;
	return 1;
}

/* An ACK frame after its type (RFC 9000 19.3). */
static int skip_ack(const uint8_t *b, uint32_t n, uint32_t *off, int ecn)
{
	uint64_t ranges;

	if (!skip_varints(b, n, off, 2) || !varint(b, n, off, &ranges) ||
	    !skip_varints(b, n, off, 1))
		return 0;
	/* each range is two varints of a byte at least: the count is bounded
	 * by the bytes left */
	if (ranges > (n - *off) / 2)
		return 0;
	return skip_varints(b, n, off, (uint32_t)ranges * 2) &&
	       (!ecn || skip_varints(b, n, off, 3));
}

/* The frames of a decrypted payload pt[0..n): CRYPTO frames placed. */
static int read_frames(struct dv_quic *q, uint32_t n)
{
	const uint8_t *b = q->pt;
	uint32_t off = 0;

	while (off < n) {
		uint64_t type, o, l;

		if (!varint(b, n, &off, &type))
			return 0;
		switch (type) {
		case FRAME_PADDING: /* most of a client's Initial: skip the run */
			while (off < n && b[off] == FRAME_PADDING)
				off++;
			break;
		case FRAME_PING:
			break;
		case FRAME_ACK:
		case FRAME_ACK_ECN:
			if (!skip_ack(b, n, &off, type == FRAME_ACK_ECN))
				return 0;
			break;
		case FRAME_CRYPTO:
			if (!varint(b, n, &off, &o) || !varint(b, n, &off, &l) || l > n - off)
				return 0;
			place(q, o, b + off, l);
			off += (uint32_t)l;
			break;
		case FRAME_CONN_CLOSE: /* error code, frame type, reason */
			if (!skip_varints(b, n, &off, 2) || !varint(b, n, &off, &l) || l > n - off)
				return 0;
			off += (uint32_t)l;
			break;
		default:
			return 0; /* not allowed in an Initial packet (RFC 9000 12.4) */
		}
	}
	return 1;
}

/* The CRYPTO bytes held without a gap from offset 0. */
static uint32_t crypto_prefix(const struct dv_quic *q)
{
	uint32_t end = 0;

	for (int grew = 1; grew;) {
		grew = 0;
		for (uint32_t i = 0; i < q->n_ranges; i++)
			if (q->ranges[i].lo <= end && q->ranges[i].hi > end) {
				end = q->ranges[i].hi;
				grew = 1;
			}
	}
	return end;
}

/* Where one long-header packet's fields are. */
struct long_hdr {
	uint32_t dcid, dcid_len; /* offsets in the datagram */
	uint32_t pn;		 /* the packet number's offset */
	uint32_t end;		 /* the packet's end */
	uint8_t type;
	int8_t salt; /* salt_of() its version */
};

/* The long header at p[off]; 0 when it is not a long header of a version
 * read (salt_of()) whose length fits the datagram. */
static int long_header(const uint8_t *p, uint32_t len, uint32_t off, struct long_hdr *h)
{
	uint64_t l;

	if (len - off < 7 || (p[off] & (QUIC_LONG | QUIC_FIXED)) != (QUIC_LONG | QUIC_FIXED))
		return 0;
	h->salt = (int8_t)salt_of((uint32_t)p[off + 1] << 24 | (uint32_t)p[off + 2] << 16 |
				  (uint32_t)p[off + 3] << 8 | p[off + 4]);
	if (h->salt < 0)
		return 0;
	h->type = (p[off] >> 4) & 3;
	h->dcid_len = p[off + 5];
	h->dcid = off + 6;
	off += 6 + h->dcid_len;
	if (h->dcid_len > QUIC_CID_MAX || off >= len || p[off] > QUIC_CID_MAX ||
	    h->type == QUIC_TYPE_RETRY)
		return 0;
	off += 1 + p[off];
	if (h->type == QUIC_TYPE_INIT) { /* the token */
		if (!varint(p, len, &off, &l) || l > len - off)
			return 0;
		off += (uint32_t)l;
	}
	if (!varint(p, len, &off, &l) || l > len - off)
		return 0;
	h->pn = off;
	h->end = off + (uint32_t)l;
	return 1;
}

/* Header protection off, the payload decrypted into q->pt. Returns the
 * plaintext's length, or -1. */
static int64_t unprotect(struct dv_quic *q, const uint8_t *p, const struct long_hdr *h,
			 const struct initial_keys *k)
{
	uint8_t mask[16 + 16], first, pn[4], nonce[12], tag[QUIC_TAG];
	uint32_t pn_len, ct, n;
	uint64_t pnv = 0;
	int outl = 0;

	if (h->end - h->pn < 4 + QUIC_SAMPLE)
		return -1;
	if (EVP_EncryptInit_ex(q->ecb, NULL, NULL, k->hp, NULL) != 1 ||
	    EVP_EncryptUpdate(q->ecb, mask, &outl, p + h->pn + 4, QUIC_SAMPLE) != 1 || outl != 16)
		return -1;
	first = p[h->dcid - 6] ^ (mask[0] & 0x0f);
	pn_len = (first & 3) + 1u;
	ct = h->end - h->pn - pn_len;
	if (ct < QUIC_TAG + 1 || ct - QUIC_TAG > QUIC_PKT_MAX)
		return -1;
	memcpy(nonce, k->iv, 12);
	for (uint32_t i = 0; i < pn_len; i++) {
		pn[i] = p[h->pn + i] ^ mask[1 + i];
		pnv = pnv << 8 | pn[i];
	}
	for (int i = 0; i < 8; i++)
		nonce[4 + i] ^= (uint8_t)(pnv >> (56 - 8 * i));
	n = ct - QUIC_TAG;
	memcpy(tag, p + h->end - QUIC_TAG, QUIC_TAG);
	if (EVP_DecryptInit_ex(q->gcm, NULL, NULL, k->key, nonce) != 1 ||
	    EVP_DecryptUpdate(q->gcm, NULL, &outl, &first, 1) != 1 ||
	    EVP_DecryptUpdate(q->gcm, NULL, &outl, p + h->dcid - 5, (int)(h->pn - (h->dcid - 5))) !=
		1 ||
	    EVP_DecryptUpdate(q->gcm, NULL, &outl, pn, (int)pn_len) != 1 ||
	    EVP_DecryptUpdate(q->gcm, q->pt, &outl, p + h->pn + pn_len, (int)n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(q->gcm, EVP_CTRL_GCM_SET_TAG, QUIC_TAG, tag) != 1 ||
	    EVP_DecryptFinal_ex(q->gcm, q->pt + outl, &outl) != 1)
		return -1; /* not authentic: not a client Initial, or damaged */
	if (first & 0x0c)
		return -1; /* reserved bits set: a protocol violation (RFC 9000 17.2) */
	return n;
}

int dv_quic_sni(struct dv_quic *q, const uint8_t *p, uint32_t len, char *out, uint32_t cap)
{
	struct long_hdr h;
	struct initial_keys k;
	uint32_t off = 0, prefix;
	int64_t n;

	/* A client pads every datagram with an Initial to 1200 bytes at
	 * least, and a server drops smaller ones (RFC 9000 14.1): a smaller
	 * one (a server's Initial, often) costs no key schedule. */
	if (len < QUIC_INITIAL_MIN)
		return DV_CTX_BAD;
	/* The first Initial of the coalesced long-header packets. */
	for (;;) {
		if (off >= len || !long_header(p, len, off, &h))
			return DV_CTX_BAD;
		if (h.type == QUIC_TYPE_INIT)
			break;
		off = h.end;
	}
	if (!client_keys(q, h.salt, p + h.dcid, h.dcid_len, &k))
		return DV_CTX_BAD;
	n = unprotect(q, p, &h, &k);
	OPENSSL_cleanse(&k, sizeof(k));
	q->n_ranges = 0;
	if (n < 0 || !read_frames(q, (uint32_t)n))
		return DV_CTX_BAD;
	prefix = crypto_prefix(q);
	if (prefix == 0)
		return DV_CTX_BAD;
	return dv_tls_hello_sni(q->crypto, prefix, out, cap);
}
