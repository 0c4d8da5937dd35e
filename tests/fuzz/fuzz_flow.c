/*
 * fuzz_flow: sequences of frames through the parser, the fragment cache and
 * the flow table (lib/dv_flow.h, lib/dv_frag.h).
 *
 * Two small tables are made once (capacity 16, so eviction is common; a
 * fragment cache of 8 entries, so overwrites are too): one with exact LRU,
 * one with a coarse LRU (lru_slack_div 4). The first input byte picks one;
 * the rest is a sequence of frames, each
 *     ctl (u8) | link type (u8, fuzz_common.h) | length (u16 le) | frame
 * where ctl's low 7 bits advance packet time by that many 250 ms steps (the
 * timeouts are 10 s idle, 60 s active, 2 s TCP close) and its high bit ends
 * the burst: the packets parsed so far go to dv_flow_table_update_burst(),
 * then the table's clock is advanced and expired. At the end every flow is
 * flushed with DV_END_EOF, which leaves the table empty for the next input;
 * the next input starts 100 s of packet time later, so nothing in the
 * fragment cache carries over.
 *
 * Invariants, the accounting a table keeps: every packet parsed as IP is
 * counted in exactly one exported record (packets and bytes); stats.created
 * is the number of records of segment 0, stats.exported the number of
 * records, stats.evicted the records ended by eviction, frag_first the first
 * fragments fed and frag_hit + frag_miss the later ones; no record is empty,
 * starts after it ends or ends after the table's clock; TCP flags only on
 * TCP; dv_flow_table_verify() holds after every burst and the table is
 * empty after the flush.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <rte_memory.h>

#include "dv_export.h"
#include "dv_flow.h"
#include "dv_parse.h"
#include "fuzz_common.h"

#define NS_PER_MS 1000000ULL
#define STEP_NS	  (250 * NS_PER_MS)
#define MAX_BURST 48 /* more than the table's pipeline depth (24) */
#define OUT_CAP	  256
#define CAPACITY  16
#define FRAG_CAP  8
#define N_TABLES  2

static struct dv_flow_table *tables[N_TABLES];
static struct dv_export_rec out_recs[OUT_CAP];
static struct dv_export_buf out = {.recs = out_recs, .cap = OUT_CAP};
static uint64_t base_ns;
static struct dv_decap_cfg decap; /* the defaults: VNIs and tunnels reach the table */

/* What one input fed and what came out of the table. */
struct tally {
	uint64_t packets, bytes, first_frags, later_frags;
	uint64_t rec_packets, rec_bytes, records, seg0, evicted;
};

#define BASE_NS (1700000000ULL * 1000000000ULL)
#define GAP_NS	(100000 * NS_PER_MS) /* past every timeout and fragment age */

/* (Re)make the tables; their clocks start again at BASE_NS. */
static void make_tables(void)
{
	char err[256] = "";

	for (int i = 0; i < N_TABLES; i++) {
		struct dv_flow_config cfg = {
		    .name = i ? "fuzz_coarse" : "fuzz_exact",
		    .capacity = CAPACITY,
		    .frag_capacity = FRAG_CAP,
		    .idle_timeout_ns = 10000 * NS_PER_MS,
		    .active_timeout_ns = 60000 * NS_PER_MS,
		    .tcp_close_timeout_ns = 2000 * NS_PER_MS,
		    .socket_id = SOCKET_ID_ANY,
		    .worker = 3,
		    .seed = {0x1234, 0x5678},
		    .lru_slack_div = i ? 4 : 0,
		    .tunnels = 1,
		};

		dv_flow_table_free(tables[i]);
		tables[i] = dv_flow_table_create(&cfg, err, sizeof(err));
		dv_fuzz_check(tables[i] != NULL, "table: %s", err);
	}
	base_ns = BASE_NS;
	dv_decap_cfg_default(&decap);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	dv_fuzz_eal_init();
	make_tables();
	return 0;
}

/* Take the records out of the export buffer into the tally, checking each. */
static void drain(struct dv_flow_table *t, struct tally *y)
{
	uint64_t now = dv_flow_table_now(t);

	for (uint32_t i = 0; i < out.n; i++) {
		const struct dv_export_rec *r = &out.recs[i];
		uint64_t pk = r->src_packets + r->dst_packets;

		dv_fuzz_check(pk > 0, "empty record (segment %u, reason %u)", r->segment,
			      r->end_reason);
		dv_fuzz_check(r->first_ns <= r->last_ns && r->last_ns <= now,
			      "record times %llu..%llu, table clock %llu",
			      (unsigned long long)r->first_ns, (unsigned long long)r->last_ns,
			      (unsigned long long)now);
		dv_fuzz_check(r->end_reason < DV_END_MAX, "end reason %u", r->end_reason);
		dv_fuzz_check(r->family == 4 || r->family == 6, "record family %u", r->family);
		dv_fuzz_check(r->status <= DV_STATUS_ESTABLISHED, "status %u", r->status);
		dv_fuzz_check(r->worker == 3, "worker %u", r->worker);
		dv_fuzz_check(((r->flags & DV_EXPORT_F_TCP) != 0) == (r->proto == 6),
			      "TCP flags flag %#x on proto %u", r->flags, r->proto);
		dv_fuzz_check(r->status == DV_STATUS_ESTABLISHED || r->src_packets == 0 ||
				  r->dst_packets == 0,
			      "both sides sent but status init");
		y->rec_packets += pk;
		y->rec_bytes += r->src_bytes + r->dst_bytes;
		y->records++;
		y->seg0 += r->segment == 0;
		y->evicted += r->end_reason == DV_END_EVICTED;
	}
	out.n = 0;
}

