/*
 * dv_reader: libpcap file input for --read.
 *
 * libpcap already knows pcap (microsecond and nanosecond) and pcapng; we ask
 * it for nanosecond timestamps so both kinds give the same clock, and map its
 * DLT_* values back to the LINKTYPE_* numbers the parser speaks.
 *
 * A regular pcap file (not pcapng, not a pipe) is also framed here: its
 * records are read with pread() into one buffer that is used again and
 * again (struct dv_reader_frames) and handed out from it. Through libpcap
 * every record took two stdio reads and two copies (the page cache into
 * stdio's buffer, that into libpcap's) and libpcap's own calls: 45 % of the
 * reading thread's instructions on real traffic (docs/benchmarks.md). A
 * memory map instead was slower on this kind of VM (first touches and page
 * faults cost more than one copy into a buffer that stays in the cache).
 * libpcap still opens the file (header, link type, snap length, the errors
 * it gives), and the first record that is not plainly whole and within the
 * snap length (cut, longer than the snap length, a file still growing) hands
 * the rest of the file to libpcap at that record (fseek on its stream), so
 * every odd record is read by libpcap's own rules, as before.
 */
#include <errno.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pcap/pcap.h>
#include <rte_branch_prediction.h>

#include "dv_reader.h"
#include "dv_time.h"

#define DV_READER_IOBUF (1u << 20) /* bytes of a capture read at once */
/* The framing buffer: records up to this - 16 (fuzz builds make it small,
 * meson.build). */
#ifndef DV_READER_FRAMES
#define DV_READER_FRAMES (1u << 20)
#endif

/* LINKTYPE_* values whose pseudo-header libpcap rewrites in a file of the
 * other byte order (swap_pseudo_headers): such files stay with libpcap. */
#define LT_LINUX_SLL	     113
#define LT_USB_LINUX	     189
#define LT_USB_LINUX_MMAPPED 220
#define LT_NFLOG	     239

/* A regular pcap file's records, framed here (see the top of this file). */
struct dv_reader_frames {
	uint8_t *buf; /* NULL: libpcap reads everything (from pos on) */
	int fd;
	uint32_t off;  /* the next record in buf */
	uint32_t end;  /* bytes read into buf */
	off_t pos;     /* the file offset of buf[off] */
	uint32_t snap; /* libpcap's snap length for the file */
	uint8_t swapped;
	uint8_t micro; /* microsecond timestamps (scaled to ns as libpcap does) */
	uint8_t eof;   /* pread() found the end: what is left in buf is all */
};

struct dv_reader {
	pcap_t *pcap;
	char *iobuf; /* the file's stdio buffer (DV_READER_IOBUF), or NULL */
	struct dv_reader_frames fr;
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

/* A record's time in ns (libpcap gives ns in tv_usec at nanosecond
 * precision); times before 1970 are nonsense for a flow log: 0. */
static inline uint64_t record_ns(const struct pcap_pkthdr *h)
{
	return h->ts.tv_sec < 0 ? 0
				: (uint64_t)h->ts.tv_sec * DV_NS_PER_SEC + (uint64_t)h->ts.tv_usec;
}

/* ---- a regular pcap file, framed here ---- */

static inline uint32_t fr_u32(const struct dv_reader_frames *fr, const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return fr->swapped ? __builtin_bswap32(v) : v;
}

/* Frame the file libpcap opened here if it is a regular pcap file (magic of
 * microseconds or nanoseconds, either byte order, version 2.3 or later);
 * otherwise leave it all to libpcap. Never fails: framing is only faster. */
static void frames_open(struct dv_reader *r)
{
	struct dv_reader_frames *fr = &r->fr;
	FILE *f = pcap_file(r->pcap);
	uint8_t hdr[4];
	struct stat st;
	uint32_t magic;
	off_t pos;

	memset(fr, 0, sizeof(*fr));
	fr->fd = -1;
	if (f == NULL || fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) ||
	    (pos = ftello(f)) < 24 || pread(fileno(f), hdr, 4, pos - 24) != 4)
		return;
	memcpy(&magic, hdr, 4);
	fr->swapped = magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1;
	fr->micro = magic == 0xa1b2c3d4 || magic == 0xd4c3b2a1;
	if ((!fr->micro && magic != 0xa1b23c4d && magic != 0x4d3cb2a1) ||
	    pcap_major_version(r->pcap) != 2 || pcap_minor_version(r->pcap) < 3 ||
	    (fr->swapped && (r->linktype == LT_LINUX_SLL || r->linktype == LT_USB_LINUX ||
			     r->linktype == LT_USB_LINUX_MMAPPED || r->linktype == LT_NFLOG)))
		return;
	fr->buf = malloc(DV_READER_FRAMES);
	if (fr->buf == NULL)
		return;
	fr->fd = fileno(f);
	fr->pos = pos;
	fr->snap = (uint32_t)pcap_snapshot(r->pcap);
}

