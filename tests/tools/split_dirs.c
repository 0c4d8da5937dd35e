/*
 * split_dirs: splits an Ethernet capture into its two directions.
 *
 *   split_dirs IN.pcap A.pcap B.pcap
 *
 * For every unordered address pair (IPv4 or IPv6 addresses behind any number
 * of VLAN tags; MAC addresses for non-IP frames), the side that sent the
 * first frame of the pair is A: its frames go to A.pcap, the other side's to
 * B.pcap. Replaying A and B on the two ports of a tap then looks like a
 * tapped link. Frames whose headers are too short to read go to A. Output
 * keeps the link type and snap length; timestamps are microseconds.
 */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

/* One address pair: lo < hi (memcmp), and whether lo sent first. */
struct dv_pair {
	uint8_t used;
	uint8_t lo_first;
	uint8_t len; /* address length: 4, 6 or 16 */
	uint8_t lo[16];
	uint8_t hi[16];
};

struct dv_pairs {
	struct dv_pair *slots;
	size_t cap; /* power of two */
	size_t n;
};

static uint64_t dv_hash(const uint8_t *a, const uint8_t *b, size_t len)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ a[i]) * 1099511628211ull;
	for (i = 0; i < len; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h ^ len;
}

static struct dv_pair *dv_pairs_slot(struct dv_pairs *t, const uint8_t *lo, const uint8_t *hi,
				     size_t len)
{
	size_t i = dv_hash(lo, hi, len) & (t->cap - 1);

	for (;;) {
		struct dv_pair *p = &t->slots[i];

		if (!p->used ||
		    (p->len == len && !memcmp(p->lo, lo, len) && !memcmp(p->hi, hi, len)))
			return p;
		i = (i + 1) & (t->cap - 1);
	}
}

static int dv_pairs_grow(struct dv_pairs *t)
{
	struct dv_pairs n = {.cap = t->cap ? t->cap * 2 : 1024};
	size_t i;

	n.slots = calloc(n.cap, sizeof(*n.slots));
	if (!n.slots)
		return -1;
	for (i = 0; i < t->cap; i++) {
		struct dv_pair *o = &t->slots[i];

		if (o->used)
			*dv_pairs_slot(&n, o->lo, o->hi, o->len) = *o;
	}
	n.n = t->n;
	free(t->slots);
	*t = n;
	return 0;
}

/*
 * Sender and receiver addresses of an Ethernet frame. Returns the address
 * length (4, 16, or 6 for MAC addresses), or 0 if the frame is too short.
 */
static size_t dv_frame_addrs(const uint8_t *d, size_t caplen, const uint8_t **src,
			     const uint8_t **dst)
{
	size_t off = 12;
	uint16_t type;

	if (caplen < 14)
		return 0;
	type = (uint16_t)(d[off] << 8 | d[off + 1]);
	while ((type == 0x8100 || type == 0x88a8 || type == 0x9100) && caplen >= off + 6) {
		off += 4;
		type = (uint16_t)(d[off] << 8 | d[off + 1]);
	}
	off += 2;
	if (type == 0x0800 && caplen >= off + 20 && (d[off] >> 4) == 4) {
		*src = d + off + 12;
		*dst = d + off + 16;
		return 4;
	}
	if (type == 0x86dd && caplen >= off + 40 && (d[off] >> 4) == 6) {
		*src = d + off + 8;
		*dst = d + off + 24;
		return 16;
	}
	*src = d + 6;
	*dst = d;
	return 6;
}

int main(int argc, char **argv)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	struct dv_pairs pairs = {0};
	pcap_dumper_t *out[2];
	struct pcap_pkthdr *h;
	const u_char *data;
	unsigned long count[2] = {0, 0};
	pcap_t *in;
	int rc, ret = 0;

	if (argc != 4) {
		fprintf(stderr, "usage: split_dirs IN.pcap A.pcap B.pcap\n");
		return 2;
	}
	in = pcap_open_offline(argv[1], errbuf);
	if (!in) {
		fprintf(stderr, "split_dirs: %s\n", errbuf);
		return 2;
	}
	if (pcap_datalink(in) != DLT_EN10MB) {
		fprintf(stderr, "split_dirs: %s: link type %s, only Ethernet is supported\n",
			argv[1], pcap_datalink_val_to_name(pcap_datalink(in)));
		pcap_close(in);
		return 2;
	}
	out[0] = pcap_dump_open(in, argv[2]);
	out[1] = out[0] ? pcap_dump_open(in, argv[3]) : NULL;
	if (!out[0] || !out[1] || dv_pairs_grow(&pairs)) {
		fprintf(stderr, "split_dirs: %s\n", pcap_geterr(in));
		ret = 1;
		goto done;
	}
	while ((rc = pcap_next_ex(in, &h, &data)) == 1) {
		const uint8_t *src, *dst;
		size_t len = dv_frame_addrs(data, h->caplen, &src, &dst);
		int side = 0;

		if (len) {
			int src_lo = memcmp(src, dst, len) <= 0;
			const uint8_t *lo = src_lo ? src : dst, *hi = src_lo ? dst : src;
			struct dv_pair *p = dv_pairs_slot(&pairs, lo, hi, len);

			if (!p->used) {
				p->used = 1;
				p->len = (uint8_t)len;
				memcpy(p->lo, lo, len);
				memcpy(p->hi, hi, len);
				p->lo_first = (uint8_t)src_lo;
				if (++pairs.n * 2 > pairs.cap && dv_pairs_grow(&pairs)) {
					fprintf(stderr, "split_dirs: out of memory\n");
					ret = 1;
					goto done;
				}
			} else if (memcmp(src, dst, len) != 0) {
				side = p->lo_first != src_lo;
			}
		}
		pcap_dump((u_char *)out[side], h, data);
		count[side]++;
	}
	if (rc == -1) {
		fprintf(stderr, "split_dirs: %s: %s\n", argv[1], pcap_geterr(in));
		ret = 1;
	}
	printf("split_dirs: %lu frames to %s, %lu frames to %s, %zu address pairs\n", count[0],
	       argv[2], count[1], argv[3], pairs.n);
done:
	if (out[0])
		pcap_dump_close(out[0]);
	if (out[1])
		pcap_dump_close(out[1]);
	pcap_close(in);
	free(pairs.slots);
	return ret;
}