static void verify(const struct dv_flow_table *t)
{
	char err[256] = "";
	uint32_t displaced = 0;

	dv_fuzz_check(dv_flow_table_verify(t, &displaced, err, sizeof(err)) == 0, "verify: %s",
		      err);
}

static void run_burst(struct dv_flow_table *t, struct dv_pkt *pkts, const struct dv_pkt_tun *tuns,
		      uint32_t *n, uint64_t now, struct tally *y)
{
	if (*n > 0) {
		dv_flow_table_update_burst(t, pkts, tuns, *n, &out);
		drain(t, y);
		*n = 0;
	}
	dv_flow_table_advance(t, now);
	while (dv_flow_table_expire(t, now, 1 + (uint32_t)(now / STEP_NS % 7), &out) > 0)
		drain(t, y);
	drain(t, y);
	verify(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dv_pkt pkts[MAX_BURST];
	struct dv_pkt_tun tuns[MAX_BURST];
	struct dv_flow_table *t;
	struct dv_flow_stats before;
	const struct dv_flow_stats *after;
	struct tally y = {0};
	uint64_t now = base_ns;
	uint32_t n = 0;
	size_t off = 1;

	if (size < 1)
		return 0;
	t = tables[data[0] % N_TABLES];
	before = *dv_flow_table_stats(t);
	dv_fuzz_check(dv_flow_table_count(t) == 0, "table not empty at the start");

	while (off + 4 <= size) {
		uint8_t ctl = data[off];
		int linktype = dv_fuzz_linktype(data[off + 1]);
		uint32_t len = (uint32_t)(data[off + 2] | data[off + 3] << 8);
		uint8_t *frame;

		off += 4;
		if (len > size - off)
			len = (uint32_t)(size - off);
		frame = malloc(len ? len : 1);
		dv_fuzz_check(frame != NULL, "out of memory");
		memcpy(frame, data + off, len);
		off += len;
		now += (ctl & 0x7f) * STEP_NS;
		if (dv_parse(frame, len, linktype, &decap, &pkts[n], &tuns[n]) == DV_PARSE_OK) {
			pkts[n].wire_len = len + (ctl & 3); /* an FCS or padding cut off */
			pkts[n].ts_ns = now;
			y.packets++;
			y.bytes += pkts[n].wire_len;
			y.first_frags += pkts[n].frag == DV_FRAG_FIRST;
			y.later_frags += pkts[n].frag == DV_FRAG_LATER;
			n++;
		}
		free(frame);
		if ((ctl & 0x80) || n == MAX_BURST)
			run_burst(t, pkts, tuns, &n, now, &y);
	}
	run_burst(t, pkts, tuns, &n, now, &y);
	/* Each flush ends flows: a flow whose current segment is empty (its
	 * packets went out in an earlier segment's row) ends without a row, so
	 * a flush may export nothing, but never leaves the table as it was. */
	while (dv_flow_table_count(t) > 0) {
		uint32_t left = dv_flow_table_count(t);
		uint32_t k = dv_flow_table_flush(t, DV_END_EOF, &out);

		dv_fuzz_check(k > 0 || dv_flow_table_count(t) < left,
			      "flush ended nothing (%u flows left)", left);
		drain(t, &y);
	}
	verify(t);

	after = dv_flow_table_stats(t);
	dv_fuzz_check(y.rec_packets == y.packets, "%llu packets fed, %llu in records",
		      (unsigned long long)y.packets, (unsigned long long)y.rec_packets);
	dv_fuzz_check(y.rec_bytes == y.bytes, "%llu bytes fed, %llu in records",
		      (unsigned long long)y.bytes, (unsigned long long)y.rec_bytes);
	dv_fuzz_check(
	    after->created - before.created == y.seg0, "created %llu, segment-0 records %llu",
	    (unsigned long long)(after->created - before.created), (unsigned long long)y.seg0);
	dv_fuzz_check(after->exported - before.exported == y.records, "exported %llu, records %llu",
		      (unsigned long long)(after->exported - before.exported),
		      (unsigned long long)y.records);
	dv_fuzz_check(after->evicted - before.evicted == y.evicted, "evicted %llu, records %llu",
		      (unsigned long long)(after->evicted - before.evicted),
		      (unsigned long long)y.evicted);
	dv_fuzz_check(after->frag_first - before.frag_first == y.first_frags,
		      "frag_first %llu, first fragments fed %llu",
		      (unsigned long long)(after->frag_first - before.frag_first),
		      (unsigned long long)y.first_frags);
	dv_fuzz_check(after->frag_hit + after->frag_miss - before.frag_hit - before.frag_miss ==
			  y.later_frags,
		      "frag_hit + frag_miss %llu, later fragments fed %llu",
		      (unsigned long long)(after->frag_hit + after->frag_miss - before.frag_hit -
					   before.frag_miss),
		      (unsigned long long)y.later_frags);

	/* The next input starts well past every timeout and fragment age; long
	 * before the clock could wrap, the tables start again. */
	base_ns = now + GAP_NS;
	if (base_ns > (1ULL << 62))
		make_tables();
	return 0;
}
