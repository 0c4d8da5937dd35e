/*
 * test_quic: lib/dv_quic.c, the SNI of a QUIC v1 client Initial.
 *
 * RFC 9001 Appendix A is the reference (and the drafts' A.1 for their
 * salts): A.1's keys for the DCID
 * 0x8394c8f03e515708 (the derivation is checked against them; this file
 * includes dv_quic.c to reach it), A.2's protected client Initial (1200
 * bytes; its ClientHello names example.com) decrypted and read, cut at
 * every length and with every single bit flipped (never a name then).
 * Other packets are protected here with those keys around frames written
 * by hand (RFC 9000 19): CRYPTO frames out of order and split, a
 * ClientHello cut short, frames an Initial may not carry. Allocations
 * inside OpenSSL per call are counted through CRYPTO_set_mem_functions().
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "guarded.h"
#include "rfc9001.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../lib/dv_quic.c" /* first: it sets OPENSSL_API_COMPAT */

#include <openssl/crypto.h>

/* RFC 9001 A.1: the client's Initial keys for the DCID 0x8394c8f03e515708. */
static const char a1_dcid[] = "8394c8f03e515708";
static const char a1_key[] = "1f369613dd76d5467730efcbe3b1a22d";
static const char a1_iv[] = "fa044b2f42a3fd3b46fb255c";
static const char a1_hp[] = "9f50449e04a0e810283a1e9933adedd2";

/* RFC 9001 A.2: the client Initial as sent (1200 bytes). */
static const char a2_packet[] = "c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11"
				"d242b123dc9bd8bab936b47d92ec356c0bab7df5976d27cd449f63300099f399"
				"1c260ec4c60d17b31f8429157bb35a1282a643a8d2262cad67500cadb8e7378c"
				"8eb7539ec4d4905fed1bee1fc8aafba17c750e2c7ace01e6005f80fcb7df6212"
				"30c83711b39343fa028cea7f7fb5ff89eac2308249a02252155e2347b63d58c5"
				"457afd84d05dfffdb20392844ae812154682e9cf012f9021a6f0be17ddd0c208"
				"4dce25ff9b06cde535d0f920a2db1bf362c23e596d11a4f5a6cf3948838a3aec"
				"4e15daf8500a6ef69ec4e3feb6b1d98e610ac8b7ec3faf6ad760b7bad1db4ba3"
				"485e8a94dc250ae3fdb41ed15fb6a8e5eba0fc3dd60bc8e30c5c4287e53805db"
				"059ae0648db2f64264ed5e39be2e20d82df566da8dd5998ccabdae053060ae6c"
				"7b4378e846d29f37ed7b4ea9ec5d82e7961b7f25a9323851f681d582363aa5f8"
				"9937f5a67258bf63ad6f1a0b1d96dbd4faddfcefc5266ba6611722395c906556"
				"be52afe3f565636ad1b17d508b73d8743eeb524be22b3dcbc2c7468d54119c74"
				"68449a13d8e3b95811a198f3491de3e7fe942b330407abf82a4ed7c1b311663a"
				"c69890f4157015853d91e923037c227a33cdd5ec281ca3f79c44546b9d90ca00"
				"f064c99e3dd97911d39fe9c5d0b23a229a234cb36186c4819e8b9c5927726632"
				"291d6a418211cc2962e20fe47feb3edf330f2c603a9d48c0fcb5699dbfe58964"
				"25c5bac4aee82e57a85aaf4e2513e4f05796b07ba2ee47d80506f8d2c25e50fd"
				"14de71e6c418559302f939b0e1abd576f279c4b2e0feb85c1f28ff18f58891ff"
				"ef132eef2fa09346aee33c28eb130ff28f5b766953334113211996d20011a198"
				"e3fc433f9f2541010ae17c1bf202580f6047472fb36857fe843b19f5984009dd"
				"c324044e847a4f4a0ab34f719595de37252d6235365e9b84392b061085349d73"
				"203a4a13e96f5432ec0fd4a1ee65accdd5e3904df54c1da510b0ff20dcc0c77f"
				"cb2c0e0eb605cb0504db87632cf3d8b4dae6e705769d1de354270123cb11450e"
				"fc60ac47683d7b8d0f811365565fd98c4c8eb936bcab8d069fc33bd801b03ade"
				"a2e1fbc5aa463d08ca19896d2bf59a071b851e6c239052172f296bfb5e724047"
				"90a2181014f3b94a4e97d117b438130368cc39dbb2d198065ae3986547926cd2"
				"162f40a29f0c3c8745c0f50fba3852e566d44575c29d39a03f0cda721984b6f4"
				"40591f355e12d439ff150aab7613499dbd49adabc8676eef023b15b65bfc5ca0"
				"6948109f23f350db82123535eb8a7433bdabcb909271a6ecbcb58b936a88cd4e"
				"8f2e6ff5800175f113253d8fa9ca8885c2f552e657dc603f252e1a8e308f76f0"
				"be79e2fb8f5d5fbbe2e30ecadd220723c8c0aea8078cdfcb3868263ff8f09400"
				"54da48781893a7e49ad5aff4af300cd804a6b6279ab3ff3afb64491c85194aab"
				"760d58a606654f9f4400e8b38591356fbf6425aca26dc85244259ff2b19c41b9"
				"f96f3ca9ec1dde434da7d2d392b905ddf3d1f9af93d1af5950bd493f5aa731b4"
				"056df31bd267b6b90a079831aaf579be0a39013137aac6d404f518cfd4684064"
				"7e78bfe706ca4cf5e9c5453e9f7cfd2b8b4c8d169a44e55c88d4a9a7f9474241"
				"e221af44860018ab0856972e194cd934";

