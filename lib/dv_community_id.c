/*
 * dv_community_id: Community ID v1 of an export record (see the header for
 * the layout that is hashed). OpenSSL does the SHA-1 and the base64.
 */
/* SHA1_Init/Update/Final are deprecated in OpenSSL 3 in favour of EVP,
 * but they are still the library's own SHA-1 (with the CPU's SHA
 * instructions where it has them), without EVP's provider dispatch and the
 * allocation EVP_DigestInit_ex2 makes per digest: 62 against 141 ns a digest
 * here, and the row writer makes one per row (docs/benchmarks.md). */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "dv_community_id.h"
#include "dv_parse.h"

#define DV_IPPROTO_SCTP 132

/* type's counterpart in pairs; *found 0 when it has none. */
static uint8_t counterpart(const uint8_t (*pairs)[2], size_t n, uint8_t type, int *found)
{
	*found = 1;
	for (size_t i = 0; i < n; i++) {
		if (pairs[i][0] == type)
			return pairs[i][1];
		if (pairs[i][1] == type)
			return pairs[i][0];
	}
	*found = 0;
	return 0;
}

/*
 * ICMP messages that have a counterpart: the "ports" of a flow are the
 * type and its counterpart, so request and reply order into one ID (the
 * tables of Zeek's ICMP analyzer, which the spec adopts). 0: none.
 */
static uint8_t icmp4_counterpart(uint8_t type, int *found)
{
	static const uint8_t pairs[][2] = {
	    {8, 0},   /* echo, echo reply */
	    {13, 14}, /* timestamp, timestamp reply */
	    {15, 16}, /* information request, reply */
	    {10, 9},  /* router solicitation, advertisement */
	    {17, 18}, /* address mask request, reply */
	};

	return counterpart(pairs, sizeof(pairs) / sizeof(pairs[0]), type, found);
}

static uint8_t icmp6_counterpart(uint8_t type, int *found)
{
	static const uint8_t pairs[][2] = {
	    {128, 129}, /* echo request, reply */
	    {130, 131}, /* multicast listener query, report */
	    {133, 134}, /* router solicitation, advertisement */
	    {135, 136}, /* neighbor solicitation, advertisement */
	    {139, 140}, /* node information query, reply ("who are you") */
	    {144, 145}, /* home agent address discovery request, reply */
	};

	return counterpart(pairs, sizeof(pairs) / sizeof(pairs[0]), type, found);
}

int dv_community_cfg_init(struct dv_community_cfg *cfg, uint16_t seed, int on, char *err,
			  size_t errlen)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->seed = seed;
	cfg->off = !on;
	(void)err;
	(void)errlen;
	return 0;
}

void dv_community_cfg_free(struct dv_community_cfg *cfg)
{
	(void)cfg;
}

/* SHA-1 of in[0..n) into md (20 bytes); 0 on failure. No state is kept:
 * any thread may call it. */
static int cid_sha1(const uint8_t *in, size_t n, uint8_t *md)
{
	SHA_CTX c;

	return SHA1_Init(&c) && SHA1_Update(&c, in, n) && SHA1_Final(md, &c);
}

/*
 * The flow's "ports" for the hash: *has_ports 0 for a protocol without,
 * *one_way 1 when the endpoints must keep the record's order (an ICMP
 * message without a counterpart: src is the first packet's sender).
 * Returns -1 for an ICMP flow without a known type.
 */
static int cid_ports(const struct dv_export_rec *r, uint16_t port[2], int *has_ports, int *one_way)
{
	int found;

	*has_ports = 1;
	*one_way = 0;
	/* A later fragment has no transport header: hashed without ports, as
	 * tshark does for such a packet (a flow of ports 0 here). */
	if (r->flags & DV_EXPORT_F_NOPORTS) {
		*has_ports = 0;
		return 0;
	}
	switch (r->proto) {
	case DV_IPPROTO_TCP:
	case DV_IPPROTO_UDP:
	case DV_IPPROTO_SCTP:
		port[0] = r->src_port;
		port[1] = r->dst_port;
		return 0;
	case DV_IPPROTO_ICMP:
	case DV_IPPROTO_ICMPV6:
		if (!(r->flags & DV_EXPORT_F_ICMP))
			return -1;
		port[0] = r->icmp_type;
		port[1] = r->proto == DV_IPPROTO_ICMP ? icmp4_counterpart(r->icmp_type, &found)
						      : icmp6_counterpart(r->icmp_type, &found);
		if (!found) {
			port[1] = r->icmp_code;
			*one_way = 1;
		}
		return 0;
	default:
		*has_ports = 0;
		return 0;
	}
}

const char *dv_community_id(const struct dv_export_rec *r, const struct dv_community_cfg *cfg,
			    char buf[DV_COMMUNITY_ID_SIZE])
{
	uint8_t in[2 + 16 + 16 + 2 + 4], md[SHA_DIGEST_LENGTH];
	const uint8_t *a = r->src_addr, *b = r->dst_addr;
	size_t alen = r->family == 4 ? 4 : 16, n = 0;
	uint16_t port[2] = {0, 0};
	int has_ports, one_way, cmp;

	if ((cfg != NULL && cfg->off) || (r->family != 4 && r->family != 6) ||
	    cid_ports(r, port, &has_ports, &one_way) < 0)
		return NULL;
	/* The smaller (address, port) endpoint first, unless one way. */
	cmp = memcmp(a, b, alen);
	if (!one_way && (cmp > 0 || (cmp == 0 && port[0] > port[1]))) {
		const uint8_t *t = a;
		uint16_t p = port[0];

		a = b;
		b = t;
		port[0] = port[1];
		port[1] = p;
	}
	in[n++] = (uint8_t)((cfg ? cfg->seed : 0) >> 8);
	in[n++] = (uint8_t)(cfg ? cfg->seed : 0);
	memcpy(in + n, a, alen);
	n += alen;
	memcpy(in + n, b, alen);
	n += alen;
	in[n++] = r->proto;
	in[n++] = 0; /* padding: the input stays 32-bit aligned */
	if (has_ports) {
		for (int i = 0; i < 2; i++) {
			in[n++] = (uint8_t)(port[i] >> 8);
			in[n++] = (uint8_t)port[i];
		}
	}
	if (!cid_sha1(in, n, md))
		return NULL;
	buf[0] = '1';
	buf[1] = ':';
	EVP_EncodeBlock((unsigned char *)buf + 2, md, 20); /* 28 characters and a NUL */
	return buf;
}
