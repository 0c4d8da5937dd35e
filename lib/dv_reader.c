/*
 * dv_reader: libpcap file input for --read.
 *
 * libpcap already knows pcap (microsecond and nanosecond) and pcapng; we ask
 * it for nanosecond timestamps so both kinds give the same clock, and map its
 * DLT_* values back to the LINKTYPE_* numbers the parser speaks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

#include "dv_reader.h"
#include "dv_time.h"

#define DV_READER_IOBUF (1u << 20) /* bytes of a capture read at once */

struct dv_reader {
	pcap_t *pcap;
	char *iobuf; /* the file's stdio buffer (DV_READER_IOBUF), or NULL */
	int linktype;
	char path[256];
	struct dv_reader_stats stats;
};

int dv_dlt_to_linktype(int dlt)
{
	switch (dlt) {
	case DLT_NULL:
		return DV_LINK_NULL;
	case DLT_EN10MB:
		return DV_LINK_ETHERNET;
	case DLT_RAW:
		return DV_LINK_RAW;
#ifdef DLT_LOOP
	case DLT_LOOP:
		return DV_LINK_LOOP;
#endif
	case DLT_LINUX_SLL:
		return DV_LINK_SLL;
#ifdef DLT_LINUX_SLL2
	case DLT_LINUX_SLL2:
		return DV_LINK_SLL2;
#endif
	case DLT_IPV4:
		return DV_LINK_IPV4;
	case DLT_IPV6:
		return DV_LINK_IPV6;
	default:
		return -1;
	}
}

/*
 * Open a capture with a large stdio buffer (*iobuf, freed by the caller
 * after pcap_close): libpcap reads records through fread, and with the
 * default 4 KB buffer every 50 small records cost a read() and the copies
 * out of a buffer refilled under them. "-" (standard input) and a file
 * fopen() cannot open go to libpcap as they are, so errors read the same.
 * Only the reading thread uses the stream: stdio's lock, which fread takes
 * and drops twice a record (header, then data), is left out.
 */
static pcap_t *open_capture(const char *path, char **iobuf, char *perr)
{
	FILE *f = NULL;
	pcap_t *p;

	*iobuf = NULL;
	if (strcmp(path, "-") != 0 && (*iobuf = malloc(DV_READER_IOBUF)) != NULL &&
	    (f = fopen(path, "rb")) != NULL && setvbuf(f, *iobuf, _IOFBF, DV_READER_IOBUF) == 0) {
		(void)__fsetlocking(f, FSETLOCKING_BYCALLER);
		p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, perr);
		if (p == NULL) { /* libpcap closed f */
			free(*iobuf);
			*iobuf = NULL;
		}
		return p;
	}
	if (f != NULL)
		fclose(f);
	free(*iobuf);
	*iobuf = NULL;
	return pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, perr);
}

static void close_capture(pcap_t *p, char *iobuf)
{
	pcap_close(p);
	free(iobuf);
}

struct dv_reader *dv_reader_open(const char *path, char *err, size_t errlen)
{
	char perr[PCAP_ERRBUF_SIZE] = "";
	struct dv_reader *r;
	char *iobuf;
	pcap_t *p;
	int dlt, lt;

	p = open_capture(path, &iobuf, perr);
	if (p == NULL) {
		snprintf(err, errlen, "%s: cannot read capture: %s", path, perr);
		return NULL;
	}
	dlt = pcap_datalink(p);
	lt = dv_dlt_to_linktype(dlt);
	if (lt < 0 || !dv_linktype_supported(lt)) {
		const char *name = pcap_datalink_val_to_name(dlt);

		snprintf(err, errlen,
			 "%s: unsupported link type %d (%s); supported: Ethernet, Linux cooked "
			 "(SLL, SLL2), raw IP, BSD loopback (NULL, LOOP)",
			 path, dlt, name ? name : "unknown");
		close_capture(p, iobuf);
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		close_capture(p, iobuf);
		return NULL;
	}
	r->pcap = p;
	r->iobuf = iobuf;
	r->linktype = lt;
	snprintf(r->path, sizeof(r->path), "%s", path);
	return r;
}

/* A tunnelled packet's counters, and its carried frame's length. */
static void reader_tunnel(struct dv_reader *r, struct dv_pkt *pkt, const struct dv_pkt_tun *tun)
{
	r->stats.bad_tunnel += (pkt->tun & DV_PKT_T_BAD) != 0;
	if (!(pkt->tun & DV_PKT_T_TUNNEL))
		return;
	r->stats.tunnelled++;
	pkt->wire_len = dv_pkt_tun_bytes(tun, pkt->wire_len);
}

