/*
 * dv_quic: the server name of a QUIC version 1 client Initial packet (RFC
 * 9000 17.2.2, RFC 9001 5), for the server_name column of issue 19. The
 * IETF drafts 23 to 32, which differ from version 1 only by the Initial
 * salt, are read too (their salts, dv_quic.c).
 *
 * The Initial packet's protection depends only on its Destination
 * Connection ID, so a monitor can remove it: the client's keys come from
 * the DCID (HKDF-SHA256 with the version 1 salt, labels "client in",
 * "quic key", "quic iv", "quic hp"), header protection is an AES-128-ECB
 * mask, the payload AES-128-GCM with the unprotected header as AAD. The
 * CRYPTO frames then carry the TLS ClientHello, read with dv_tls's
 * handshake reader (dv_tls_hello_sni()).
 *
 * Costs: one call does five HMAC-SHA256 (the key schedule: 14 SHA-256
 * blocks), one AES block and the GCM decryption of the packet. A struct
 * dv_quic, made once per thread, holds the OpenSSL cipher contexts (made
 * once, rekeyed per packet) and the buffers (about 82 KB). No allocation
 * per call, in devourer or in OpenSSL: SHA-256 is OpenSSL's SHA256_*
 * functions on stack states (an EVP digest or HMAC context allocates at
 * every init in OpenSSL 3.0), and rekeying an EVP AES context does not
 * allocate (test_quic counts OpenSSL's allocations through
 * CRYPTO_set_mem_functions(): 0 per call). No system call, no lock.
 */
#ifndef DV_QUIC_H
#define DV_QUIC_H

#include <stdint.h>

#include "dv_tls.h"

/* Bytes of the CRYPTO stream kept from offset 0 (a ClientHello longer than
 * this gives DV_CTX_MORE unless its SNI comes before). */
#define DV_QUIC_CRYPTO_MAX 16384
/* CRYPTO frames placed per packet (Chrome splits its ClientHello into a
 * few dozen at most); later ones are not placed. */
#define DV_QUIC_CRYPTO_FRAMES 64

struct dv_quic; /* per-thread context: OpenSSL cipher/MAC contexts made once, reused per packet */

/* A context, or NULL on failure (OpenSSL without HMAC/AES-GCM, memory). */
struct dv_quic *dv_quic_create(void);
void dv_quic_destroy(struct dv_quic *q); /* NULL is fine */

/*
 * p: a UDP payload. Finds the first long-header Initial packet of version
 * 1 (or of a draft above) in the datagram (packets may be coalesced, RFC
 * 9000 12.2), removes its protection with the client's keys, places its
 * CRYPTO frames by offset (out of order and split as they may come;
 * PADDING, PING, ACK and CONNECTION_CLOSE frames skipped) and reads the
 * ClientHello from offset 0. DV_CTX_FOUND (the first host_name, as text:
 * dv_tls.h), DV_CTX_NONE (a complete ClientHello without SNI), DV_CTX_MORE
 * (the ClientHello goes on past the CRYPTO bytes this datagram holds from
 * offset 0 and the SNI was not in them: a large ClientHello spans two
 * Initial datagrams), or DV_CTX_BAD (a datagram of less than 1200 bytes,
 * which no client sends with an Initial (RFC 9000 14.1), not an Initial of
 * those versions, lengths past the datagram, the authentication fails, a frame an Initial
 * may not carry, no CRYPTO bytes at offset 0, a malformed ClientHello).
 */
int dv_quic_sni(struct dv_quic *q, const uint8_t *p, uint32_t len, char *out, uint32_t cap);

#endif
