/*
 * dv_http: the Host header of an HTTP/1.x request (see dv_http.h).
 *
 * One pass over lines: the request line is checked, then each header line
 * is found by its LF (memchr) and only a line that starts with "host:" in
 * any case is read further. Lines folded onto the line before them (obsolete
 * line folding, RFC 9112 5.2) are skipped as part of that line.
 */
#include <string.h>

#include "dv_http.h"

static int is_ws(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* The end of the line at p[off] (the offset of its LF), or -1 when it has
 * none within len. */
static int64_t line_end(const uint8_t *p, uint32_t len, uint32_t off)
{
	const uint8_t *lf = memchr(p + off, '\n', len - off);

	return lf != NULL ? (int64_t)(lf - p) : -1;
}

/*
 * The request line: METHOD SP target SP HTTP/1.d, then (CR) LF. The target
 * is what lies between the method's SP and the SP before the version, as
 * tshark reads it: attacks send spaces in it (RFC 9112 3.2 has none), and
 * those are the requests a monitor wants to name; control characters are
 * refused. Returns the offset after its LF, or 0 when it is not one.
 */
static uint32_t request_line(const uint8_t *p, uint32_t len)
{
	uint32_t i = 0, end, t;
	int64_t lf;

	while (i < len && i <= DV_HTTP_METHOD_MAX && p[i] >= 'A' && p[i] <= 'Z')
		i++;
	if (i == 0 || i > DV_HTTP_METHOD_MAX || i >= len || p[i] != ' ')
		return 0;
	t = i + 1;
	lf = line_end(p, len, t);
	if (lf < 0)
		return 0;
	end = (uint32_t)lf;
	if (end > t && p[end - 1] == '\r')
		end--;
	/* " HTTP/1.d" ends the line, after a target of one byte at least */
	if (end - t < 10 || memcmp(p + end - 9, " HTTP/1.", 8) != 0 || p[end - 1] < '0' ||
	    p[end - 1] > '9')
		return 0;
	for (uint32_t k = t; k < end - 9; k++)
		if (p[k] < ' ' || p[k] == 0x7f)
			return 0;
	return (uint32_t)lf + 1;
}

/* Is the line p[off..end) "Host:" (any case)? */
static int is_host(const uint8_t *p, uint32_t off, uint32_t end)
{
	static const char name[] = "host:";

	if (end - off < sizeof(name) - 1)
		return 0;
	for (uint32_t k = 0; k < sizeof(name) - 1; k++)
		if ((p[off + k] | (k < 4 ? 0x20 : 0)) != (uint8_t)name[k])
			return 0;
	return 1;
}

int dv_http_host(const uint8_t *p, uint32_t len, char *out, uint32_t cap)
{
	uint32_t off = request_line(p, len);

	if (off == 0)
		return DV_CTX_BAD;
	while (off < len) {
		int64_t lf = line_end(p, len, off);
		uint32_t end, v;

		if (lf < 0)
			return DV_CTX_BAD; /* a line cut: Host may be in it */
		end = (uint32_t)lf;
		if (end > off && p[end - 1] == '\r')
			end--;
		if (end == off)
			return DV_CTX_NONE; /* the empty line: the headers end */
		if (is_ws(p[off]) || !is_host(p, off, end)) {
			off = (uint32_t)lf + 1;
			continue;
		}
		for (v = off + 5; v < end && is_ws(p[v]);)
			v++;
		while (end > v && is_ws(p[end - 1]))
			end--;
		if (end == v)
			return DV_CTX_NONE;
		return dv_ctx_name_text(p + v, end - v, out, cap) < 0 ? DV_CTX_BAD : DV_CTX_FOUND;
	}
	return DV_CTX_BAD; /* the bytes end before the header block does */
}