static struct dv_quic *q;

/* dv_quic_sni() of b[0..len) copied to the end of a page that an
 * inaccessible page follows. */
static int sni_cut(const uint8_t *b, uint32_t len, char *out, uint32_t cap)
{
	static struct guarded g; /* kept for the whole run: made once */

	return dv_quic_sni(q, guarded_put(&g, 4, b, len), len, out, cap);
}

/* draft-ietf-quic-tls-29 and -23 A.1: the same DCID's client keys with
 * those drafts' salts (key, iv, hp). */
static const char d29_keys[] = "175257a31eb09dea9366d8bb79ad80ba"
			       "6b26114b9cba2b63a9e8dd4f"
			       "9ddd12c994c0698b89374a9c077a3077";
static const char d23_keys[] = "af7fd7efebd21878ff66811248983694"
			       "8681359410a70bb9c92f0420"
			       "a980b8b4fb7d9fbc13e814c23164253d";

static void test_draft_keys(void **state)
{
	uint8_t dcid[8], want[44];
	struct initial_keys k;

	(void)state;
	unhex(a1_dcid, dcid);
	assert_int_equal(salt_of(0xff00001d), SALT_D29);
	assert_int_equal(salt_of(0xff000020), SALT_D29);
	assert_int_equal(salt_of(0xff000017), SALT_D23);
	assert_int_equal(salt_of(0xff00001c), SALT_D23);
	assert_int_equal(salt_of(0xff000016), -1);
	assert_int_equal(salt_of(0xff000021), -1);
	assert_int_equal(salt_of(0x6b3343cf), -1); /* version 2 */
	assert_true(client_keys(q, SALT_D29, dcid, 8, &k));
	unhex(d29_keys, want);
	assert_memory_equal(k.key, want, 16);
	assert_memory_equal(k.iv, want + 16, 12);
	assert_memory_equal(k.hp, want + 28, 16);
	assert_true(client_keys(q, SALT_D23, dcid, 8, &k));
	unhex(d23_keys, want);
	assert_memory_equal(k.key, want, 16);
	assert_memory_equal(k.iv, want + 16, 12);
	assert_memory_equal(k.hp, want + 28, 16);
}

static void test_a1_keys(void **state)
{
	uint8_t dcid[8], want[16];
	struct initial_keys k;

	(void)state;
	unhex(a1_dcid, dcid);
	assert_true(client_keys(q, SALT_V1, dcid, 8, &k));
	unhex(a1_key, want);
	assert_memory_equal(k.key, want, 16);
	unhex(a1_iv, want);
	assert_memory_equal(k.iv, want, 12);
	unhex(a1_hp, want);
	assert_memory_equal(k.hp, want, 16);
}

