/*
 * dv_reader: libpcap file input for --read.
 *
 * libpcap already knows pcap (microsecond and nanosecond) and pcapng; we ask
 * it for nanosecond timestamps so both kinds give the same clock, and map its
 * DLT_* values back to the LINKTYPE_* numbers the parser speaks.
 *
 * A regular pcap file (not pcapng, not standard input) is also mapped into
 * memory and its records are framed straight from the mapping: libpcap's
 * stdio reads copy every record twice (the kernel's page cache into stdio's
 * buffer, that into libpcap's), which was a third of --read's time on real
 * traffic (docs/benchmarks.md). libpcap still opens the file (header, link
 * type, snap length, the errors it gives), and the first record that is not
 * plainly whole and within the snap length, or the end of the mapping, hands
 * the rest of the file to libpcap at that record (fseek on its stream), so
 * every odd record (cut, longer than the snap length, a file still growing)
 * is read by libpcap's own rules, as before.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <pcap/pcap.h>

#include "dv_reader.h"
#include "dv_time.h"

#define DV_READER_IOBUF (1u << 20)  /* bytes of a capture read at once */
#define DV_READER_DROP	(64u << 20) /* mapped bytes read, then let go of */

/* A pcap file mapped into memory (see the top of this file). */
struct dv_reader_map {
	const uint8_t *base; /* NULL: libpcap reads everything (from pos on) */
	size_t len;
	size_t pos;	/* the next record's offset */
	size_t dropped; /* bytes before this are no longer mapped in */
	uint32_t snap;	/* libpcap's snap length for the file */
	uint8_t swapped;
	uint8_t micro; /* microsecond timestamps (scaled to ns as libpcap does) */
};