/* The next IP packet: dv_reader_next_ctx()'s work, with pc a constant
 * where it is inlined (the plain reader never looks for the payload). */
static __attribute__((always_inline)) inline int
reader_next(struct dv_reader *r, const struct dv_decap_cfg *dc, struct dv_parse_ctx *pc,
	    struct dv_pkt *pkt, struct dv_pkt_tun *tun, struct dv_pkt_ctx *ctx, char *err,
	    size_t errlen)
{
	struct pcap_pkthdr *h;
	const u_char *data;
	struct dv_payload pl;

	for (;;) {
		int rc = pcap_next_ex(r->pcap, &h, &data);

		if (rc == PCAP_ERROR_BREAK)
			return 0;
		if (rc != 1) {
			snprintf(err, errlen, "%s: damaged capture after %llu packets: %s", r->path,
				 (unsigned long long)r->stats.packets, pcap_geterr(r->pcap));
			return -EIO;
		}
		uint32_t wire = h->len;

		if (h->len > DV_WIRE_LEN_MAX || h->len < h->caplen) {
			r->stats.bad_length++;
			wire = h->caplen;
		}
		r->stats.packets++;
		r->stats.bytes += wire;
		enum dv_parse_status st =
		    pc == NULL
			? dv_parse_rx(data, h->caplen, r->linktype, dc, pkt, tun)
			: dv_parse_rx_payload(data, h->caplen, r->linktype, dc, pkt, tun, &pl);

		switch (st) {
		case DV_PARSE_TUNNEL:
		case DV_PARSE_OK:
			r->stats.ip_packets++;
			pkt->wire_len = wire;
			if (st == DV_PARSE_TUNNEL) /* the parser says so: no load of pkt->tun */
				reader_tunnel(r, pkt, tun);
			/* pcap times before 1970 are nonsense for a flow log; clamp. */
			pkt->ts_ns = h->ts.tv_sec < 0 ? 0
						      : (uint64_t)h->ts.tv_sec * DV_NS_PER_SEC +
							    (uint64_t)h->ts.tv_usec;
			if (pc != NULL && dv_parse_ctx_read(pc, pkt, data, &pl, ctx))
				pkt->tun |= DV_PKT_T_CTX;
			return 1;
		case DV_PARSE_NON_IP:
			r->stats.non_ip++;
			break;
		case DV_PARSE_TOO_DEEP:
			r->stats.decap_depth++;
			r->stats.malformed++;
			break;
		default:
			r->stats.malformed++;
			break;
		}
	}
}

int dv_reader_next(struct dv_reader *r, const struct dv_decap_cfg *dc, struct dv_pkt *pkt,
		   struct dv_pkt_tun *tun, char *err, size_t errlen)
{
	return reader_next(r, dc, NULL, pkt, tun, NULL, err, errlen);
}

int dv_reader_next_ctx(struct dv_reader *r, const struct dv_decap_cfg *dc, struct dv_parse_ctx *pc,
		       struct dv_pkt *pkt, struct dv_pkt_tun *tun, struct dv_pkt_ctx *ctx,
		       char *err, size_t errlen)
{
	if (pc == NULL)
		return reader_next(r, dc, NULL, pkt, tun, NULL, err, errlen);
	return reader_next(r, dc, pc, pkt, tun, ctx, err, errlen);
}

int dv_reader_first_ts(const char *path, uint64_t *ts_ns)
{
	char perr[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *data;
	pcap_t *p;
	int rc;

	p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, perr);
	if (p == NULL)
		return -EIO;
	rc = pcap_next_ex(p, &h, &data);
	if (rc == 1)
		*ts_ns = h->ts.tv_sec < 0
			     ? 0
			     : (uint64_t)h->ts.tv_sec * DV_NS_PER_SEC + (uint64_t)h->ts.tv_usec;
	pcap_close(p);
	return rc == 1 ? 1 : 0;
}

const struct dv_reader_stats *dv_reader_stats(const struct dv_reader *r)
{
	return &r->stats;
}

int dv_reader_linktype(const struct dv_reader *r)
{
	return r->linktype;
}

void dv_reader_close(struct dv_reader *r)
{
	if (r == NULL)
		return;
	close_capture(r->pcap, r->iobuf);
	free(r);
}