static void test_a2_packet(void **state)
{
	uint8_t pkt[1300], c[1300], hello[300];
	uint32_t n = unhex(a2_packet, pkt);
	char out[DV_CTX_NAME_MAX];

	(void)state;
	assert_int_equal(n, 1200);
	assert_int_equal(sni_cut(pkt, n, out, sizeof(out)), DV_CTX_FOUND);
	assert_string_equal(out, "example.com");
	/* the plaintext's CRYPTO data is A.2's ClientHello */
	assert_int_equal(unhex(a2_hello, hello), 241);
	assert_int_equal(crypto_prefix(q), 241);
	assert_memory_equal(q->crypto, hello, 241);
	/* cut anywhere: the packet's length runs past the bytes */
	for (uint32_t cut = 0; cut < n; cut++)
		assert_int_equal(sni_cut(pkt, cut, out, sizeof(out)), DV_CTX_BAD);
	/* trailing bytes after the packet (padding of a datagram) are fine */
	memcpy(c, pkt, n);
	memset(c + n, 0, 50);
	assert_int_equal(sni_cut(c, n + 50, out, sizeof(out)), DV_CTX_FOUND);
	/* every single bit flipped: no name (the key, the mask, the AAD or
	 * the ciphertext change, or the lengths stop fitting) */
	for (uint32_t i = 0; i < n * 8; i++) {
		memcpy(c, pkt, n);
		c[i / 8] ^= (uint8_t)(1u << (i % 8));
		assert_int_equal(sni_cut(c, n, out, sizeof(out)), DV_CTX_BAD);
	}
	/* too small an out: no name */
	assert_int_equal(sni_cut(pkt, n, out, 11), DV_CTX_BAD);
	assert_int_equal(sni_cut(pkt, n, out, 12), DV_CTX_FOUND);
}

/* Append a varint (RFC 9000 16) of 1, 2 or 4 bytes. */
static uint32_t put_varint(uint8_t *b, uint64_t v)
{
	if (v < 64) {
		b[0] = (uint8_t)v;
		return 1;
	}
	if (v < 16384) {
		b[0] = (uint8_t)(0x40 | v >> 8);
		b[1] = (uint8_t)v;
		return 2;
	}
	b[0] = (uint8_t)(0x80 | v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
	return 4;
}

static uint32_t crypto_frame(uint8_t *b, uint64_t off, const uint8_t *d, uint32_t n)
{
	uint32_t o = 0;

	b[o++] = FRAME_CRYPTO;
	o += put_varint(b + o, off);
	o += put_varint(b + o, n);
	memcpy(b + o, d, n);
	return o + n;
}

/*
 * A client Initial around the frames f[0..fn) (padded to 1162 bytes as
 * A.2's), protected as RFC 9001 5 says with A.1's keys (DCID
 * 0x8394c8f03e515708, packet number 2 in 4 bytes, as A.2). Returns its
 * length.
 */
static uint32_t protect_len(uint8_t *pkt, const uint8_t *f, uint32_t fn, uint32_t version, int salt,
			    uint32_t payload)
{
	uint8_t dcid[8], pt[1162], nonce[12], mask[16];
	struct initial_keys k;
	uint32_t h;
	int outl;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();

	assert_true(fn <= payload && payload <= sizeof(pt));
	memset(pt, 0, sizeof(pt));
	memcpy(pt, f, fn);
	unhex(a1_dcid, dcid);
	assert_true(client_keys(q, salt, dcid, 8, &k));
	/* c3: long, fixed, Initial, 4-byte packet number; no SCID, no token */
	h = unhex("c300000001088394c8f03e5157080000", pkt);
	pkt[1] = (uint8_t)(version >> 24);
	pkt[2] = (uint8_t)(version >> 16);
	pkt[3] = (uint8_t)(version >> 8);
	pkt[4] = (uint8_t)version;
	h += put_varint(pkt + h, 4 + payload + 16) == 2 ? 2 : 0;
	memcpy(pkt + h, "\x00\x00\x00\x02", 4);
	memcpy(nonce, k.iv, 12);
	nonce[11] ^= 2;
	assert_int_equal(EVP_EncryptInit_ex(c, EVP_aes_128_gcm(), NULL, k.key, nonce), 1);
	assert_int_equal(EVP_EncryptUpdate(c, NULL, &outl, pkt, (int)h + 4), 1);
	assert_int_equal(EVP_EncryptUpdate(c, pkt + h + 4, &outl, pt, (int)payload), 1);
	assert_int_equal(EVP_EncryptFinal_ex(c, pkt + h + 4 + outl, &outl), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, pkt + h + 4 + payload),
			 1);
	assert_int_equal(EVP_EncryptInit_ex(c, EVP_aes_128_ecb(), NULL, k.hp, NULL), 1);
	assert_int_equal(EVP_EncryptUpdate(c, mask, &outl, pkt + h + 4, 16), 1);
	EVP_CIPHER_CTX_free(c);
	pkt[0] ^= mask[0] & 0x0f;
	for (int i = 0; i < 4; i++)
		pkt[h + i] ^= mask[1 + i];
	return h + 4 + payload + 16;
}

