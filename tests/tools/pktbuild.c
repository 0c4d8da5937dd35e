/*
 * pktbuild: header writers and the Internet checksum (RFC 1071) for the
 * fixture generators. Plain byte stores, no struct overlays, so the output
 * does not depend on the host's alignment or padding rules.
 */
#include <string.h>

#include "pktbuild.h"

void dv_put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

void dv_put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = (v >> 16) & 0xff;
	p[2] = (v >> 8) & 0xff;
	p[3] = v & 0xff;
}

uint32_t dv_csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *b = data;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)b[i] << 8 | b[i + 1];
	if (len & 1)
		sum += (uint32_t)b[len - 1] << 8;
	return sum;
}

uint16_t dv_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

uint32_t dv_pseudo_sum(int family, const uint8_t *src, const uint8_t *dst, uint8_t proto,
		       uint32_t l4_len)
{
	size_t alen = family == 6 ? 16 : 4;
	uint32_t sum = 0;

	sum = dv_csum_add(sum, src, alen);
	sum = dv_csum_add(sum, dst, alen);
	sum += proto;
	sum += l4_len >> 16;
	sum += l4_len & 0xffff;
	return sum;
}

size_t dv_put_eth(uint8_t *p, const uint8_t dst[6], const uint8_t src[6], const uint16_t *tpids,
		  const uint16_t *tcis, int ntags, uint16_t ethertype)
{
	size_t off = 12;
	int i;

	memcpy(p, dst, 6);
	memcpy(p + 6, src, 6);
	for (i = 0; i < ntags; i++) {
		dv_put16(p + off, tpids[i]);
		dv_put16(p + off + 2, tcis[i]);
		off += 4;
	}
	dv_put16(p + off, ethertype);
	return off + 2;
}

size_t dv_put_ipv4(uint8_t *p, const uint8_t src[4], const uint8_t dst[4], uint8_t proto,
		   uint16_t id, uint16_t frag, uint16_t payload_len, uint8_t ttl)
{
	p[0] = 0x45;
	p[1] = 0;
	dv_put16(p + 2, 20 + payload_len);
	dv_put16(p + 4, id);
	dv_put16(p + 6, frag);
	p[8] = ttl;
	p[9] = proto;
	dv_put16(p + 10, 0);
	memcpy(p + 12, src, 4);
	memcpy(p + 16, dst, 4);
	dv_put16(p + 10, dv_csum_fold(dv_csum_add(0, p, 20)));
	return 20;
}

size_t dv_put_ipv6(uint8_t *p, const uint8_t src[16], const uint8_t dst[16], uint8_t nxt,
		   uint16_t payload_len, uint8_t hlim)
{
	dv_put32(p, 6u << 28);
	dv_put16(p + 4, payload_len);
	p[6] = nxt;
	p[7] = hlim;
	memcpy(p + 8, src, 16);
	memcpy(p + 24, dst, 16);
	return 40;
}
