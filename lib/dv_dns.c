/*
 * dv_dns: the first question of a DNS message as presentation text (see
 * dv_dns.h for the limits that keep a hostile message harmless).
 */
#include <string.h>

#include "dv_dns.h"

#define DV_DNS_NAME_WIRE_MAX 255

/* Append one label byte as presentation text; returns the new length. */
static uint32_t put_label_byte(char *t, uint32_t n, uint8_t c)
{
	if (c == '.' || c == '\\') {
		t[n++] = '\\';
		t[n++] = (char)c;
	} else if (c >= 0x20 && c < 0x7f) { /* printable, space too (as tshark) */
		t[n++] = (char)c;
	} else {
		t[n++] = '\\';
		t[n++] = (char)('0' + c / 100);
		t[n++] = (char)('0' + c / 10 % 10);
		t[n++] = (char)('0' + c % 10);
	}
	return n;
}

/*
 * The name at msg[off] into out->qname. Returns 0, or -1 for a name that
 * cannot be read. Every pointer must point before the label that holds it
 * (RFC 1035 4.1.4 compresses to earlier occurrences), and at most
 * DV_DNS_MAX_JUMPS are taken, so the walk ends.
 */
static int read_name(const uint8_t *msg, uint32_t len, uint32_t off, struct dv_dns_info *out)
{
	uint32_t n = 0, wire = 0, jumps = 0;

	for (;;) {
		uint8_t l;

		if (off >= len)
			return -1;
		l = msg[off];
		if ((l & 0xc0) == 0xc0) {
			uint32_t to;

			if (off + 1 >= len || ++jumps > DV_DNS_MAX_JUMPS)
				return -1;
			to = (uint32_t)(l & 0x3f) << 8 | msg[off + 1];
			if (to >= off)
				return -1; /* forward or self: a loop, or not compression */
			off = to;
			continue;
		}
		if (l & 0xc0)
			return -1; /* 01 and 10: extended and reserved label types */
		wire += 1u + l;
		if (wire > DV_DNS_NAME_WIRE_MAX)
			return -1;
		if (l == 0)
			break;
		if (off + 1u + l > len)
			return -1;
		for (uint32_t i = 0; i < l; i++)
			n = put_label_byte(out->qname, n, msg[off + 1 + i]);
		out->qname[n++] = '.';
		off += 1u + l;
	}
	if (n == 0)
		out->qname[n++] = '.'; /* the root */
	else if (n > 1)
		n--; /* no trailing dot, as tools print names */
	out->qname[n] = '\0';
	out->qname_len = (uint16_t)n;
	return 0;
}

int dv_dns_read(const uint8_t *msg, uint32_t len, struct dv_dns_info *out)
{
	if (len < DV_DNS_HDR || (msg[4] == 0 && msg[5] == 0)) /* QDCOUNT 0 */
		return -1;
	out->response = msg[2] >> 7;
	out->rcode = msg[3] & 0x0f;
	return read_name(msg, len, DV_DNS_HDR, out);
}