static void frames_close(struct dv_reader_frames *fr)
{
	free(fr->buf);
	fr->buf = NULL;
}

/* Move what is left of buf to its start and read on behind it, until buf
 * is full or the file ends. 0, or -1 when pread() failed (libpcap reads on
 * and says why). */
static int frames_fill(struct dv_reader_frames *fr)
{
	uint32_t left = fr->end - fr->off;

	memmove(fr->buf, fr->buf + fr->off, left);
	fr->off = 0;
	fr->end = left;
	while (fr->end < DV_READER_FRAMES) {
		ssize_t n = pread(fr->fd, fr->buf + fr->end, DV_READER_FRAMES - fr->end,
				  fr->pos + (off_t)fr->end);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			fr->eof = 1;
			break;
		}
		fr->end += (uint32_t)n;
	}
	return 0;
}

/* The rest of the file, from the next record on, goes to libpcap. 0, or
 * -EIO with err. */
static int frames_hand_over(struct dv_reader *r, char *err, size_t errlen)
{
	off_t pos = r->fr.pos;

	frames_close(&r->fr);
	if (fseeko(pcap_file(r->pcap), pos, SEEK_SET) == 0)
		return 0;
	snprintf(err, errlen, "%s: cannot seek to the record at byte %lld: %s", r->path,
		 (long long)pos, strerror(errno));
	return -EIO;
}

/* The next record from the buffer, as pcap_next_ex() would give it (the
 * same header fields, timestamps scaled the same way): 1; 0 when libpcap
 * reads on (frames_hand_over); -EIO. */
static int frames_next(struct dv_reader *r, struct pcap_pkthdr *h, const u_char **data, char *err,
		       size_t errlen)
{
	struct dv_reader_frames *fr = &r->fr;
	const uint8_t *rec = fr->buf + fr->off;
	uint32_t caplen, frac;

	if (unlikely(fr->end - fr->off < 16 || fr->end - fr->off - 16 < fr_u32(fr, rec + 8))) {
		if (fr->eof || frames_fill(fr) < 0)
			return frames_hand_over(r, err, errlen);
		rec = fr->buf;
		if (fr->end < 16 || fr->end - 16 < fr_u32(fr, rec + 8))
			return frames_hand_over(r, err, errlen);
	}
	caplen = fr_u32(fr, rec + 8);
	if (unlikely(caplen > fr->snap))
		return frames_hand_over(r, err, errlen);
	frac = fr_u32(fr, rec + 4);
	/* As libpcap 1.10 reads them: signed fields in the host's byte order,
	 * unsigned ones in the other (its byte swap), microseconds times 1000. */
	if (!fr->swapped) {
		h->ts.tv_sec = (int32_t)fr_u32(fr, rec);
		h->ts.tv_usec = fr->micro ? (suseconds_t)(int32_t)frac * 1000 : (int32_t)frac;
	} else {
		h->ts.tv_sec = fr_u32(fr, rec);
		h->ts.tv_usec = fr->micro ? (suseconds_t)frac * 1000 : (suseconds_t)frac;
	}
	h->caplen = caplen;
	h->len = fr_u32(fr, rec + 12);
	*data = rec + 16;
	fr->off += 16 + caplen;
	fr->pos += 16 + (off_t)caplen;
	r->stats.framed++;
	return 1;
}

/* The next record, framed here while the file allows, then from libpcap:
 * 1, 0 at the end, -EIO with err. */
static inline int next_record(struct dv_reader *r, struct pcap_pkthdr *hbuf, struct pcap_pkthdr **h,
			      const u_char **data, char *err, size_t errlen)
{
	int rc;

	if (likely(r->fr.buf != NULL)) {
		rc = frames_next(r, hbuf, data, err, errlen);
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
	frames_open(r);
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
	struct pcap_pkthdr hbuf, *h;
	const u_char *data;
	struct dv_payload pl;

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
			pkt->ts_ns = record_ns(h);
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

int dv_reader_next_frame(struct dv_reader *r, struct dv_reader_frame *fr, char *err, size_t errlen)
{
	struct pcap_pkthdr hbuf, *h;
	const u_char *data;
	int rc = next_record(r, &hbuf, &h, &data, err, errlen);

	if (rc != 1)
		return rc;
	fr->ts_ns = record_ns(h);
	fr->caplen = h->caplen;
	fr->len = h->len;
	fr->data = data;
	return 1;
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
		*ts_ns = record_ns(h);
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
	frames_close(&r->fr);
	close_capture(r->pcap, r->iobuf);
	free(r);
}