static uint32_t protect_as(uint8_t *pkt, const uint8_t *f, uint32_t fn, uint32_t version, int salt)
{
	return protect_len(pkt, f, fn, version, salt, 1162);
}

static uint32_t protect(uint8_t *pkt, const uint8_t *f, uint32_t fn)
{
	return protect_as(pkt, f, fn, 1, SALT_V1);
}

/* A.2's frames protected by protect(): the same packet as A.2, so that the
 * test's protection is itself checked. */
static void test_protect_is_a2(void **state)
{
	uint8_t a2[1300], pkt[1300], hello[300], f[300];
	uint32_t n = unhex(a2_packet, a2), hn = unhex(a2_hello, hello);

	(void)state;
	assert_int_equal(protect(pkt, f, crypto_frame(f, 0, hello, hn)), n);
	assert_memory_equal(pkt, a2, n);
}

/* The ClientHello in pieces, out of order, between other frames. */
static void test_crypto_frames(void **state)
{
	uint8_t hello[300], f[1200], pkt[1300], nosni[300];
	uint32_t hn = unhex(a2_hello, hello), fn, n;
	char out[DV_CTX_NAME_MAX];

	(void)state;
	/* PING, [100, 241), PADDING, ACK 0x03 with a range and ECN counts,
	 * [0, 40), [40, 100) twice */
	fn = 0;
	f[fn++] = FRAME_PING;
	fn += crypto_frame(f + fn, 100, hello + 100, hn - 100);
	f[fn++] = FRAME_PADDING;
	memcpy(f + fn, "\x03\x05\x01\x01\x00\x01\x00\x00\x00\x00", 10);
	fn += 10;
	fn += crypto_frame(f + fn, 0, hello, 40);
	fn += crypto_frame(f + fn, 40, hello + 40, 60);
	fn += crypto_frame(f + fn, 40, hello + 40, 60);
	n = protect(pkt, f, fn);
	assert_int_equal(sni_cut(pkt, n, out, sizeof(out)), DV_CTX_FOUND);
	assert_string_equal(out, "example.com");
	/* [0, 60) and [100, 241): the SNI ends at 69, in the gap: MORE */
	fn = crypto_frame(f, 100, hello + 100, hn - 100);
	fn += crypto_frame(f + fn, 0, hello, 60);
	n = protect(pkt, f, fn);
	assert_int_equal(sni_cut(pkt, n, out, sizeof(out)), DV_CTX_MORE);
	/* [0, 69): the SNI all there though the message goes on */
	fn = crypto_frame(f, 0, hello, 69);
	n = protect(pkt, f, fn);
	assert_int_equal(sni_cut(pkt, n, out, sizeof(out)), DV_CTX_FOUND);
	/* [0, 68): one byte short */
	fn = crypto_frame(f, 0, hello, 68);
	n = protect(pkt, f, fn);
	assert_int_equal(sni_cut(pkt, n, out, sizeof(out)), DV_CTX_MORE);
	/* nothing at offset 0 (the second datagram of a long ClientHello) */
	fn = crypto_frame(f, 1, hello + 1, hn - 1);
	n = protect(pkt, f, fn);
	assert_int_equal(sni_cut(pkt, n, out, sizeof(out)), DV_CTX_BAD);
	/* the ClientHello without its SNI extension (20 bytes less; the
	 * lengths at 1-3 and 47-48 shrink by 20): NONE */
	memcpy(nosni, hello, 49);
	memcpy(nosni + 49, hello + 69, hn - 69);
	nosni[3] -= 20;
	nosni[48] -= 20;
	fn = crypto_frame(f, 0, nosni, hn - 20);
	n = protect(pkt, f, fn);
	assert_int_equal(sni_cut(pkt, n, out, sizeof(out)), DV_CTX_NONE);
	/* a datagram of 1199 bytes (no client sends one with an Initial),
	 * and the Initial alone in 1200 bytes */
	fn = crypto_frame(f, 0, hello, hn);
	n = protect_len(pkt, f, fn, 1, SALT_V1, 1161);
	assert_int_equal(n, 1199);
	assert_int_equal(sni_cut(pkt, n, out, sizeof(out)), DV_CTX_BAD);
	memset(pkt + n, 0, 1);
	assert_int_equal(sni_cut(pkt, n + 1, out, sizeof(out)), DV_CTX_FOUND);
	/* CONNECTION_CLOSE (0x1c) with a reason, then the hello */
	memcpy(f,
	       "\x1c\x0a\x00\x03"
	       "abc",
	       7);
	fn = 7 + crypto_frame(f + 7, 0, hello, hn);
	n = protect(pkt, f, fn);
	assert_int_equal(sni_cut(pkt, n, out, sizeof(out)), DV_CTX_FOUND);
}

