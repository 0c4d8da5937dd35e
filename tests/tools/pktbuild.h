/*
 * pktbuild: byte-level frame writers shared by the fixture generators.
 *
 * The generators build every frame by hand, header by header, so that the
 * tests' expected values come from bytes we chose and not from the program
 * under test. These helpers only write headers in network order and compute
 * the Internet checksum; they know nothing about flows.
 */
#ifndef DV_PKTBUILD_H
#define DV_PKTBUILD_H

#include <stddef.h>
#include <stdint.h>

#define DV_ETH_IPV4 0x0800
#define DV_ETH_ARP  0x0806
#define DV_ETH_VLAN 0x8100 /* 802.1Q C-tag */
#define DV_ETH_QINQ 0x88a8 /* 802.1ad S-tag */
#define DV_ETH_IPV6 0x86dd

#define DV_TCP_FIN 0x01
#define DV_TCP_SYN 0x02
#define DV_TCP_RST 0x04
#define DV_TCP_PSH 0x08
#define DV_TCP_ACK 0x10

void dv_put16(uint8_t *p, uint16_t v);
void dv_put32(uint8_t *p, uint32_t v);

/* One's-complement sum of len bytes added to sum (not folded). */
uint32_t dv_csum_add(uint32_t sum, const void *data, size_t len);
/* Fold and complement a sum into a checksum field value (host order). */
uint16_t dv_csum_fold(uint32_t sum);

/*
 * Sum of the IPv4 or IPv6 pseudo-header for an upper-layer checksum.
 * family is 4 or 6; addresses are 4 or 16 bytes accordingly.
 */
uint32_t dv_pseudo_sum(int family, const uint8_t *src, const uint8_t *dst, uint8_t proto,
		       uint32_t l4_len);

/*
 * Ethernet header with ntags VLAN tags (tpids[i], tcis[i]; outermost first)
 * followed by ethertype. Returns bytes written (14 + 4 * ntags).
 */
size_t dv_put_eth(uint8_t *p, const uint8_t dst[6], const uint8_t src[6], const uint16_t *tpids,
		  const uint16_t *tcis, int ntags, uint16_t ethertype);

/*
 * IPv4 header without options, header checksum filled. frag is the 16-bit
 * flags + fragment offset field (offset in 8-byte units, 0x2000 = MF).
 * Returns 20.
 */
size_t dv_put_ipv4(uint8_t *p, const uint8_t src[4], const uint8_t dst[4], uint8_t proto,
		   uint16_t id, uint16_t frag, uint16_t payload_len, uint8_t ttl);

/* IPv6 header. Returns 40. */
size_t dv_put_ipv6(uint8_t *p, const uint8_t src[16], const uint8_t dst[16], uint8_t nxt,
		   uint16_t payload_len, uint8_t hlim);

#endif