struct dv_reader {
	pcap_t *pcap;
	char *iobuf; /* the file's stdio buffer (DV_READER_IOBUF), or NULL */
	struct dv_reader_map map;
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
 */
static pcap_t *open_capture(const char *path, char **iobuf, char *perr)
{
	FILE *f = NULL;
	pcap_t *p;

	*iobuf = NULL;
	if (strcmp(path, "-") != 0 && (*iobuf = malloc(DV_READER_IOBUF)) != NULL &&
	    (f = fopen(path, "rb")) != NULL && setvbuf(f, *iobuf, _IOFBF, DV_READER_IOBUF) == 0) {
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

/* ---- the mapped pcap file ---- */

static uint32_t map_u32(const struct dv_reader_map *m, const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return m->swapped ? __builtin_bswap32(v) : v;
}

/* Map the file libpcap opened if it is a regular pcap file (magic of
 * microseconds or nanoseconds, either byte order, version 2.3 or later);
 * otherwise leave it all to libpcap. Never fails: mapping is only faster. */
static void map_open(struct dv_reader *r)
{
	struct dv_reader_map *m = &r->map;
	FILE *f = pcap_file(r->pcap);
	struct stat st;
	uint32_t magic;
	void *base;

	memset(m, 0, sizeof(*m));
	if (f == NULL || fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 24)
		return;
	base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fileno(f), 0);
	if (base == MAP_FAILED)
		return;
	memcpy(&magic, base, 4);
	m->swapped = magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1;
	m->micro = magic == 0xa1b2c3d4 || magic == 0xd4c3b2a1;
	m->base = base;
	m->len = (size_t)st.st_size;
	if ((!m->micro && magic != 0xa1b23c4d && magic != 0x4d3cb2a1) ||
	    pcap_major_version(r->pcap) != 2 || pcap_minor_version(r->pcap) < 3) {
		munmap(base, m->len);
		memset(m, 0, sizeof(*m));
		return;
	}
	(void)madvise(base, m->len, MADV_SEQUENTIAL);
	m->pos = 24;
	m->snap = (uint32_t)pcap_snapshot(r->pcap);
}

static void map_close(struct dv_reader_map *m)
{
	if (m->base != NULL)
		munmap((void *)m->base, m->len);
	m->base = NULL;
}

/* Let go of the pages of records already read (they would count in the
 * process's resident memory until the end of the file). */
static void map_drop_read(struct dv_reader_map *m)
{
	size_t upto = m->pos & ~(size_t)4095;

	if (upto - m->dropped < DV_READER_DROP)
		return;
	(void)madvise((void *)(m->base + m->dropped), upto - m->dropped, MADV_DONTNEED);
	m->dropped = upto;
}

/* The rest of the file, from the next record on, goes to libpcap. 0, or
 * -EIO with err. */
static int map_hand_over(struct dv_reader *r, char *err, size_t errlen)
{
	size_t pos = r->map.pos;

	map_close(&r->map);
	if (fseeko(pcap_file(r->pcap), (off_t)pos, SEEK_SET) == 0)
		return 0;
	snprintf(err, errlen, "%s: cannot seek to the record at byte %zu: %s", r->path, pos,
		 strerror(errno));
	return -EIO;
}

/* The next record from the mapping, as pcap_next_ex() would give it (the
 * same header fields, timestamps scaled the same way): 1; 0 when libpcap
 * reads on (map_hand_over); -EIO. */
static int map_next(struct dv_reader *r, struct pcap_pkthdr *h, const u_char **data, char *err,
		    size_t errlen)
{
	struct dv_reader_map *m = &r->map;
	const uint8_t *rec = m->base + m->pos;
	uint32_t caplen, frac;

	map_drop_read(m);
	if (m->len - m->pos < 16 || (caplen = map_u32(m, rec + 8)) > m->snap ||
	    caplen > m->len - m->pos - 16)
		return map_hand_over(r, err, errlen);
	frac = map_u32(m, rec + 4);
	/* As libpcap 1.10 reads them: signed fields in the host's byte order,
	 * unsigned ones in the other (its byte swap), microseconds times 1000. */
	if (!m->swapped) {
		h->ts.tv_sec = (int32_t)map_u32(m, rec);
		h->ts.tv_usec = m->micro ? (suseconds_t)(int32_t)frac * 1000 : (int32_t)frac;
	} else {
		h->ts.tv_sec = map_u32(m, rec);
		h->ts.tv_usec = m->micro ? (suseconds_t)frac * 1000 : (suseconds_t)frac;
	}
	h->caplen = caplen;
	h->len = map_u32(m, rec + 12);
	*data = rec + 16;
	m->pos += 16 + (size_t)caplen;
	r->stats.mapped++;
	return 1;
}

/* The next record, from the mapping while there is one, then from libpcap:
 * 1, 0 at the end, -EIO with err. */
static int next_record(struct dv_reader *r, struct pcap_pkthdr *hbuf, struct pcap_pkthdr **h,
		       const u_char **data, char *err, size_t errlen)
{
	int rc;

	if (r->map.base != NULL) {
		rc = map_next(r, hbuf, data, err, errlen);
		*h = hbuf;
		if (rc != 0)
			return rc;
	}
	rc = pcap_next_ex(r->pcap, h, data);
	if (rc == 1)
		return 1;
	if (rc == PCAP_ERROR_BREAK)
		return 0;
	snprintf(err, errlen, "%s: damaged capture after %llu packets: %s", r->path,
		 (unsigned long long)r->stats.packets, pcap_geterr(r->pcap));
	return -EIO;
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
	map_open(r);
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

int dv_reader_next(struct dv_reader *r, const struct dv_decap_cfg *dc, struct dv_pkt *pkt,
		   struct dv_pkt_tun *tun, char *err, size_t errlen)
{
	struct pcap_pkthdr hbuf, *h;
	const u_char *data;

	for (;;) {
		int rc = next_record(r, &hbuf, &h, &data, err, errlen);

		if (rc != 1)
			return rc;
		uint32_t wire = h->len;

		if (h->len > DV_WIRE_LEN_MAX || h->len < h->caplen) {
			r->stats.bad_length++;
			wire = h->caplen;
		}
		r->stats.packets++;
		r->stats.bytes += wire;
		enum dv_parse_status st = dv_parse_rx(data, h->caplen, r->linktype, dc, pkt, tun);

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
	map_close(&r->map);
	close_capture(r->pcap, r->iobuf);
	free(r);
}