static void test_bad_frames(void **state)
{
	uint8_t hello[300], f[1200], pkt[1300];
	uint32_t hn = unhex(a2_hello, hello), fn, n;
	char out[DV_CTX_NAME_MAX];

	(void)state;
	/* a STREAM frame (0x08) may not be in an Initial */
	fn = crypto_frame(f, 0, hello, hn);
	f[fn++] = 0x08;
	n = protect(pkt, f, fn);
	assert_int_equal(sni_cut(pkt, n, out, sizeof(out)), DV_CTX_BAD);
	/* a CRYPTO frame longer than the payload (1162 bytes) */
	fn = crypto_frame(f, 0, hello, hn);
	f[2] = 0x44;
	f[3] = 0x8b; /* 1163 */
	n = protect(pkt, f, fn);
	assert_int_equal(sni_cut(pkt, n, out, sizeof(out)), DV_CTX_BAD);
	/* an ACK whose range count runs past the payload */
	memcpy(f, "\x02\x05\x01\x80\x00\x10\x00\x00", 8);
	fn = 8;
	n = protect(pkt, f, fn);
	assert_int_equal(sni_cut(pkt, n, out, sizeof(out)), DV_CTX_BAD);
	/* offsets past the buffer are not placed: the hello at 16384 */
	fn = crypto_frame(f, DV_QUIC_CRYPTO_MAX, hello, hn);
	n = protect(pkt, f, fn);
	assert_int_equal(sni_cut(pkt, n, out, sizeof(out)), DV_CTX_BAD);
	/* not QUIC v1: version 2, a short header, a Retry */
	n = protect(pkt, f, crypto_frame(f, 0, hello, hn));
	pkt[4] = 2;
	assert_int_equal(sni_cut(pkt, n, out, sizeof(out)), DV_CTX_BAD);
	assert_int_equal(
	    sni_cut((const uint8_t *)"\x40\x01\x02\x03\x04\x05\x06\x07", 8, out, sizeof(out)),
	    DV_CTX_BAD);
	n = unhex("f0000000010008f067a5502a4262b5746f6b656e", pkt);
	assert_int_equal(sni_cut(pkt, n, out, sizeof(out)), DV_CTX_BAD);
	assert_int_equal(sni_cut(pkt, 0, out, sizeof(out)), DV_CTX_BAD);
}

