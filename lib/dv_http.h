/*
 * dv_http: the Host header of the first HTTP/1.x request in a TCP payload,
 * for the server_name column of issue 19 (RFC 9112 3 and 5, RFC 9110 7.2).
 *
 * A stateless reader like dv_tls (whose status codes and name text it
 * uses, dv_tls.h): nothing outside p[0..len) is read, the request line and
 * every header line must end within len, and a value is given whole or not
 * at all. No allocation, no system call.
 */
#ifndef DV_HTTP_H
#define DV_HTTP_H

#include <stdint.h>

#include "dv_tls.h"

/* The longest method token taken (the registered ones have at most 17
 * letters): a longer upper-case word is not read as a request. */
#define DV_HTTP_METHOD_MAX 24

/*
 * p: a TCP payload. DV_CTX_FOUND when it starts with an HTTP/1.x request
 * line (a method of 1 to DV_HTTP_METHOD_MAX upper-case letters, SP, a
 * target without control characters (spaces allowed, as tshark reads
 * them), SP, "HTTP/1." and a digit, then CRLF or LF)
 * and a Host header line (the name in any case, then ':') ends within len;
 * the first Host line counts. The value is written without the whitespace
 * (SP, HTAB) around it, port included when given, as text (dv_tls.h:
 * printable ASCII kept, '\' doubled, other bytes \DDD). DV_CTX_NONE when
 * the header block ends (an empty line) without Host, or Host's value is
 * empty. DV_CTX_BAD otherwise: not such a request, the Host line not
 * complete within len, a text that does not fit cap.
 */
int dv_http_host(const uint8_t *p, uint32_t len, char *out, uint32_t cap);

#endif
