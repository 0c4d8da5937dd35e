/*
 * dv_reader: reads pcap and pcapng files (libpcap opens them; a regular pcap
 * file's records are framed by dv_reader itself) and parses each frame.
 *
 * In --read mode the control lcore is the reader: it parses every frame here
 * and hands the parsed packets to their worker by the symmetric address hash,
 * so the workers run exactly the flow-table code they run on live ports.
 * Timestamps are read at nanosecond precision whatever the file stores.
 */
#ifndef DV_READER_H
#define DV_READER_H

#include <stddef.h>
#include <stdint.h>

#include "dv_parse.h"
#include "dv_parse_ctx.h"

struct dv_reader;

/*
 * A record's original length is the frame's length on the wire, which the
 * rows count, but a damaged or fuzzed file can claim anything (4 GB for a
 * 48-byte record). One longer than DV_WIRE_LEN_MAX (libpcap's largest snap
 * length: no link devourer reads carries a longer frame) or shorter than the
 * bytes captured is not believed: the record counts as bad_length, and its
 * captured length stands for its wire length. libpcap itself cuts a record
 * captured past the file's snap length to that length.
 */
#define DV_WIRE_LEN_MAX 262144

struct dv_reader_stats {
	uint64_t packets;     /* frames read */
	uint64_t bytes;	      /* their wire length */
	uint64_t ip_packets;  /* parsed as IP */
	uint64_t non_ip;      /* valid frames without IP */
	uint64_t malformed;   /* truncated or invalid headers (decap_depth included) */
	uint64_t decap_depth; /* more encapsulations than --decap-depth */
	uint64_t tunnelled;   /* IP packets read through a tunnel or link shim */
	uint64_t bad_tunnel; /* IP packets whose tunnel header could not be read (the outer flow) */
	uint64_t bad_length; /* original length not believed (see DV_WIRE_LEN_MAX) */
	uint64_t framed;     /* records framed by dv_reader itself, not libpcap (dv_reader.c) */
};

/*
 * Open a capture. Returns NULL and one line in err (naming the file) if it
 * cannot be read or its link type is not supported.
 */
struct dv_reader *dv_reader_open(const char *path, char *err, size_t errlen);

/*
 * Next IP packet into *pkt (wire_len and ts_ns set), decapsulated as dc
 * says (NULL: not at all); a tunnelled one's tunnel side into *tun (see
 * dv_parse()), and its wire_len is the carried frame's where it has one.
 * Frames that are not IP or are malformed are counted and skipped. Returns 1 for a packet, 0 at the
 * end of the file, -EIO if the file is damaged (one line in err; the packets
 * before the damage were returned).
 */
int dv_reader_next(struct dv_reader *r, const struct dv_decap_cfg *dc, struct dv_pkt *pkt,
		   struct dv_pkt_tun *tun, char *err, size_t errlen);

/*
 * dv_reader_next() that also reads the packet's flow context with pc
 * (lib/dv_parse_ctx.h) into *ctx: pkt->tun then has DV_PKT_T_CTX. pc NULL
 * is dv_reader_next().
 */
int dv_reader_next_ctx(struct dv_reader *r, const struct dv_decap_cfg *dc, struct dv_parse_ctx *pc,
		       struct dv_pkt *pkt, struct dv_pkt_tun *tun, struct dv_pkt_ctx *ctx,
		       char *err, size_t errlen);

/* One record as the file has it, before any parsing. */
struct dv_reader_frame {
	uint64_t ts_ns; /* 0 for a time before 1970 */
	uint32_t caplen;
	uint32_t len;	     /* the original length, as the record claims it */
	const uint8_t *data; /* caplen bytes, valid until the next call */
};

/*
 * The next record of the file, whatever it holds (for tests: the records
 * dv_reader frames itself against libpcap's): 1, 0 at the end, -EIO with
 * err. Counts nothing but stats.framed; not to be mixed with
 * dv_reader_next() on one reader.
 */
int dv_reader_next_frame(struct dv_reader *r, struct dv_reader_frame *fr, char *err, size_t errlen);

const struct dv_reader_stats *dv_reader_stats(const struct dv_reader *r);

/* LINKTYPE_* value of the file (enum dv_linktype). */
int dv_reader_linktype(const struct dv_reader *r);

void dv_reader_close(struct dv_reader *r);

/* Time of the first packet of a capture, without reading further.
 * 1 and *ts_ns set, 0 if the file has no packet, negative errno if unreadable. */
int dv_reader_first_ts(const char *path, uint64_t *ts_ns);

/* Map a libpcap DLT_* value to the file's LINKTYPE_* value (or -1). */
int dv_dlt_to_linktype(int dlt);

#endif