/* Draft versions are read with their salt, and only with it. */
static void test_drafts(void **state)
{
	uint8_t hello[300], f[300], pkt[1300];
	uint32_t hn = unhex(a2_hello, hello), fn = crypto_frame(f, 0, hello, hn), n;
	char out[DV_CTX_NAME_MAX];

	(void)state;
	n = protect_as(pkt, f, fn, 0xff00001d, SALT_D29);
	assert_int_equal(sni_cut(pkt, n, out, sizeof(out)), DV_CTX_FOUND);
	assert_string_equal(out, "example.com");
	n = protect_as(pkt, f, fn, 0xff00001b, SALT_D23);
	assert_int_equal(sni_cut(pkt, n, out, sizeof(out)), DV_CTX_FOUND);
	/* a draft-29 header over version 1's protection, and the reverse */
	n = protect_as(pkt, f, fn, 0xff00001d, SALT_V1);
	assert_int_equal(sni_cut(pkt, n, out, sizeof(out)), DV_CTX_BAD);
	n = protect_as(pkt, f, fn, 1, SALT_D29);
	assert_int_equal(sni_cut(pkt, n, out, sizeof(out)), DV_CTX_BAD);
	/* version 2 (RFC 9369) and draft-22 are not read */
	n = protect_as(pkt, f, fn, 0x6b3343cf, SALT_V1);
	assert_int_equal(sni_cut(pkt, n, out, sizeof(out)), DV_CTX_BAD);
	n = protect_as(pkt, f, fn, 0xff000016, SALT_D23);
	assert_int_equal(sni_cut(pkt, n, out, sizeof(out)), DV_CTX_BAD);
}

/* Coalesced packets: a Handshake packet before the Initial is skipped. */
static void test_coalesced(void **state)
{
	uint8_t a2[1300], d[1400];
	uint32_t n = unhex(a2_packet, a2), h;
	char out[DV_CTX_NAME_MAX];

	(void)state;
	/* e0: long, fixed, Handshake; DCID 1 byte, SCID 0, length 5 */
	h = unhex("e00000000101aa0005", d);
	memset(d + h, 0x77, 5);
	memcpy(d + h + 5, a2, n);
	assert_int_equal(sni_cut(d, h + 5 + n, out, sizeof(out)), DV_CTX_FOUND);
	assert_string_equal(out, "example.com");
	/* its length past the datagram */
	d[h - 1] = 0x3f;
	assert_int_equal(sni_cut(d, h + 5 + 20, out, sizeof(out)), DV_CTX_BAD);
}

/* Allocations inside OpenSSL: counted while dv_quic_sni() runs. */
static unsigned long n_alloc;

static void *count_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	n_alloc++;
	return malloc(n);
}

static void *count_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	n_alloc++;
	return realloc(p, n);
}

static void count_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	free(p);
}

static void test_allocations(void **state)
{
	uint8_t pkt[1300];
	uint32_t n = unhex(a2_packet, pkt);
	char out[DV_CTX_NAME_MAX];
	unsigned long before;

	(void)state;
	assert_int_equal(sni_cut(pkt, n, out, sizeof(out)), DV_CTX_FOUND);
	before = n_alloc;
	for (int i = 0; i < 100; i++)
		assert_int_equal(sni_cut(pkt, n, out, sizeof(out)), DV_CTX_FOUND);
	printf("OpenSSL allocations per dv_quic_sni() call: %.2f\n", (n_alloc - before) / 100.0);
	/* none (dv_quic.h) */
	assert_int_equal(n_alloc - before, 0);
}

static int setup(void **state)
{
	(void)state;
	q = dv_quic_create();
	return q == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	dv_quic_destroy(q);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_a1_keys),	  cmocka_unit_test(test_draft_keys),
	    cmocka_unit_test(test_drafts),	  cmocka_unit_test(test_a2_packet),
	    cmocka_unit_test(test_protect_is_a2), cmocka_unit_test(test_crypto_frames),
	    cmocka_unit_test(test_bad_frames),	  cmocka_unit_test(test_coalesced),
	    cmocka_unit_test(test_allocations),
	};

	/* before OpenSSL allocates anything */
	if (CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free) != 1)
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
