/*
 * dv_tls: the server name (SNI, RFC 6066 section 3) of a TLS ClientHello,
 * for the server_name column of issue 19. Also the status codes and the
 * name escaping the other payload readers share (dv_quic.h, dv_http.h).
 *
 * Stateless readers of the bytes they are given, in the style of dv_dns:
 * nothing outside p[0..len) is read, every length is checked against the
 * bytes that hold it, and a name is given whole or not at all. No
 * allocation, no system call.
 *
 * Names are written as text: printable ASCII (0x20 to 0x7e) as it is, '\'
 * as "\\", any other byte as \DDD (three decimal digits), then a NUL.
 * tshark prints printable names the same way (it shows other bytes in
 * other ways; docs/flow-context.md).
 */
#ifndef DV_TLS_H
#define DV_TLS_H

#include <stdint.h>

enum dv_ctx_status {
	DV_CTX_BAD = -1, /* not this protocol, or malformed: the column stays NULL */
	DV_CTX_NONE =
	    0, /* a complete message of this protocol without the field (ClientHello without SNI) */
	DV_CTX_FOUND = 1, /* out holds the name (NUL-terminated, escaped text) */
	DV_CTX_MORE =
	    2, /* the message goes on past len: *need = the bytes of the whole message from p */
};

/* The out size callers use: text of at most 255 characters and a NUL. A
 * name whose text does not fit cap gives DV_CTX_BAD (never a cut name). */
#define DV_CTX_NAME_MAX 256

/* The largest ClientHello dv_tls_sni() waits for: one record's worth of
 * handshake bytes (2^14, RFC 8446 5.1) and a record header. */
#define DV_TLS_NEED_MAX (16384 + 5)

/*
 * p: a TCP payload from the start of a TLS record (content type 22,
 * version 3.x, a handshake message of type 1, ClientHello). A ClientHello
 * may span several records and TCP segments: when len holds only part of
 * it and the SNI was not in that part, DV_CTX_MORE with *need = the bytes
 * from p that hold the whole ClientHello as far as the lengths seen tell
 * (when the message runs into a record not seen yet, the count assumes that
 * record holds the rest: a call with more bytes may ask for more). *need
 * is at most DV_TLS_NEED_MAX; a longer ClientHello gives DV_CTX_BAD. The
 * caller keeps the bytes and calls again with their concatenation. When
 * the SNI extension is complete within len, DV_CTX_FOUND even if the
 * ClientHello goes on. The first host_name of the extension is the name.
 * An SNI extension that is malformed or empty, or a name whose text does
 * not fit cap, gives DV_CTX_BAD. *need is written only with DV_CTX_MORE.
 */
int dv_tls_sni(const uint8_t *p, uint32_t len, char *out, uint32_t cap, uint32_t *need);

/*
 * The same reading of one handshake message without the record layer, as
 * QUIC's CRYPTO frames carry it (RFC 9001 4): h[0..len) are its first len
 * bytes (type 1, a 3-byte length, the body). DV_CTX_MORE when the message
 * is longer than len and the SNI was not in the bytes given.
 */
int dv_tls_hello_sni(const uint8_t *h, uint32_t len, char *out, uint32_t cap);

/*
 * Write n bytes of a name into out as the text above (cap bytes, NUL
 * included). Returns the text's length, or -1 when it does not fit (out
 * then holds no name: an empty string when cap > 0).
 */
int dv_ctx_name_text(const uint8_t *name, uint32_t n, char *out, uint32_t cap);

#endif
