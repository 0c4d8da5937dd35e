/*
 * Unit tests for the flow table (dv_flow), the fragment cache (dv_frag) and
 * the export helpers (dv_export).
 *
 * Packets are built here as struct dv_pkt values, not parsed, so each test
 * states exactly what the table saw; every expected row is worked out from
 * those packets (times, lengths, flags) in the test, never taken from output.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_eal.h>

#include "dv_export.h"
#include "dv_eal.h"
#include "dv_decap.h"
#include "dv_flow.h"
#include "dv_flow_count.h"
#include "dv_frag.h"
#include "dv_parse_ctx.h"

#define SEC 1000000000ULL
#define MS  1000000ULL

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10

#define OUT_CAP 32768

static struct dv_export_rec out_recs[OUT_CAP];
static struct dv_export_buf out;

static void out_reset(uint32_t cap)
{
	out.recs = out_recs;
	out.n = 0;
	out.cap = cap;
	memset(out_recs, 0, sizeof(out_recs));
}

/* Create a table from cfg under a fresh name; fail the test if it cannot. */
static struct dv_flow_table *table_from(struct dv_flow_config *cfg)
{
	static int serial;
	char name[32], err[256] = "";
	struct dv_flow_table *t;

	snprintf(name, sizeof(name), "tflow%d", serial++);
	cfg->name = name;
	t = dv_flow_table_create(cfg, err, sizeof(err));
	if (t == NULL)
		fail_msg("create: %s", err);
	out_reset(OUT_CAP);
	return t;
}

/* 1: tables made by table() take lazy_memory (the --read set-up). */
static int lazy_tables;

static struct dv_flow_table *table(uint32_t cap, uint64_t idle, uint64_t active, uint64_t close)
{
	struct dv_flow_config cfg = {
	    .lazy_memory = (uint8_t)lazy_tables,
	    .capacity = cap,
	    .idle_timeout_ns = idle,
	    .active_timeout_ns = active,
	    .tcp_close_timeout_ns = close,
	    .socket_id = -1,
	    .worker = 3,
	    .seed = {0x1234, 0x5678},
	};

	return table_from(&cfg);
}

static struct dv_pkt pkt(const char *src, uint16_t sport, const char *dst, uint16_t dport,
			 uint8_t proto, uint8_t tcp_flags, uint32_t len, uint64_t ts)
{
	struct dv_pkt p;

	memset(&p, 0, sizeof(p));
	if (strchr(src, ':')) {
		assert_int_equal(inet_pton(AF_INET6, src, p.src), 1);
		assert_int_equal(inet_pton(AF_INET6, dst, p.dst), 1);
		p.family = 6;
	} else {
		assert_int_equal(inet_pton(AF_INET, src, p.src), 1);
		assert_int_equal(inet_pton(AF_INET, dst, p.dst), 1);
		p.family = 4;
	}
	p.sport = sport;
	p.dport = dport;
	p.proto = proto;
	p.tcp_flags = tcp_flags;
	p.wire_len = len;
	p.ts_ns = ts;
	return p;
}

static struct dv_pkt tcp(const char *src, uint16_t sport, const char *dst, uint16_t dport,
			 uint8_t flags, uint32_t len, uint64_t ts)
{
	return pkt(src, sport, dst, dport, 6, flags, len, ts);
}

static struct dv_pkt udp(const char *src, uint16_t sport, const char *dst, uint16_t dport,
			 uint32_t len, uint64_t ts)
{
	return pkt(src, sport, dst, dport, 17, 0, len, ts);
}

static void feed(struct dv_flow_table *t, struct dv_pkt p)
{
	dv_flow_table_update_burst(t, &p, NULL, 1, &out);
}

static void flush_all(struct dv_flow_table *t, enum dv_end_reason why)
{
	while (dv_flow_table_count(t) > 0) {
		uint32_t before = out.n;

		dv_flow_table_flush(t, why, &out);
		if (out.n == before && dv_flow_table_count(t) > 0 && dv_export_buf_room(&out) == 0)
			fail_msg("flush: export buffer full");
	}
}

static void assert_addr(const uint8_t a[16], const char *text)
{
	uint8_t want[16] = {0};

	if (strchr(text, ':'))
		assert_int_equal(inet_pton(AF_INET6, text, want), 1);
	else
		assert_int_equal(inet_pton(AF_INET, text, want), 1);
	assert_memory_equal(a, want, 16);
}

/* The row whose src is (addr, port), or fail. */
static const struct dv_export_rec *row_from(const char *addr, uint16_t port)
{
	uint8_t want[16] = {0};

	inet_pton(strchr(addr, ':') ? AF_INET6 : AF_INET, addr, want);
	for (uint32_t i = 0; i < out.n; i++)
		if (memcmp(out.recs[i].src_addr, want, 16) == 0 && out.recs[i].src_port == port)
			return &out.recs[i];
	fail_msg("no row from %s:%u", addr, port);
	return NULL;
}

static int uuid_is_v4(const uint8_t id[16])
{
	return (id[6] >> 4) == 4 && (id[8] & 0xc0) == 0x80;
}

/* ---- direction, status, key ---- */

static void test_direction_first_packet(void **state)
{
	struct dv_flow_table *t = table(64, 120 * SEC, 1800 * SEC, 10 * SEC);
	const struct dv_export_rec *r;

	(void)state;
	/* The initiator has the higher address, so canonical order is reversed. */
	feed(t, udp("10.0.0.2", 5000, "10.0.0.1", 53, 74, 1 * SEC));
	feed(t, udp("10.0.0.1", 53, "10.0.0.2", 5000, 90, 2 * SEC));
	feed(t, udp("10.0.0.2", 5000, "10.0.0.1", 53, 60, 3 * SEC));
	assert_int_equal(dv_flow_table_count(t), 1);
	flush_all(t, DV_END_EOF);
	assert_int_equal(out.n, 1);
	r = &out.recs[0];
	assert_addr(r->src_addr, "10.0.0.2");
	assert_addr(r->dst_addr, "10.0.0.1");
	assert_int_equal(r->src_port, 5000);
	assert_int_equal(r->dst_port, 53);
	assert_int_equal(r->src_packets, 2);
	assert_int_equal(r->src_bytes, 74 + 60);
	assert_int_equal(r->dst_packets, 1);
	assert_int_equal(r->dst_bytes, 90);
	assert_int_equal(r->first_ns, 1 * SEC);
	assert_int_equal(r->last_ns, 3 * SEC);
	assert_int_equal(r->status, DV_STATUS_ESTABLISHED);
	assert_int_equal(r->end_reason, DV_END_EOF);
	assert_int_equal(r->segment, 0);
	assert_int_equal(r->proto, 17);
	assert_int_equal(r->family, 4);
	assert_int_equal(r->flags, 0);
	assert_int_equal(r->worker, 3);
	assert_true(uuid_is_v4(r->id));
	assert_int_equal(dv_flow_table_now(t), 3 * SEC);
	dv_flow_table_free(t);
}

static void test_direction_synack_first(void **state)
{
	struct dv_flow_table *t = table(64, 120 * SEC, 1800 * SEC, 10 * SEC);
	const struct dv_export_rec *r;

	(void)state;
	/* The capture starts at the server's SYN+ACK: the client is src. */
	feed(t, tcp("10.0.0.1", 80, "10.0.0.9", 40000, TCP_SYN | TCP_ACK, 74, 1 * SEC));
	feed(t, tcp("10.0.0.9", 40000, "10.0.0.1", 80, TCP_ACK, 66, 2 * SEC));
	feed(t, tcp("10.0.0.9", 40000, "10.0.0.1", 80, TCP_ACK | TCP_PSH, 166, 3 * SEC));
	flush_all(t, DV_END_EOF);
	assert_int_equal(out.n, 1);
	r = &out.recs[0];
	assert_addr(r->src_addr, "10.0.0.9");
	assert_int_equal(r->src_port, 40000);
	assert_addr(r->dst_addr, "10.0.0.1");
	assert_int_equal(r->dst_port, 80);
	assert_int_equal(r->src_packets, 2);
	assert_int_equal(r->src_bytes, 66 + 166);
	assert_int_equal(r->dst_packets, 1);
	assert_int_equal(r->dst_bytes, 74);
	assert_int_equal(r->src_tcp_flags, TCP_ACK | TCP_PSH);
	assert_int_equal(r->dst_tcp_flags, TCP_SYN | TCP_ACK);
	assert_int_equal(r->flags, DV_EXPORT_F_TCP);
	dv_flow_table_free(t);
}

static void test_status_init_one_way(void **state)
{
	struct dv_flow_table *t = table(64, 120 * SEC, 1800 * SEC, 10 * SEC);

	(void)state;
	feed(t, pkt("192.168.1.1", 0, "192.168.1.2", 0, 1, 0, 98, 1 * SEC));
	feed(t, pkt("192.168.1.1", 0, "192.168.1.2", 0, 1, 0, 98, 2 * SEC));
	flush_all(t, DV_END_EOF);
	assert_int_equal(out.n, 1);
	assert_int_equal(out.recs[0].status, DV_STATUS_INIT);
	assert_int_equal(out.recs[0].src_packets, 2);
	assert_int_equal(out.recs[0].dst_packets, 0);
	assert_int_equal(out.recs[0].dst_bytes, 0);
	assert_int_equal(out.recs[0].src_port, 0);
	dv_flow_table_free(t);
}

static void test_vlan_and_family_distinct(void **state)
{
	struct dv_flow_table *t = table(64, 120 * SEC, 1800 * SEC, 10 * SEC);
	struct dv_pkt a = udp("10.0.0.1", 1000, "10.0.0.2", 2000, 100, 1 * SEC);
	struct dv_pkt b = a, c = a, d = a, e;
	int tagged10 = 0, tagged20 = 0, untagged = 0;

	(void)state;
	b.vlan = DV_PKT_VLAN_TAGGED | 10;
	c.vlan = DV_PKT_VLAN_TAGGED | 20;
	/* Same ports, opposite direction, VLAN 10: joins b's flow. */
	d = udp("10.0.0.2", 2000, "10.0.0.1", 1000, 50, 2 * SEC);
	d.vlan = DV_PKT_VLAN_TAGGED | 10;
	/* IPv6 0a00:0001:: has the same 16 bytes as IPv4 10.0.0.1. */
	e = udp("a00:1::", 1000, "a00:2::", 2000, 100, 1 * SEC);
	feed(t, a);
	feed(t, b);
	feed(t, c);
	feed(t, d);
	feed(t, e);
	feed(t, udp("10.0.0.1", 1000, "10.0.0.2", 2000, 100, 3 * SEC));
	assert_int_equal(dv_flow_table_count(t), 4);
	flush_all(t, DV_END_EOF);
	assert_int_equal(out.n, 4);
	for (uint32_t i = 0; i < out.n; i++) {
		const struct dv_export_rec *r = &out.recs[i];

		if (r->family == 6) {
			assert_int_equal(r->src_packets, 1);
			continue;
		}
		if (!(r->flags & DV_EXPORT_F_VLAN)) {
			untagged++;
			assert_int_equal(r->src_packets, 2);
			assert_int_equal(r->vlan_id, 0);
		} else if (r->vlan_id == 10) {
			tagged10++;
			assert_int_equal(r->src_packets, 1);
			assert_int_equal(r->dst_packets, 1);
			assert_int_equal(r->dst_bytes, 50);
			assert_int_equal(r->status, DV_STATUS_ESTABLISHED);
		} else if (r->vlan_id == 20) {
			tagged20++;
		}
	}
	assert_int_equal(untagged, 1);
	assert_int_equal(tagged10, 1);
	assert_int_equal(tagged20, 1);
	dv_flow_table_free(t);
}

static void test_per_side_counters_and_flags(void **state)
{
	struct dv_flow_table *t = table(64, 120 * SEC, 1800 * SEC, 10 * SEC);
	const char *c = "2001:db8::10", *s = "2001:db8::1";
	const struct dv_export_rec *r;

	(void)state;
	feed(t, tcp(c, 51000, s, 443, TCP_SYN, 94, 10 * MS));
	feed(t, tcp(s, 443, c, 51000, TCP_SYN | TCP_ACK, 94, 11 * MS));
	feed(t, tcp(c, 51000, s, 443, TCP_ACK, 86, 12 * MS));
	feed(t, tcp(c, 51000, s, 443, TCP_ACK | TCP_PSH, 600, 13 * MS));
	feed(t, tcp(s, 443, c, 51000, TCP_ACK | TCP_PSH, 1500, 14 * MS));
	feed(t, tcp(s, 443, c, 51000, TCP_ACK | TCP_PSH, 1000, 15 * MS));
	flush_all(t, DV_END_SHUTDOWN);
	assert_int_equal(out.n, 1);
	r = &out.recs[0];
	assert_addr(r->src_addr, c);
	assert_addr(r->dst_addr, s);
	assert_int_equal(r->family, 6);
	assert_int_equal(r->src_packets, 3);
	assert_int_equal(r->src_bytes, 94 + 86 + 600);
	assert_int_equal(r->dst_packets, 3);
	assert_int_equal(r->dst_bytes, 94 + 1500 + 1000);
	assert_int_equal(r->src_tcp_flags, TCP_SYN | TCP_ACK | TCP_PSH);
	assert_int_equal(r->dst_tcp_flags, TCP_SYN | TCP_ACK | TCP_PSH);
	assert_int_equal(r->first_ns, 10 * MS);
	assert_int_equal(r->last_ns, 15 * MS);
	assert_int_equal(r->end_reason, DV_END_SHUTDOWN);
	dv_flow_table_free(t);
}

/* ---- end reasons ---- */

static void test_idle_by_expire_and_by_packet(void **state)
{
	struct dv_flow_table *t = table(64, 120 * SEC, 1800 * SEC, 10 * SEC);
	uint8_t first_id[16];

	(void)state;
	feed(t, udp("10.1.0.1", 1, "10.1.0.2", 2, 100, 0));
	feed(t, udp("10.1.0.2", 2, "10.1.0.1", 1, 200, 5 * SEC));
	/* Deadline is last + idle = 125 s. */
	assert_int_equal(dv_flow_table_expire(t, 125 * SEC - 1, 100, &out), 0);
	assert_int_equal(dv_flow_table_expire(t, 125 * SEC, 100, &out), 1);
	assert_int_equal(out.recs[0].end_reason, DV_END_IDLE);
	assert_int_equal(out.recs[0].src_bytes, 100);
	assert_int_equal(out.recs[0].dst_bytes, 200);
	assert_int_equal(dv_flow_table_count(t), 0);
	memcpy(first_id, out.recs[0].id, 16);

	/* Same conversation, now noticed by the next packet, not by expire. */
	out_reset(OUT_CAP);
	feed(t, udp("10.1.0.1", 1, "10.1.0.2", 2, 10, 200 * SEC));
	feed(t, udp("10.1.0.2", 2, "10.1.0.1", 1, 20, 320 * SEC)); /* exactly idle later */
	assert_int_equal(out.n, 1);
	assert_int_equal(out.recs[0].end_reason, DV_END_IDLE);
	assert_int_equal(out.recs[0].src_packets, 1);
	assert_int_equal(out.recs[0].dst_packets, 0);
	assert_int_equal(out.recs[0].last_ns, 200 * SEC);
	assert_memory_not_equal(out.recs[0].id, first_id, 16);
	flush_all(t, DV_END_EOF);
	assert_int_equal(out.n, 2);
	/* The new flow started with the reply, whose sender is now src. */
	assert_addr(out.recs[1].src_addr, "10.1.0.2");
	assert_int_equal(out.recs[1].segment, 0);
	assert_memory_not_equal(out.recs[1].id, out.recs[0].id, 16);
	assert_int_equal(dv_flow_table_stats(t)->created, 3);
	dv_flow_table_free(t);
}

static struct dv_flow_table *coarse_table(uint32_t cap, uint64_t idle)
{
	struct dv_flow_config cfg = {
	    .capacity = cap,
	    .idle_timeout_ns = idle,
	    .active_timeout_ns = 1800 * SEC,
	    .tcp_close_timeout_ns = 10 * SEC,
	    .socket_id = -1,
	    .seed = {1, 2},
	    .lru_slack_div = 16,
	};

	return table_from(&cfg);
}

/*
 * Coarse LRU (lru_slack_div 16, idle 16 s): a flow moves at most once per
 * slot, 2^29 ns (0.537 s, the largest power of two <= 16 s / 16). A touch in
 * the same slot does not move it, so expiry may hold a due flow back behind
 * a head that is not due, by less than one slot, and never exports early.
 * Slots are shifted by a phase per flow; the first assertion below shows
 * that A's two packets fell in one slot of its phase.
 */
static void test_coarse_lru_bounded_lag(void **state)
{
	const uint64_t slot = 1ULL << 29;
	struct dv_flow_table *t = coarse_table(64, 16 * SEC);

	(void)state;
	feed(t, udp("10.9.0.1", 1, "10.9.0.2", 2, 100, 0));	   /* A, slot 0 */
	feed(t, udp("10.9.0.3", 3, "10.9.0.4", 4, 100, 100 * MS)); /* B, slot 0 */
	feed(t, udp("10.9.0.2", 2, "10.9.0.1", 1, 100, 200 * MS)); /* A again, same slot */
	/* B is due at 16.1 s but A (due 16.2 s) is still the head. */
	assert_int_equal(dv_flow_table_expire(t, 16 * SEC + 150 * MS, 100, &out), 0);
	assert_true(16 * SEC + 200 * MS - (16 * SEC + 100 * MS) < slot);
	/* Nothing is early: 1 ns before A's deadline, A stays. */
	assert_int_equal(dv_flow_table_expire(t, 16 * SEC + 200 * MS - 1, 100, &out), 0);
	assert_int_equal(dv_flow_table_expire(t, 16 * SEC + 200 * MS, 100, &out), 2);
	assert_int_equal(out.recs[0].end_reason, DV_END_IDLE);
	assert_int_equal(out.recs[0].last_ns, 200 * MS);
	assert_int_equal(out.recs[1].end_reason, DV_END_IDLE);
	assert_int_equal(out.recs[1].last_ns, 100 * MS); /* the row itself is exact */

	/* A touch in a later slot does move the flow behind the others. */
	out_reset(OUT_CAP);
	feed(t, udp("10.9.0.1", 1, "10.9.0.2", 2, 100, 20 * SEC));	      /* C */
	feed(t, udp("10.9.0.3", 3, "10.9.0.4", 4, 100, 20 * SEC + 10 * MS));  /* D */
	feed(t, udp("10.9.0.2", 2, "10.9.0.1", 1, 100, 20 * SEC + slot + 1)); /* C, next slot */
	assert_int_equal(dv_flow_table_expire(t, 36 * SEC + 10 * MS, 100, &out), 1);
	assert_addr(out.recs[0].src_addr, "10.9.0.3");
	dv_flow_table_free(t);
}

/* 20,000 seeded random UDP packets over 200 address pairs, expiry after each. */
static void random_run(struct dv_flow_table *t)
{
	uint64_t ts = 0, seed = 7;

	for (int i = 0; i < 20000; i++) {
		char a[32], b[32];

		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		ts += (seed >> 33) % (800 * MS);
		snprintf(a, sizeof(a), "10.8.%u.1", (unsigned)((seed >> 20) % 50));
		snprintf(b, sizeof(b), "10.7.0.%u", (unsigned)((seed >> 40) % 4));
		feed(t, (seed >> 62) ? udp(a, 1000, b, 53, 64 + (seed & 63), ts)
				     : udp(b, 53, a, 1000, 64 + (seed & 63), ts));
		dv_flow_table_expire(t, ts, 64, &out);
	}
	flush_all(t, DV_END_EOF);
	for (uint32_t i = 0; i < out.n; i++) /* ids are random by design */
		memset(out.recs[i].id, 0, 16);
}

static int rec_bytes_cmp(const void *x, const void *y)
{
	return memcmp(x, y, sizeof(struct dv_export_rec));
}

/* Coarse LRU changes when rows leave, never what they say: the same random
 * packets give the same rows (ids aside) as an exact table. */
static void test_coarse_rows_equal_exact(void **state)
{
	struct dv_export_rec *exact = calloc(OUT_CAP, sizeof(*exact));
	struct dv_flow_table *t;
	uint32_t n_exact;

	(void)state;
	assert_non_null(exact);
	t = table(4096, 16 * SEC, 1800 * SEC, 10 * SEC);
	random_run(t);
	n_exact = out.n;
	assert_true(n_exact > 200); /* idle splits happened */
	memcpy(exact, out.recs, sizeof(*exact) * n_exact);
	dv_flow_table_free(t);

	t = coarse_table(4096, 16 * SEC);
	random_run(t);
	assert_int_equal(out.n, n_exact);
	for (uint32_t i = 0; i < n_exact; i++)
		out.recs[i].worker = exact[i].worker = 0;
	qsort(exact, n_exact, sizeof(*exact), rec_bytes_cmp);
	qsort(out.recs, n_exact, sizeof(*exact), rec_bytes_cmp);
	assert_memory_equal(exact, out.recs, sizeof(*exact) * n_exact);
	dv_flow_table_free(t);
	free(exact);
}

/* 25 packets one second apart, alternating sides, lengths 100 + i. */
static void active_run(struct dv_flow_table *t, int expire_between)
{
	for (int i = 0; i < 25; i++) {
		uint64_t ts = (uint64_t)i * SEC;

		if (expire_between)
			dv_flow_table_expire(t, ts, 100, &out);
		if (i % 2 == 0)
			feed(t, udp("10.2.0.1", 7, "10.2.0.2", 9, 100 + (uint32_t)i, ts));
		else
			feed(t, udp("10.2.0.2", 9, "10.2.0.1", 7, 100 + (uint32_t)i, ts));
	}
	flush_all(t, DV_END_EOF);
}

static void test_active_segments(void **state)
{
	struct dv_flow_table *t = table(64, 120 * SEC, 10 * SEC, 10 * SEC);
	uint64_t want_src_bytes[3] = {0}, want_dst_bytes[3] = {0};

	(void)state;
	/* Segment k holds packets [10k, 10k + 10) (the one at 10k finds the
	 * deadline first + 10 s reached and opens the next segment). */
	for (int i = 0; i < 25; i++) {
		if (i % 2 == 0)
			want_src_bytes[i / 10] += 100 + (uint64_t)i;
		else
			want_dst_bytes[i / 10] += 100 + (uint64_t)i;
	}
	active_run(t, 0);
	assert_int_equal(out.n, 3);
	for (uint32_t k = 0; k < 3; k++) {
		const struct dv_export_rec *r = &out.recs[k];

		assert_int_equal(r->segment, k);
		assert_int_equal(r->end_reason, k < 2 ? DV_END_ACTIVE : DV_END_EOF);
		assert_int_equal(r->first_ns, 10 * k * SEC);
		assert_int_equal(r->last_ns, (k < 2 ? 10 * k + 9 : 24) * SEC);
		assert_int_equal(r->src_bytes, want_src_bytes[k]);
		assert_int_equal(r->dst_bytes, want_dst_bytes[k]);
		assert_int_equal(r->src_packets + r->dst_packets, k < 2 ? 10 : 5);
		assert_int_equal(r->status, DV_STATUS_ESTABLISHED);
		assert_memory_equal(r->id, out.recs[0].id, 16);
		assert_addr(r->src_addr, "10.2.0.1");
	}
	dv_flow_table_free(t);
}

static void test_rows_do_not_depend_on_expire(void **state)
{
	struct dv_flow_table *a = table(64, 120 * SEC, 10 * SEC, 10 * SEC);
	struct dv_export_rec lazy[8];
	uint32_t n;

	(void)state;
	active_run(a, 0);
	n = out.n;
	assert_int_equal(n, 3);
	memcpy(lazy, out.recs, n * sizeof(lazy[0]));
	dv_flow_table_free(a);

	a = table(64, 120 * SEC, 10 * SEC, 10 * SEC); /* same seed: same ids */
	active_run(a, 1);
	assert_int_equal(out.n, n);
	assert_memory_equal(out.recs, lazy, n * sizeof(lazy[0]));
	dv_flow_table_free(a);
}

static void test_active_then_silence_exports_no_empty_row(void **state)
{
	struct dv_flow_table *t = table(64, 20 * SEC, 10 * SEC, 10 * SEC);

	(void)state;
	feed(t, udp("10.3.0.1", 7, "10.3.0.2", 9, 100, 0));
	feed(t, udp("10.3.0.1", 7, "10.3.0.2", 9, 100, 4 * SEC));
	assert_int_equal(dv_flow_table_expire(t, 10 * SEC, 100, &out), 1);
	assert_int_equal(out.recs[0].end_reason, DV_END_ACTIVE);
	assert_int_equal(out.recs[0].src_packets, 2);
	assert_int_equal(dv_flow_table_count(t), 1);
	/* Idle deadline 4 + 20 = 24 s: the empty segment 1 ends without a row. */
	assert_int_equal(dv_flow_table_expire(t, 24 * SEC, 100, &out), 0);
	assert_int_equal(out.n, 1);
	assert_int_equal(dv_flow_table_count(t), 0);
	assert_int_equal(dv_flow_table_stats(t)->exported, 1);

	/* The same, noticed by a packet at 30 s: active (10 s) then idle (24 s)
	 * both passed, so the packet opens a new flow, not segment 1. */
	out_reset(OUT_CAP);
	feed(t, udp("10.3.0.1", 7, "10.3.0.2", 9, 100, 100 * SEC));
	feed(t, udp("10.3.0.1", 7, "10.3.0.2", 9, 100, 104 * SEC));
	feed(t, udp("10.3.0.2", 9, "10.3.0.1", 7, 100, 130 * SEC));
	assert_int_equal(out.n, 1);
	assert_int_equal(out.recs[0].end_reason, DV_END_ACTIVE);
	flush_all(t, DV_END_EOF);
	assert_int_equal(out.n, 2);
	assert_int_equal(out.recs[1].segment, 0);
	assert_addr(out.recs[1].src_addr, "10.3.0.2");
	assert_memory_not_equal(out.recs[0].id, out.recs[1].id, 16);
	dv_flow_table_free(t);
}

static void handshake(struct dv_flow_table *t, const char *c, uint16_t cp, const char *s,
		      uint16_t sp, uint64_t ts)
{
	feed(t, tcp(c, cp, s, sp, TCP_SYN, 74, ts));
	feed(t, tcp(s, sp, c, cp, TCP_SYN | TCP_ACK, 74, ts + 1 * MS));
	feed(t, tcp(c, cp, s, sp, TCP_ACK, 66, ts + 2 * MS));
}

static void test_tcp_close_by_rst(void **state)
{
	struct dv_flow_table *t = table(64, 120 * SEC, 1800 * SEC, 10 * SEC);

	(void)state;
	handshake(t, "10.4.0.1", 33000, "10.4.0.2", 22, 1 * SEC);
	feed(t, tcp("10.4.0.2", 22, "10.4.0.1", 33000, TCP_RST, 60, 2 * SEC));
	/* Closed at 2 s: tcp_close at 12 s, long before the idle 122 s. */
	assert_int_equal(dv_flow_table_expire(t, 12 * SEC - 1, 100, &out), 0);
	assert_int_equal(dv_flow_table_expire(t, 12 * SEC, 100, &out), 1);
	assert_int_equal(out.recs[0].end_reason, DV_END_TCP_CLOSE);
	assert_int_equal(out.recs[0].src_packets, 2);
	assert_int_equal(out.recs[0].dst_packets, 2);
	assert_int_equal(out.recs[0].dst_tcp_flags, TCP_SYN | TCP_ACK | TCP_RST);
	assert_int_equal(dv_flow_table_count(t), 0);
	dv_flow_table_free(t);
}

static void test_tcp_close_by_fin_both_ways(void **state)
{
	struct dv_flow_table *t = table(64, 120 * SEC, 1800 * SEC, 10 * SEC);

	(void)state;
	handshake(t, "10.5.0.1", 33000, "10.5.0.2", 80, 1 * SEC);
	feed(t, tcp("10.5.0.1", 33000, "10.5.0.2", 80, TCP_FIN | TCP_ACK, 66, 2 * SEC));
	/* One FIN is a half-close: only idle applies. */
	assert_int_equal(dv_flow_table_expire(t, 50 * SEC, 100, &out), 0);
	feed(t, tcp("10.5.0.2", 80, "10.5.0.1", 33000, TCP_FIN | TCP_ACK, 66, 60 * SEC));
	feed(t, tcp("10.5.0.1", 33000, "10.5.0.2", 80, TCP_ACK, 66, 61 * SEC));
	assert_int_equal(dv_flow_table_expire(t, 71 * SEC - 1, 100, &out), 0);
	assert_int_equal(dv_flow_table_expire(t, 71 * SEC, 100, &out), 1);
	assert_int_equal(out.recs[0].end_reason, DV_END_TCP_CLOSE);
	assert_int_equal(out.recs[0].src_packets, 4);
	assert_int_equal(out.recs[0].dst_packets, 2);
	assert_int_equal(out.recs[0].src_tcp_flags, TCP_SYN | TCP_ACK | TCP_FIN);
	assert_int_equal(out.recs[0].last_ns, 61 * SEC);
	dv_flow_table_free(t);
}

static void test_new_syn_on_closed_flow(void **state)
{
	struct dv_flow_table *t = table(64, 120 * SEC, 1800 * SEC, 10 * SEC);

	(void)state;
	handshake(t, "10.6.0.1", 40000, "10.6.0.2", 80, 1 * SEC);
	feed(t, tcp("10.6.0.1", 40000, "10.6.0.2", 80, TCP_RST, 60, 2 * SEC));
	/* A retransmitted ACK on the closed flow is counted in it. */
	feed(t, tcp("10.6.0.2", 80, "10.6.0.1", 40000, TCP_ACK, 60, 2 * SEC + 5 * MS));
	assert_int_equal(out.n, 0);
	/* A SYN 3 s later (before the close timeout) is a new connection. */
	feed(t, tcp("10.6.0.1", 40000, "10.6.0.2", 80, TCP_SYN, 74, 5 * SEC));
	assert_int_equal(out.n, 1);
	assert_int_equal(out.recs[0].end_reason, DV_END_TCP_CLOSE);
	assert_int_equal(out.recs[0].src_packets, 3);
	assert_int_equal(out.recs[0].dst_packets, 2);
	assert_int_equal(dv_flow_table_count(t), 1);
	flush_all(t, DV_END_EOF);
	assert_int_equal(out.n, 2);
	assert_int_equal(out.recs[1].segment, 0);
	assert_int_equal(out.recs[1].src_packets, 1);
	assert_int_equal(out.recs[1].first_ns, 5 * SEC);
	assert_int_equal(out.recs[1].src_tcp_flags, TCP_SYN);
	assert_true(uuid_is_v4(out.recs[1].id));
	assert_memory_not_equal(out.recs[0].id, out.recs[1].id, 16);
	dv_flow_table_free(t);
}

static void test_port_reuse_after_close_timeout(void **state)
{
	struct dv_flow_table *t = table(64, 120 * SEC, 1800 * SEC, 10 * SEC);

	(void)state;
	handshake(t, "10.7.0.1", 40000, "10.7.0.2", 80, 1 * SEC);
	feed(t, tcp("10.7.0.1", 40000, "10.7.0.2", 80, TCP_FIN | TCP_ACK, 66, 2 * SEC));
	feed(t, tcp("10.7.0.2", 80, "10.7.0.1", 40000, TCP_FIN | TCP_ACK, 66, 2 * SEC));
	/* No expire call: the next SYN, after the timeout, ends the old flow. */
	handshake(t, "10.7.0.1", 40000, "10.7.0.2", 80, 30 * SEC);
	assert_int_equal(out.n, 1);
	assert_int_equal(out.recs[0].end_reason, DV_END_TCP_CLOSE);
	assert_int_equal(out.recs[0].last_ns, 2 * SEC);
	flush_all(t, DV_END_EOF);
	assert_int_equal(out.n, 2);
	assert_int_equal(out.recs[1].src_packets, 2);
	assert_int_equal(out.recs[1].dst_packets, 1);
	assert_int_equal(out.recs[1].segment, 0);
	assert_int_equal(out.recs[1].status, DV_STATUS_ESTABLISHED);
	assert_memory_not_equal(out.recs[0].id, out.recs[1].id, 16);
	dv_flow_table_free(t);
}

static void test_eviction_least_recently_seen(void **state)
{
	struct dv_flow_table *t = table(4, 120 * SEC, 1800 * SEC, 10 * SEC);
	char addr[32];

	(void)state;
	for (int i = 1; i <= 4; i++) {
		snprintf(addr, sizeof(addr), "10.8.0.%d", i);
		feed(t, udp(addr, 1000, "10.8.1.1", 53, 100, (uint64_t)i * SEC));
	}
	/* Flow 1 is seen again, so flow 2 is now the least recently seen. */
	feed(t, udp("10.8.1.1", 53, "10.8.0.1", 1000, 100, 5 * SEC));
	assert_int_equal(out.n, 0);
	feed(t, udp("10.8.0.5", 1000, "10.8.1.1", 53, 100, 6 * SEC));
	assert_int_equal(out.n, 1);
	assert_int_equal(out.recs[0].end_reason, DV_END_EVICTED);
	assert_addr(out.recs[0].src_addr, "10.8.0.2");
	assert_int_equal(dv_flow_table_count(t), 4);
	assert_int_equal(dv_flow_table_stats(t)->evicted, 1);
	assert_int_equal(dv_flow_table_stats(t)->table_full, 1);
	/* Then flow 3. */
	feed(t, udp("10.8.0.6", 1000, "10.8.1.1", 53, 100, 7 * SEC));
	assert_int_equal(out.n, 2);
	assert_addr(out.recs[1].src_addr, "10.8.0.3");
	flush_all(t, DV_END_EOF);
	assert_int_equal(out.n, 6);
	assert_int_equal(row_from("10.8.0.1", 1000)->dst_packets, 1);
	assert_int_equal(row_from("10.8.0.6", 1000)->end_reason, DV_END_EOF);
	dv_flow_table_free(t);
}

static void test_eviction_takes_closed_flows_too(void **state)
{
	struct dv_flow_table *t = table(4, 120 * SEC, 1800 * SEC, 10 * SEC);
	char addr[32];

	(void)state;
	/* Flow 1 closes at 1 s; flows 2..4 stay open. The closed flow is the
	 * least recently seen, so it makes room, before its close timeout. */
	feed(t, tcp("10.13.0.1", 1000, "10.13.1.1", 80, TCP_RST, 60, 1 * SEC));
	for (int i = 2; i <= 4; i++) {
		snprintf(addr, sizeof(addr), "10.13.0.%d", i);
		feed(t, udp(addr, 1000, "10.13.1.1", 53, 100, (uint64_t)i * SEC));
	}
	feed(t, udp("10.13.0.5", 1000, "10.13.1.1", 53, 100, 5 * SEC));
	assert_int_equal(out.n, 1);
	assert_addr(out.recs[0].src_addr, "10.13.0.1");
	assert_int_equal(out.recs[0].end_reason, DV_END_EVICTED);

	/* Same again, but the new flow comes after the close timeout: the
	 * flow that leaves says why it would have left anyway. */
	feed(t, tcp("10.13.0.6", 1000, "10.13.1.1", 80, TCP_RST, 60, 6 * SEC));
	assert_int_equal(out.n, 2);
	assert_addr(out.recs[1].src_addr, "10.13.0.2");
	assert_int_equal(out.recs[1].end_reason, DV_END_EVICTED);
	for (int i = 3; i <= 5; i++) {
		snprintf(addr, sizeof(addr), "10.13.0.%d", i);
		feed(t, udp("10.13.1.1", 53, addr, 1000, 100, 7 * SEC));
	}
	feed(t, udp("10.13.0.7", 1000, "10.13.1.1", 53, 100, 16 * SEC));
	assert_int_equal(out.n, 3);
	assert_addr(out.recs[2].src_addr, "10.13.0.6");
	assert_int_equal(out.recs[2].end_reason, DV_END_TCP_CLOSE);
	assert_int_equal(dv_flow_table_stats(t)->evicted, 2);
	assert_int_equal(dv_flow_table_stats(t)->table_full, 3);
	dv_flow_table_free(t);
}

static void test_flush_respects_room(void **state)
{
	struct dv_flow_table *t = table(64, 120 * SEC, 1800 * SEC, 10 * SEC);
	char addr[32];
	uint32_t total = 0, n;

	(void)state;
	for (int i = 1; i <= 5; i++) {
		snprintf(addr, sizeof(addr), "10.9.0.%d", i);
		feed(t, udp(addr, 1000, "10.9.1.1", 53, 100, (uint64_t)i * SEC));
	}
	out_reset(2);
	assert_int_equal(dv_flow_table_flush(t, DV_END_EOF, &out), 2);
	assert_int_equal(dv_flow_table_flush(t, DV_END_EOF, &out), 0); /* full */
	assert_int_equal(dv_flow_table_count(t), 3);
	total = 2;
	while (dv_flow_table_count(t) > 0) {
		out.n = 0;
		n = dv_flow_table_flush(t, DV_END_EOF, &out);
		assert_true(n >= 1 && n <= 2);
		total += n;
	}
	assert_int_equal(total, 5);
	dv_flow_table_free(t);
}

static void test_expire_respects_room_and_budget(void **state)
{
	struct dv_flow_table *t = table(64, 10 * SEC, 1800 * SEC, 10 * SEC);
	char addr[32];

	(void)state;
	for (int i = 1; i <= 5; i++) {
		snprintf(addr, sizeof(addr), "10.10.0.%d", i);
		feed(t, udp(addr, 1000, "10.10.1.1", 53, 100, (uint64_t)i * SEC));
	}
	out_reset(3);
	assert_int_equal(dv_flow_table_expire(t, 100 * SEC, 1, &out), 1);
	assert_int_equal(dv_flow_table_expire(t, 100 * SEC, 100, &out), 2); /* room left: 2 */
	assert_int_equal(dv_flow_table_expire(t, 100 * SEC, 100, &out), 0);
	assert_int_equal(dv_flow_table_count(t), 2);
	/* Oldest first. */
	assert_addr(out.recs[0].src_addr, "10.10.0.1");
	assert_addr(out.recs[2].src_addr, "10.10.0.3");
	out.n = 0;
	assert_int_equal(dv_flow_table_expire(t, 100 * SEC, 100, &out), 2);
	assert_int_equal(dv_flow_table_count(t), 0);
	dv_flow_table_free(t);
}

/* ---- fragments ---- */

static struct dv_pkt frag(const char *src, const char *dst, uint16_t sp, uint16_t dp, uint8_t where,
			  uint32_t id, uint32_t len, uint64_t ts)
{
	struct dv_pkt p = udp(src, sp, dst, dp, len, ts);

	p.frag = where;
	p.frag_id = id;
	return p;
}

static void test_fragment_first_then_later(void **state)
{
	struct dv_flow_table *t = table(64, 120 * SEC, 1800 * SEC, 10 * SEC);
	struct dv_pkt burst[3];

	(void)state;
	burst[0] = frag("10.11.0.1", "10.11.0.2", 5353, 53, DV_FRAG_FIRST, 77, 1514, 1 * SEC);
	burst[1] = frag("10.11.0.1", "10.11.0.2", 0, 0, DV_FRAG_LATER, 77, 1514, 1 * SEC + 1);
	burst[2] = frag("10.11.0.1", "10.11.0.2", 0, 0, DV_FRAG_LATER, 77, 500, 1 * SEC + 2);
	dv_flow_table_update_burst(t, burst, NULL, 3, &out);
	assert_int_equal(burst[2].sport, 5353);
	assert_int_equal(burst[2].dport, 53);
	/* Another datagram id between the same hosts is not matched. */
	feed(t, frag("10.11.0.1", "10.11.0.2", 0, 0, DV_FRAG_LATER, 78, 300, 2 * SEC));
	flush_all(t, DV_END_EOF);
	assert_int_equal(out.n, 2);
	assert_int_equal(row_from("10.11.0.1", 5353)->src_packets, 3);
	assert_int_equal(row_from("10.11.0.1", 5353)->src_bytes, 1514 + 1514 + 500);
	assert_int_equal(row_from("10.11.0.1", 0)->src_bytes, 300);
	assert_int_equal(dv_flow_table_stats(t)->frag_first, 1);
	assert_int_equal(dv_flow_table_stats(t)->frag_hit, 2);
	assert_int_equal(dv_flow_table_stats(t)->frag_miss, 1);
	dv_flow_table_free(t);
}

static void test_fragment_later_then_first(void **state)
{
	struct dv_flow_table *t = table(64, 120 * SEC, 1800 * SEC, 10 * SEC);

	(void)state;
	feed(t, frag("2001:db8::1", "2001:db8::2", 0, 0, DV_FRAG_LATER, 9, 800, 1 * SEC));
	feed(t, frag("2001:db8::1", "2001:db8::2", 4000, 4001, DV_FRAG_FIRST, 9, 1514, 1 * SEC));
	flush_all(t, DV_END_EOF);
	assert_int_equal(out.n, 2);
	assert_int_equal(row_from("2001:db8::1", 0)->src_bytes, 800);
	assert_int_equal(row_from("2001:db8::1", 0)->dst_port, 0);
	assert_int_equal(row_from("2001:db8::1", 4000)->src_bytes, 1514);
	assert_int_equal(dv_flow_table_stats(t)->frag_miss, 1);
	assert_int_equal(dv_flow_table_stats(t)->frag_first, 1);
	assert_int_equal(dv_flow_table_stats(t)->frag_hit, 0);
	dv_flow_table_free(t);
}

static void test_frag_cache_ages_and_overwrites(void **state)
{
	char err[128];
	const struct dv_hash_key key = {{1, 2, 3, 4, 5, 6}};
	struct dv_frag_cache *c = dv_frag_cache_create(4, &key, -1, err, sizeof(err));
	struct dv_pkt first = frag("10.12.0.1", "10.12.0.2", 1, 2, DV_FRAG_FIRST, 1, 0, 0);
	struct dv_pkt later = frag("10.12.0.1", "10.12.0.2", 0, 0, DV_FRAG_LATER, 1, 0, 0);

	(void)state;
	assert_non_null(c);
	assert_int_equal(dv_frag_cache_entries(c), 4);
	dv_frag_remember(c, &first);
	later.ts_ns = DV_FRAG_MAX_AGE_NS;
	assert_int_equal(dv_frag_fill(c, &later), 1);
	assert_int_equal(later.sport, 1);
	later.sport = later.dport = 0;
	later.ts_ns = DV_FRAG_MAX_AGE_NS + 1;
	assert_int_equal(dv_frag_fill(c, &later), 0);
	assert_int_equal(later.sport, 0);
	/* Four ways, one set: a fifth datagram pushes out the oldest (id 1). */
	for (uint32_t id = 1; id <= 5; id++) {
		first.frag_id = id;
		first.ts_ns = id;
		first.sport = (uint16_t)(100 + id);
		dv_frag_remember(c, &first);
	}
	later.ts_ns = 10;
	later.frag_id = 1;
	assert_int_equal(dv_frag_fill(c, &later), 0);
	later.frag_id = 5;
	assert_int_equal(dv_frag_fill(c, &later), 1);
	assert_int_equal(later.sport, 105);
	dv_frag_cache_free(c);
}

/* ---- randomized against a reference model ---- */

#define R_KEYS 50

struct ref_flow {
	struct dv_pkt a_to_b; /* template in the key's own direction */
	int started;
	int a_is_src;		    /* the first packet came from a */
	uint64_t pkts[2], bytes[2]; /* [0]: sent by the initiator */
};

static uint64_t lcg(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return *s >> 33;
}

static void test_random_against_model(void **state)
{
	struct dv_flow_table *t = table(64, 0, 0, 0); /* no timeouts */
	struct ref_flow ref[R_KEYS];
	struct dv_pkt burst[32];
	uint64_t seed = 42, ts = 1 * SEC, total = 0;
	int sent = 0;

	(void)state;
	memset(ref, 0, sizeof(ref));
	for (int k = 0; k < R_KEYS; k++) {
		char a[48], b[48];
		int v6 = k % 5 == 0;

		snprintf(a, sizeof(a), v6 ? "2001:db8::%x" : "172.16.%d.1", k);
		snprintf(b, sizeof(b), v6 ? "2001:db8::1:%x" : "172.16.0.%d", 200 - k);
		/* Keys 0..9 and 10..19 share addresses and ports; they differ in VLAN. */
		ref[k].a_to_b = udp(a, (uint16_t)(1000 + k % 10), b, 53, 0, 0);
		if (k >= 10 && k < 20) {
			ref[k].a_to_b = ref[k - 10].a_to_b;
			ref[k].a_to_b.vlan = (uint16_t)(DV_PKT_VLAN_TAGGED | (100 + k));
		}
		if (k >= 20 && k < 30) {
			/* Keys 20..29 differ from 0..9 only in protocol (TCP
			 * without flags, so they never close). */
			ref[k].a_to_b = ref[k - 20].a_to_b;
			ref[k].a_to_b.proto = 6;
		}
	}
	while (sent < 10000) {
		uint32_t n = 1 + (uint32_t)(lcg(&seed) % 32);

		for (uint32_t i = 0; i < n; i++) {
			int k = (int)(lcg(&seed) % R_KEYS), from_a = (int)(lcg(&seed) & 1);
			struct dv_pkt p = ref[k].a_to_b;
			struct ref_flow *f = &ref[k];

			if (!from_a) {
				memcpy(p.src, f->a_to_b.dst, 16);
				memcpy(p.dst, f->a_to_b.src, 16);
				p.sport = f->a_to_b.dport;
				p.dport = f->a_to_b.sport;
			}
			p.wire_len = 60 + (uint32_t)(lcg(&seed) % 1400);
			ts += lcg(&seed) % (2 * MS);
			p.ts_ns = ts;
			if (!f->started) {
				f->started = 1;
				f->a_is_src = from_a;
			}
			f->pkts[from_a == f->a_is_src ? 0 : 1]++;
			f->bytes[from_a == f->a_is_src ? 0 : 1] += p.wire_len;
			burst[i] = p;
			total += p.wire_len;
		}
		dv_flow_table_update_burst(t, burst, NULL, n, &out);
		sent += (int)n;
	}
	assert_int_equal(out.n, 0);
	flush_all(t, DV_END_EOF);
	assert_int_equal(out.n, R_KEYS);
	for (int k = 0; k < R_KEYS; k++) {
		const struct dv_pkt *tp = &ref[k].a_to_b;
		const uint8_t *src = ref[k].a_is_src ? tp->src : tp->dst;
		uint16_t sport = ref[k].a_is_src ? tp->sport : tp->dport;
		int found = 0;

		for (uint32_t i = 0; i < out.n; i++) {
			const struct dv_export_rec *r = &out.recs[i];

			if (memcmp(r->src_addr, src, 16) || r->src_port != sport ||
			    r->proto != tp->proto ||
			    ((r->flags & DV_EXPORT_F_VLAN) != 0) !=
				((tp->vlan & DV_PKT_VLAN_TAGGED) != 0) ||
			    r->vlan_id != (tp->vlan & 0x0fff))
				continue;
			found++;
			assert_int_equal(r->src_packets, ref[k].pkts[0]);
			assert_int_equal(r->dst_packets, ref[k].pkts[1]);
			assert_int_equal(r->src_bytes, ref[k].bytes[0]);
			assert_int_equal(r->dst_bytes, ref[k].bytes[1]);
		}
		assert_int_equal(found, 1);
	}
	assert_int_equal(dv_flow_table_stats(t)->created, R_KEYS);
	(void)total;
	dv_flow_table_free(t);
}

/*
 * Heavy churn (a table of 32 for 200 keys, short timeouts, TCP flags that
 * close and reopen flows) fed once in bursts and once packet by packet: the
 * rows must be the same, which they only are if positions looked up for a
 * burst are re-checked after earlier packets evicted or ended flows. Every
 * packet must also land in exactly one row.
 */
#define CHURN_PKTS 20000

static struct dv_pkt churn_pkts[CHURN_PKTS];

static uint64_t churn_make(void)
{
	static const uint8_t flag_mix[8] = {TCP_SYN,	       TCP_SYN | TCP_ACK, TCP_ACK, TCP_ACK,
					    TCP_ACK | TCP_PSH, TCP_FIN | TCP_ACK, TCP_RST, 0};
	uint64_t seed = 7, ts = 1 * SEC, bytes = 0;

	for (uint32_t i = 0; i < CHURN_PKTS; i++) {
		uint32_t k = (uint32_t)(lcg(&seed) % 200);
		struct dv_pkt *p = &churn_pkts[i];
		char a[32], c[32];

		snprintf(a, sizeof(a), "10.20.%u.1", k);
		snprintf(c, sizeof(c), "10.21.%u.1", k % 7);
		*p = (k & 1) ? udp(a, 1000, c, 53, 100, 0)
			     : tcp(a, 2000, c, 80, flag_mix[lcg(&seed) % 8], 100, 0);
		if (lcg(&seed) & 1) {
			struct dv_pkt r = *p;

			memcpy(p->src, r.dst, 16);
			memcpy(p->dst, r.src, 16);
			p->sport = r.dport;
			p->dport = r.sport;
		}
		p->wire_len = 60 + (uint32_t)(lcg(&seed) % 100);
		ts += lcg(&seed) % (300 * 1000); /* 0..300 us apart */
		p->ts_ns = ts;
		bytes += p->wire_len;
	}
	return bytes;
}

/* Feed churn_pkts one by one, or in random bursts with expire calls between. */
static uint32_t churn_run(int burst)
{
	struct dv_flow_table *t = table(32, 50 * MS, 200 * MS, 20 * MS);
	uint64_t seed = 99;
	uint32_t done = 0;

	while (done < CHURN_PKTS) {
		uint32_t n = burst ? 1 + (uint32_t)(lcg(&seed) % 32) : 1;

		n = RTE_MIN(n, CHURN_PKTS - done);
		if (burst && (lcg(&seed) % 4) == 0)
			dv_flow_table_expire(t, churn_pkts[done].ts_ns, 1000, &out);
		dv_flow_table_update_burst(t, &churn_pkts[done], NULL, n, &out);
		done += n;
	}
	flush_all(t, DV_END_EOF);
	assert_true(dv_flow_table_stats(t)->evicted > 100);
	dv_flow_table_free(t);
	return out.n;
}

static int rec_cmp(const void *a, const void *b)
{
	const struct dv_export_rec *x = a, *y = b;
	int c = memcmp(x->id, y->id, 16);

	return c ? c : (x->segment > y->segment) - (x->segment < y->segment);
}

static void test_burst_equals_one_by_one(void **state)
{
	struct dv_export_rec *one;
	uint64_t in = churn_make(), sum = 0;
	uint32_t n_a, n_b;

	(void)state;
	n_a = churn_run(0);
	one = malloc(n_a * sizeof(*one));
	assert_non_null(one);
	memcpy(one, out.recs, n_a * sizeof(*one));
	n_b = churn_run(1);
	for (uint32_t i = 0; i < n_b; i++)
		sum += out.recs[i].src_bytes + out.recs[i].dst_bytes;
	assert_int_equal(sum, in);
	assert_int_equal(n_a, n_b);
	/* Same seed, same creation order: same ids. Compare as sets, since
	 * expire calls change the order in which rows come out. */
	qsort(one, n_a, sizeof(*one), rec_cmp);
	qsort(out.recs, n_b, sizeof(*one), rec_cmp);
	assert_memory_equal(one, out.recs, n_a * sizeof(*one));
	free(one);
}

static void test_create_rejects_bad_config(void **state)
{
	char err[256] = "";
	struct dv_flow_config cfg = {.name = "bad0", .capacity = 0, .socket_id = -1};

	(void)state;
	assert_null(dv_flow_table_create(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "capacity"));
	cfg.capacity = (1u << 28) + 1;
	assert_null(dv_flow_table_create(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "capacity"));
	cfg.capacity = 10;
	cfg.name = "";
	assert_null(dv_flow_table_create(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "name"));
}

/*
 * The index under churn at full load: 4500 keys through a table of
 * capacity 3000 (600 buckets of 10 entries, so half of the entries are
 * taken when it is full, and some buckets overflow into the next), with
 * flows ending by RST and by eviction. After every burst the index is
 * checked against the records (dv_flow_table_verify), and the packets and
 * bytes of all rows add up to what was sent.
 */
static void test_index_overflow_under_churn(void **state)
{
	const uint32_t cap = 3000, keys = 4500;
	struct dv_flow_table *t = table(cap, 0, 0, 0);
	struct dv_pkt burst[32];
	uint64_t seed = 5, ts = SEC, sent_pkts = 0, sent_bytes = 0, got_pkts = 0, got_bytes = 0;
	uint32_t displaced = 0, most_displaced = 0;
	char err[256];

	(void)state;
	for (int round = 0; round < 2000; round++) {
		uint32_t n = 1 + (uint32_t)(lcg(&seed) % 32);

		for (uint32_t i = 0; i < n; i++) {
			uint32_t k = (uint32_t)(lcg(&seed) % keys);
			char a[32];

			snprintf(a, sizeof(a), "10.%u.%u.1", k >> 8, k & 255);
			burst[i] = tcp(a, 4000, "192.0.2.1", 443,
				       (lcg(&seed) % 16) == 0 ? 0x04 : 0x10, 100, ts);
			ts += 1000;
			sent_pkts++;
			sent_bytes += burst[i].wire_len;
		}
		dv_flow_table_update_burst(t, burst, NULL, n, &out);
		if (dv_flow_table_verify(t, &displaced, err, sizeof(err)) != 0)
			fail_msg("round %d: %s", round, err);
		most_displaced = RTE_MAX(most_displaced, displaced);
		for (uint32_t i = 0; i < out.n; i++) {
			got_pkts += out.recs[i].src_packets + out.recs[i].dst_packets;
			got_bytes += out.recs[i].src_bytes + out.recs[i].dst_bytes;
		}
		out.n = 0;
	}
	assert_true(dv_flow_table_count(t) > cap * 9 / 10);
	assert_true(dv_flow_table_stats(t)->evicted > 1000);
	print_message("index churn: most flows outside their home bucket %u\n", most_displaced);
	assert_true(most_displaced > 0); /* the overflow path really ran */
	flush_all(t, DV_END_EOF);
	for (uint32_t i = 0; i < out.n; i++) {
		got_pkts += out.recs[i].src_packets + out.recs[i].dst_packets;
		got_bytes += out.recs[i].src_bytes + out.recs[i].dst_bytes;
	}
	assert_int_equal(dv_flow_table_verify(t, &displaced, err, sizeof(err)), 0);
	assert_int_equal(displaced, 0);
	assert_int_equal(got_pkts, sent_pkts);
	assert_int_equal(got_bytes, sent_bytes);
	dv_flow_table_free(t);
}

/* The same churn and model runs on lazily mapped tables (--read): positions
 * come from the never-used ones and the released stack; verify checks both. */
static void test_lazy_tables_churn_and_model(void **state)
{
	lazy_tables = 1;
	test_index_overflow_under_churn(state);
	test_random_against_model(state);
	lazy_tables = 0;
}

/* Bytes of a table's index: a 64-byte bucket per 8 flows of capacity (12
 * entries at 2/3 load, from the layout dv_flow.c describes). */
static uint64_t index_bytes(uint32_t capacity)
{
	return ((uint64_t)capacity + 7) / 8 * 64;
}

/* Bytes of a flow's record, addresses, links and serial (dv_flow.c): all
 * but its tunnel entry and its share of the index. */
#define FLOW_ARRAYS_BYTES (64 + 32 + 16 + 8)

/* Resident memory of this process in bytes (/proc/self/statm). */
static uint64_t resident_bytes(void)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%lu %lu", &size, &resident), 2);
	fclose(f);
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Bytes of this process's mappings that may take transparent huge pages
 * (/proc/self/smaps: THPeligible), or -1 when the system gives none. */
static int64_t thp_eligible_bytes(void)
{
	char line[256], mode[128] = "";
	unsigned long kb = 0;
	int64_t total = 0;
	int eligible;
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");

	if (f == NULL || fgets(mode, sizeof(mode), f) == NULL || strstr(mode, "[never]")) {
		if (f != NULL)
			fclose(f);
		return -1;
	}
	fclose(f);
	f = fopen("/proc/self/smaps", "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "Size: %lu kB", &kb) == 1)
			continue;
		if (sscanf(line, "THPeligible: %d", &eligible) == 1 && eligible)
			total += (int64_t)kb * 1024;
	}
	fclose(f);
	return total;
}

/*
 * A lazy table's records and context slots, handed out from their start,
 * and its index, touched everywhere, take transparent huge pages where the
 * system offers them (one page fault per 2 MB); its tunnel entries, which
 * only tunnelled flows touch, do not.
 */
static void test_lazy_table_huge_pages(void **state)
{
	const uint32_t cap = 1u << 20;
	struct dv_flow_config cfg = {.capacity = cap,
				     .socket_id = -1,
				     .tunnels = 1,
				     .lazy_memory = 1,
				     .ctx_slots = cap / 16};
	int64_t before = thp_eligible_bytes(), after;
	struct dv_flow_table *t;

	(void)state;
	if (before < 0) {
		print_message("transparent huge pages are off here: nothing to check\n");
		return;
	}
	t = table_from(&cfg);
	after = thp_eligible_bytes();
	print_message("lazy 1M-flow table: %.1f MB may take huge pages\n",
		      (double)(after - before) / 1e6);
	/* The records with their addresses, links and serials (120 MB) and the
	 * index at least; not the tunnel entries (48 MB): less than everything. */
	assert_true(after - before >= (int64_t)cap * FLOW_ARRAYS_BYTES + (int64_t)index_bytes(cap));
	assert_true(after - before < (int64_t)cap * (FLOW_ARRAYS_BYTES + 48) +
					 (int64_t)index_bytes(cap) + (int64_t)(cap / 16) * 600);
	dv_flow_table_free(t);
}

/* Flows [from, to): TCP SYNs from 10.x.y.z to 192.0.2.1:443. */
static void add_flows(struct dv_flow_table *t, uint32_t from, uint32_t to)
{
	for (uint32_t i = from; i < to; i++) {
		char a[32];
		struct dv_pkt p;

		snprintf(a, sizeof(a), "10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
		p = tcp(a, 4000, "192.0.2.1", 443, 0x02, 100, SEC);
		if (dv_export_buf_room(&out) == 0) /* a full table exports the flows it evicts */
			out_reset(OUT_CAP);
		dv_flow_table_update_burst(t, &p, NULL, 1, &out);
	}
}

/*
 * A lazy table of 4M flows (about 700 MB with its index and tunnel
 * entries) costs no memory until flows arrive: start-up does not grow with
 * --max-flows. 1000 flows then touch their own records and a 4 KB page of
 * the index each (hashing spreads them over all of it: in huge pages they
 * would touch all 32 MB), not the table.
 */
static void test_lazy_table_touches_only_what_flows_use(void **state)
{
	struct dv_flow_config cfg = {
	    .capacity = 1u << 22, .socket_id = -1, .tunnels = 1, .lazy_memory = 1};
	uint64_t before, created, used;
	struct dv_flow_table *t;

	(void)state;
	before = resident_bytes();
	t = table_from(&cfg);
	created = resident_bytes();
	add_flows(t, 0, 1000);
	used = resident_bytes();
	print_message(
	    "lazy 4M-flow table: %.1f MB resident at creation, %.1f MB after 1000 flows\n",
	    (double)(created - before) / 1e6, (double)(used - before) / 1e6);
	assert_true(created - before < (4u << 20));
	/* 1000 pages of the index, the flows' records, links and serials (the
	 * first huge page of each) and under ASan the shadow of what they
	 * touch (10.1 MB measured; 39.8 when the index took huge pages from the
	 * start, 42.7 under ASan): not the 700 MB of the table, nor the index. */
	assert_true(used - before < (16u << 20));
	assert_int_equal(dv_flow_table_count(t), 1000);
	dv_flow_table_free(t);
}

/*
 * The smallest tables fill their index to 2/3 when full, and then every
 * bucket can have had flows pass it. A packet of a new flow looks for its
 * key first: that walk must end after one round of the index, or the
 * worker spins for ever (a 128-flow table hung so in 1 run of 6 of
 * bench.pcap). 30 tables of 64 flows, each with its own hash key, each
 * taking 5,000 new flows (evicting one each time), then verified.
 */
static void test_small_full_table_lookups(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 30; seed++) {
		struct dv_flow_config cfg = {
		    .capacity = 64, .socket_id = -1, .seed = {seed, seed * 7919}};
		struct dv_flow_table *t = table_from(&cfg);
		char err[256];

		add_flows(t, 0, 5000);
		assert_int_equal(dv_flow_table_count(t), 64);
		assert_int_equal(dv_flow_table_verify(t, NULL, err, sizeof(err)), 0);
		dv_flow_table_free(t);
	}
}

/*
 * Packets of flows first..last - 1 of burst_flows_key(): the flow with
 * number i from 10.0.0.0 + i (past 10.255.255.255 it goes on into 11/8)
 * to 192.0.2.1, TCP 4000 -> 443, in bursts of up to 128.
 */
static void burst_flows(struct dv_flow_table *t, uint32_t first, uint32_t last, uint8_t flags)
{
	struct dv_pkt p[128];

	for (uint32_t i = first; i < last;) {
		uint32_t n = 0;

		for (; n < RTE_DIM(p) && i < last; n++, i++) {
			uint32_t a = htonl(0x0a000000u + i);

			p[n] = tcp("0.0.0.0", 4000, "192.0.2.1", 443, flags, 100, SEC);
			memcpy(p[n].src, &a, 4);
		}
		if (dv_export_buf_room(&out) < n)
			out_reset(OUT_CAP);
		dv_flow_table_update_burst(t, p, NULL, n, &out);
	}
}

/*
 * An index entry keeps a record position in 28 bits: the low 24 in its
 * three position bytes, the top 4 above its 12-bit signature (struct
 * dv_flow_bucket). Only a table of more than 16,777,216 flows (--max-flows
 * over 16M a worker) hands out positions that need the top 4. Such a lazy
 * table (1.6 GB resident when full) takes 2^24 + 4096 flows, each at the
 * next position; then a second packet of each of the last 8192, 4096 of
 * them at positions 2^24 and above, must find its flow: no flow created,
 * none refused, and the whole index checked against the records.
 */
static void test_positions_past_24_bits(void **state)
{
	const uint32_t cap = (1u << 24) + 4096;
	struct dv_flow_config cfg = {.capacity = cap, .socket_id = -1, .lazy_memory = 1};
	struct dv_flow_table *t;
	char err[256] = "";

	(void)state;
	t = table_from(&cfg);
	burst_flows(t, 0, cap, 0x02);
	assert_int_equal(dv_flow_table_count(t), cap);
	assert_int_equal(dv_flow_table_stats(t)->created, cap);
	burst_flows(t, cap - 8192, cap, 0x10);
	assert_int_equal(dv_flow_table_stats(t)->created, cap);
	assert_int_equal(dv_flow_table_stats(t)->table_full, 0);
	assert_int_equal(dv_flow_table_count(t), cap);
	if (dv_flow_table_verify(t, NULL, err, sizeof(err)) != 0)
		fail_msg("verify: %s", err);
	dv_flow_table_free(t);
}

/*
 * A side's counters in a record (dv_flow_count.h): 40 bits of packets (the
 * packet word and the byte word's top byte), 56 of bytes. Counting a
 * trillion packets one by one is not a unit test, so the words are set
 * where a carry happens: the packet after 2^32 - 1 makes 2^32 (4294967296),
 * and a segment must end before its packets would reach 2^40
 * (1099511627776) or, at a carry, its bytes are 2^55 (36028797018963968)
 * or more.
 */
static void test_counters_carry_into_the_byte_word(void **state)
{
	uint64_t w = 0;
	uint32_t pkts = UINT32_MAX;

	(void)state;
	pkts++; /* the packet word wraps as the packet is counted */
	assert_int_equal(dv_count_carry(&w), 0);
	w += 1500;
	assert_true(dv_count_packets(w, pkts) == 4294967296ULL);
	assert_true(dv_count_bytes(w) == 1500);

	/* 2^40 - 2^32 packets and a gigabyte: one more carry fits, then none. */
	w = (0xfeULL << 56) | 1000000000ULL;
	pkts = UINT32_MAX;
	assert_true(dv_count_packets(w, pkts) == 1099511627776ULL - 4294967296ULL - 1);
	pkts++;
	assert_int_equal(dv_count_carry(&w), 0);
	assert_true(dv_count_packets(w, pkts) == 1099511627776ULL - 4294967296ULL);
	assert_true(dv_count_bytes(w) == 1000000000ULL);
	pkts = UINT32_MAX; /* 2^40 - 1 packets counted */
	assert_true(dv_count_packets(w, pkts) == 1099511627776ULL - 1);
	assert_int_equal(dv_count_carry(&w), 1);
	assert_true(dv_count_packets(w, pkts) == 1099511627776ULL - 1); /* unchanged */

	/* Bytes: just under 2^55 at a carry is fine, 2^55 is not. */
	w = 36028797018963968ULL - 1;
	assert_int_equal(dv_count_carry(&w), 0);
	assert_true(dv_count_bytes(w) == 36028797018963968ULL - 1);
	assert_true(dv_count_packets(w, 0) == 4294967296ULL);
	w = 36028797018963968ULL;
	assert_int_equal(dv_count_carry(&w), 1);
	assert_true(dv_count_bytes(w) == 36028797018963968ULL);
}

/* 1 if this kernel can map memory in ahead (MADV_POPULATE_WRITE, Linux 5.14). */
static int kernel_populates(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int ok;

	assert_true(p != MAP_FAILED);
	ok = madvise(p, 4096, MADV_POPULATE_WRITE) == 0;
	munmap(p, 4096);
	return ok;
}

/* dv_flow_table_prefault() until it has nothing more to map; the calls. */
static uint32_t prefault_all(struct dv_flow_table *t)
{
	uint32_t calls = 0;

	while (dv_flow_table_prefault(t))
		assert_true(++calls < 10000);
	return calls;
}

/*
 * Another thread maps a lazy table's memory in ahead of its worker
 * (dv_flow_table_prefault), once it has a few thousand flows (a capture of
 * a few costs only their pages): the index, which flows touch everywhere,
 * and the records, links and serials of the 65,536 flows after those
 * handed out (5.8 MB), no more. A table on DPDK memory has nothing to map.
 */
static void test_lazy_table_prefault(void **state)
{
	const uint32_t cap = 1u << 22, flows = 100000;
	struct dv_flow_config cfg = {
	    .capacity = cap, .socket_id = -1, .tunnels = 1, .lazy_memory = 1};
	const uint64_t ahead = 65536 * (64 + 16 + 8), slack = 4u << 20;
	uint64_t grown, mapped;
	struct dv_flow_table *t;
	char err[256];

	(void)state;
	if (!kernel_populates()) {
		print_message("this kernel cannot map memory ahead (MADV_POPULATE_WRITE)\n");
		return;
	}
	t = table(1000, 0, 0, 0);
	assert_int_equal(dv_flow_table_prefault(t), 0);
	dv_flow_table_free(t);

	t = table_from(&cfg);
	add_flows(t, 0, 10);
	assert_int_equal(dv_flow_table_prefault(t), 0);
	add_flows(t, 10, flows);
	/* What prefaulting adds beyond what the flows touched (the index, with
	 * 100,000 flows spread over it, and their records): a sanitizer's
	 * shadow memory grows with the flows, not with this. */
	grown = resident_bytes();
	assert_int_equal(prefault_all(t) > 0, 1);
	mapped = resident_bytes() - grown;
	print_message("%u flows: %.1f MB mapped ahead of them\n", flows, (double)mapped / 1e6);
	assert_true(mapped >= ahead);
	assert_true(mapped < ahead + slack);
	assert_int_equal(dv_flow_table_count(t), flows);
	assert_int_equal(dv_flow_table_verify(t, NULL, err, sizeof(err)), 0);
	dv_flow_table_free(t);
}

/* 1 if this kernel gathers 4 KB pages into a huge page (MADV_COLLAPSE, 25,
 * Linux 6.1; an older one says EINVAL). 4 MB hold a whole 2 MB page. */
static int kernel_collapses(void)
{
	const size_t len = 4u << 20;
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int ok;

	assert_true(p != MAP_FAILED);
	memset(p, 1, len);
	ok = madvise(p, len, 25 /* MADV_COLLAPSE */) == 0;
	munmap(p, len);
	return ok;
}

/* Bytes of this process's anonymous memory in transparent huge pages
 * (/proc/self/smaps_rollup: AnonHugePages). */
static uint64_t anon_huge_bytes(void)
{
	char line[256];
	unsigned long kb = 0;
	FILE *f = fopen("/proc/self/smaps_rollup", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "AnonHugePages: %lu kB", &kb) == 1)
			break;
	fclose(f);
	return (uint64_t)kb * 1024;
}

/*
 * The index of a lazy table larger than the default one (8 MB) starts on
 * 4 KB pages (test_lazy_table_touches_only_what_flows_use). Once the table
 * has a few hundred flows, dv_flow_table_prefault() gathers the index
 * into huge pages (MADV_COLLAPSE, Linux 6.1): a lookup in a large table
 * then misses the TLB less.
 */
static void test_large_index_gathered_into_huge_pages(void **state)
{
	const uint32_t cap = 1u << 22;
	struct dv_flow_config cfg = {.capacity = cap, .socket_id = -1, .lazy_memory = 1};
	uint64_t before, huge;
	struct dv_flow_table *t;
	char err[256];

	(void)state;
	if (!kernel_populates() || !kernel_collapses() || thp_eligible_bytes() < 0) {
		print_message("no transparent huge pages, MADV_POPULATE_WRITE or MADV_COLLAPSE\n");
		return;
	}
	t = table_from(&cfg);
	add_flows(t, 0, 300);
	assert_int_equal(dv_flow_table_prefault(t), 0); /* not yet */
	add_flows(t, 300, 1000);
	before = anon_huge_bytes();
	assert_int_equal(prefault_all(t) > 0, 1);
	huge = anon_huge_bytes() - before;
	print_message("1000 flows, prefaulted: %.1f MB more in huge pages\n", (double)huge / 1e6);
	/* Every whole 2 MB of the 32 MB index (its ends may share a huge page
	 * with other mappings); nothing else is mapped ahead before 4096 flows. */
	assert_true(huge >= (28u << 20));
	assert_true(huge <= (34u << 20));
	assert_int_equal(dv_flow_table_count(t), 1000);
	assert_int_equal(dv_flow_table_verify(t, NULL, err, sizeof(err)), 0);
	dv_flow_table_free(t);
}

/*
 * CRC32C of the 8 bytes of w (least significant first) from crc, without
 * the usual inversions: what the SSE4.2 crc32 instruction computes, and
 * what the table hashed IPv4 keys with before it took a keyed hash. Bit by
 * bit, from the Castagnoli polynomial, so the test does not share the
 * table's code.
 */
static uint32_t crc32c_word(uint32_t crc, uint64_t w)
{
	for (int i = 0; i < 64; i++) {
		crc ^= (uint32_t)(w >> i) & 1;
		crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
	}
	return crc;
}

/* The CRC the table used to hash an IPv4 key by: over its two words, the
 * addresses (lower endpoint first, as little-endian 32-bit words) and the
 * tail (ports, VLAN, protocol, family; see dv_flow.c). */
static uint32_t old_crc(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport)
{
	uint64_t v4 = src | (uint64_t)dst << 32;
	uint64_t tail = sport | (uint64_t)dport << 16 | (uint64_t)17 << 48 | (uint64_t)4 << 56;

	return crc32c_word(crc32c_word(0, v4), tail);
}

/*
 * A hash flood: 2000 UDP flows chosen so that all of them have one CRC,
 * the hash the table used before (CRC is linear over GF(2), so such keys
 * are found by solving a linear system, as an attacker would). Under that
 * hash all 2000 shared a bucket and a signature: 1990 of them lived
 * outside their home bucket, in one run of full buckets that every packet
 * of every one of them walked. Under the table's keyed hash they spread
 * like any other keys: at a load of 0.25, almost none is displaced.
 */
static void test_crc_colliding_keys_spread(void **state)
{
	/* Free bits: address bytes 1 and 2 of both endpoints and the source
	 * port, 48 in all. Source 10.x.y.1 and destination 200.x.y.254 keep
	 * the source the lower endpoint (the last byte is the most significant
	 * of a little-endian word), so the key's words are known. */
	const uint32_t flows = 2000;
	uint64_t kernel[48];
	uint32_t pivot_val[32] = {0}, n_kernel = 0, base_crc = 0;
	uint64_t pivot_mask[32] = {0};
	struct dv_flow_table *t = table(4096, 0, 0, 0);
	uint32_t displaced = UINT32_MAX;
	char err[256];

	(void)state;
	/* Gaussian elimination of the 48 free bits' CRCs: every combination
	 * whose CRC is 0 changes a key without changing its CRC. */
	for (int b = 0; b < 48; b++) {
		uint32_t src = 0, dst = 0;
		uint16_t sport = 0;

		if (b < 16)
			src = 1u << (8 + b);
		else if (b < 32)
			dst = 1u << (8 + b - 16);
		else
			sport = (uint16_t)(1u << (b - 32));
		/* The CRC of a key is linear in the key's bits: the constant
		 * part (protocol, family) cancels out of the difference. */
		uint32_t v = old_crc(src, dst, sport, 0) ^ old_crc(0, 0, 0, 0);
		uint64_t m = 1ULL << b;

		for (int i = 31; i >= 0 && v != 0; i--) {
			if (!(v >> i & 1))
				continue;
			if (pivot_val[i] == 0) {
				pivot_val[i] = v;
				pivot_mask[i] = m;
				v = 0;
				m = 0;
				break;
			}
			v ^= pivot_val[i];
			m ^= pivot_mask[i];
		}
		if (m != 0)
			kernel[n_kernel++] = m;
	}
	assert_true(n_kernel >= 11); /* 2^11 >= 2000 distinct keys */

	for (uint32_t j = 0; j < flows; j++) {
		uint64_t d = 0;
		uint32_t src = 0x0100000a, dst = 0xfe0000c8; /* 10.0.0.1, 200.0.0.254 */
		uint16_t sport = 1000;
		char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
		struct dv_pkt p;

		for (uint32_t k = 0; k < n_kernel; k++)
			if (j >> k & 1)
				d ^= kernel[k];
		src ^= (uint32_t)(d & 0xffff) << 8;
		dst ^= (uint32_t)(d >> 16 & 0xffff) << 8;
		sport ^= (uint16_t)(d >> 32);
		if (j == 0)
			base_crc = old_crc(src, dst, sport, 53);
		assert_int_equal(old_crc(src, dst, sport, 53), base_crc);
		inet_ntop(AF_INET, &src, a, sizeof(a));
		inet_ntop(AF_INET, &dst, b, sizeof(b));
		p = udp(a, sport, b, 53, 80, SEC + j);
		feed(t, p);
	}
	assert_int_equal(dv_flow_table_count(t), flows);
	if (dv_flow_table_verify(t, &displaced, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	print_message("crc flood: %u of %u flows outside their home bucket\n", displaced, flows);
	assert_true(displaced <= flows / 100);
	dv_flow_table_free(t);
}

static int id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

/*
 * Flow ids, which the table makes at export from a per-flow serial: 15000
 * flows, each cut into two segments by the active timeout. Both rows of a
 * flow carry one id, every id is a version 4 UUID, and no two flows share
 * one (BigQuery's insertId is <id>:<segment>).
 */
/* ---- tunnels: the VNI in the key, the tunnel columns from the first packet ---- */

static struct dv_flow_table *tunnel_table(void)
{
	struct dv_flow_config cfg = {
	    .capacity = 64,
	    .idle_timeout_ns = 120 * SEC,
	    .active_timeout_ns = 1800 * SEC,
	    .tcp_close_timeout_ns = 10 * SEC,
	    .socket_id = -1,
	    .worker = 3,
	    .seed = {0x1234, 0x5678},
	    .tunnels = 1,
	};

	return table_from(&cfg);
}

/* p as it comes out of a VXLAN tunnel with this VNI between two VTEPs. */
static struct dv_pkt vxlan(struct dv_pkt p, uint32_t vni, const char *vtep_src,
			   const char *vtep_dst, struct dv_pkt_tun *tun)
{
	memset(tun, 0, sizeof(*tun));
	p.tun = DV_PKT_T_TUNNEL | DV_PKT_T_VNI;
	p.vni = vni;
	tun->n_kinds = 1;
	tun->kinds[0] = DV_TUN_VXLAN;
	tun->outer_family = 4;
	assert_int_equal(inet_pton(AF_INET, vtep_src, tun->outer_src), 1);
	assert_int_equal(inet_pton(AF_INET, vtep_dst, tun->outer_dst), 1);
	return p;
}

static void feed_tun(struct dv_flow_table *t, struct dv_pkt p, const struct dv_pkt_tun *tun)
{
	dv_flow_table_update_burst(t, &p, tun, 1, &out);
}

/* Two tenants with the same addresses and ports in VNIs 100 and 200 are two
 * flows; both directions of each meet whatever the VTEPs (swapped outer
 * addresses); the columns come from each flow's first packet. IPv4 and
 * IPv6 inner packets, and a plain packet with the same 5-tuple is a third
 * flow. */
static void test_vni_in_key(void **state)
{
	struct dv_flow_table *t = tunnel_table();
	struct dv_pkt_tun tun;
	const char *a[2] = {"10.0.0.1", "2001:db8::1"}, *b[2] = {"10.0.0.2", "2001:db8::2"};
	char err[256];
	uint32_t displaced;

	(void)state;
	for (int v6 = 0; v6 < 2; v6++) {
		out_reset(OUT_CAP);
		for (uint32_t vni = 100; vni <= 200; vni += 100) {
			feed_tun(t,
				 vxlan(udp(a[v6], 1000, b[v6], 53, 100 + vni, 1 * SEC), vni,
				       "192.0.2.1", "192.0.2.2", &tun),
				 &tun);
			feed_tun(t,
				 vxlan(udp(b[v6], 53, a[v6], 1000, 300 + vni, 2 * SEC), vni,
				       "192.0.2.2", "192.0.2.1", &tun),
				 &tun);
		}
		feed(t, udp(a[v6], 1000, b[v6], 53, 77, 3 * SEC));
		assert_int_equal(dv_flow_table_count(t), 3);
		assert_int_equal(dv_flow_table_verify(t, &displaced, err, sizeof(err)), 0);
		flush_all(t, DV_END_EOF);
		assert_int_equal(out.n, 3);
		for (uint32_t i = 0; i < 3; i++) {
			const struct dv_export_rec *r = &out.recs[i];

			assert_int_equal(r->family, v6 ? 6 : 4);
			assert_addr(r->src_addr, a[v6]);
			if (!(r->flags & DV_EXPORT_F_VNI)) { /* the plain one */
				assert_int_equal(r->n_kinds, 0);
				assert_int_equal(r->outer_family, 0);
				assert_int_equal(r->src_bytes, 77);
				continue;
			}
			assert_true(r->vni == 100 || r->vni == 200);
			assert_int_equal(r->src_packets, 1);
			assert_int_equal(r->dst_packets, 1);
			assert_int_equal(r->src_bytes, 100 + r->vni);
			assert_int_equal(r->dst_bytes, 300 + r->vni);
			assert_int_equal(r->n_kinds, 1);
			assert_int_equal(r->kinds[0], DV_TUN_VXLAN);
			assert_int_equal(r->outer_family, 4);
			assert_addr(r->outer_src, "192.0.2.1"); /* the first packet's, as sent */
			assert_addr(r->outer_dst, "192.0.2.2");
		}
		assert_int_not_equal(out.recs[0].vni + out.recs[1].vni + out.recs[2].vni, 0);
	}
	dv_flow_table_free(t);
}

/* A tunnel without a VNI (GTP-U: the TEIDs differ per direction and are not
 * kept) joins the plain flow of the same 5-tuple; a record reused after a
 * tunnelled flow does not keep its columns. */
static void test_tunnel_without_vni(void **state)
{
	struct dv_flow_table *t = tunnel_table();
	struct dv_pkt_tun tun;
	struct dv_pkt p;

	(void)state;
	p = vxlan(udp("10.1.1.1", 2000, "10.2.2.2", 80, 60, 1 * SEC), 0, "172.16.0.1", "172.16.0.2",
		  &tun);
	p.tun = DV_PKT_T_TUNNEL;
	tun.kinds[0] = DV_TUN_GTPU;
	feed_tun(t, p, &tun);
	feed(t, udp("10.2.2.2", 80, "10.1.1.1", 2000, 70, 2 * SEC));
	assert_int_equal(dv_flow_table_count(t), 1);
	flush_all(t, DV_END_EOF);
	assert_int_equal(out.n, 1);
	assert_int_equal(out.recs[0].flags & DV_EXPORT_F_VNI, 0);
	assert_int_equal(out.recs[0].n_kinds, 1);
	assert_int_equal(out.recs[0].kinds[0], DV_TUN_GTPU);
	assert_int_equal(out.recs[0].dst_packets, 1);
	out_reset(OUT_CAP);
	feed(t, udp("10.1.1.1", 2001, "10.2.2.2", 80, 60, 3 * SEC));
	flush_all(t, DV_END_EOF);
	assert_int_equal(out.n, 1);
	assert_int_equal(out.recs[0].n_kinds, 0);
	assert_int_equal(out.recs[0].outer_family, 0);
	dv_flow_table_free(t);
}

static void test_ids_unique_per_flow(void **state)
{
	const uint32_t flows = 15000;
	struct dv_flow_table *t = table(flows, 0, 1 * SEC, 0);
	static uint8_t ids[15000][16];
	uint32_t seen0 = 0, seen1 = 0;

	(void)state;
	out_reset(OUT_CAP);
	for (int seg = 0; seg < 2; seg++) {
		for (uint32_t k = 0; k < flows; k++) {
			char a[32];

			snprintf(a, sizeof(a), "10.%u.%u.7", k >> 8, k & 255);
			feed(t,
			     udp(a, 5000, "192.0.2.9", 53, 80, (1 + 2 * (uint64_t)seg) * SEC + k));
		}
	}
	flush_all(t, DV_END_EOF);
	assert_int_equal(out.n, 2 * flows);
	for (uint32_t i = 0; i < out.n; i++) {
		const struct dv_export_rec *r = &out.recs[i];
		uint32_t k = (uint32_t)r->src_addr[1] << 8 | r->src_addr[2];

		assert_true(uuid_is_v4(r->id));
		assert_true(k < flows);
		if (r->segment == 0) {
			memcpy(ids[k], r->id, 16);
			seen0++;
		} else {
			seen1++;
		}
	}
	assert_int_equal(seen0, flows);
	assert_int_equal(seen1, flows);
	for (uint32_t i = 0; i < out.n; i++) {
		const struct dv_export_rec *r = &out.recs[i];
		uint32_t k = (uint32_t)r->src_addr[1] << 8 | r->src_addr[2];

		assert_memory_equal(r->id, ids[k], 16); /* segment 1 keeps segment 0's id */
	}
	qsort(ids, flows, 16, id_cmp);
	for (uint32_t k = 1; k < flows; k++)
		assert_memory_not_equal(ids[k - 1], ids[k], 16);
	dv_flow_table_free(t);
}

static void test_end_reason_names(void **state)
{
	(void)state;
	assert_string_equal(dv_end_reason_name(DV_END_IDLE), "idle");
	assert_string_equal(dv_end_reason_name(DV_END_ACTIVE), "active");
	assert_string_equal(dv_end_reason_name(DV_END_TCP_CLOSE), "tcp_close");
	assert_string_equal(dv_end_reason_name(DV_END_EVICTED), "evicted");
	assert_string_equal(dv_end_reason_name(DV_END_SHUTDOWN), "shutdown");
	assert_string_equal(dv_end_reason_name(DV_END_EOF), "eof");
	assert_string_equal(dv_end_reason_name(DV_END_MAX), "unknown");
}

/* ---- flow context (server_name, dns_query, dns_rcode) ---- */

static struct dv_flow_table *ctx_table(uint32_t cap, uint32_t slots, uint64_t active)
{
	struct dv_flow_config cfg = {
	    .capacity = cap,
	    .idle_timeout_ns = 120 * SEC,
	    .active_timeout_ns = active,
	    .tcp_close_timeout_ns = 10 * SEC,
	    .socket_id = -1,
	    .ctx_slots = slots,
	    .seed = {0x1234, 0x5678},
	};
	struct dv_flow_table *t = table_from(&cfg);

	out.group_max = DV_EXPORT_GROUP_MAX;
	return t;
}

/* A packet context as the parser's reader writes it. */
static struct dv_pkt_ctx pctx(uint8_t kind, uint8_t flags, uint8_t rcode, const char *text)
{
	struct dv_pkt_ctx c;

	memset(&c, 0, sizeof(c));
	c.kind = kind;
	c.flags = flags;
	c.rcode = rcode;
	c.len = (uint16_t)strlen(text);
	memcpy(c.text, text, c.len + 1u);
	c.n_el = (uint8_t)dv_pkt_ctx_elems(&c);
	return c;
}

static void feed_ctx(struct dv_flow_table *t, struct dv_pkt p, const struct dv_pkt_ctx *c)
{
	p.tun |= DV_PKT_T_CTX;
	dv_flow_table_update_burst_ctx(t, &p, NULL, c, 1, &out);
}

/* The records in out (each followed by its context), in order. */
static uint32_t records(const struct dv_export_rec **recs, uint32_t max)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < out.n && k < max; i += dv_export_group_len(&out.recs[i]))
		recs[k++] = &out.recs[i];
	return k;
}

/* What a flushed row says, but its random id. */
struct flushed {
	uint8_t src[16];
	uint16_t sport;
	uint8_t end_reason;
	uint64_t pkts;
	char sn[64], q[64];
};

static uint32_t flush_rows(struct dv_flow_table *t, int ending, struct flushed *rows, uint32_t max)
{
	const struct dv_export_rec *recs[128];
	uint32_t n;

	out_reset(OUT_CAP);
	if (ending)
		dv_flow_table_ending(t);
	flush_all(t, DV_END_EOF);
	n = records(recs, 128);
	assert_true(n <= max);
	for (uint32_t i = 0; i < n; i++) {
		const char *sn = dv_export_server_name(recs[i]), *q = dv_export_dns_query(recs[i]);

		memset(&rows[i], 0, sizeof(rows[i]));
		memcpy(rows[i].src, recs[i]->src_addr, 16);
		rows[i].sport = recs[i]->src_port;
		rows[i].end_reason = recs[i]->end_reason;
		rows[i].pkts = recs[i]->src_packets + recs[i]->dst_packets;
		snprintf(rows[i].sn, sizeof(rows[i].sn), "%s", sn ? sn : "-");
		snprintf(rows[i].q, sizeof(rows[i].q), "%s", q ? q : "-");
	}
	return n;
}

/* The same flows in two tables: some with a server name or a DNS query,
 * closed TCP flows, flows whose idle deadline passed before the end. */
static void feed_mix(struct dv_flow_table *t)
{
	struct dv_pkt_ctx sn = pctx(DV_PCTX_SERVER_NAME, DV_PCTX_F_NAME, 0, "www.example");
	struct dv_pkt_ctx q = pctx(DV_PCTX_DNS, DV_PCTX_F_NAME, 0, "a.example");
	char addr[32];

	for (int i = 1; i <= 40; i++) {
		uint64_t ts = (uint64_t)i * SEC;

		snprintf(addr, sizeof(addr), "10.14.0.%d", i);
		if (i % 4 == 0) {
			feed_ctx(t, udp(addr, 1000, "10.14.1.1", 53, 80, ts), &q);
		} else if (i % 4 == 1) {
			feed_ctx(t, tcp(addr, 1000, "10.14.1.1", 443, 0x02, 60, ts), &sn);
			feed(t, tcp(addr, 1000, "10.14.1.1", 443, 0x11, 60, ts + 1)); /* FIN */
		} else {
			feed(t, udp(addr, 1000, "10.14.1.1", 9, 100, ts));
		}
	}
	/* 200 s: the first flows' idle deadline (120 s) has passed. */
	feed(t, udp("10.14.0.200", 1000, "10.14.1.1", 9, 100, 200 * SEC));
}

/* The last flush (dv_flow_table_ending: index, store and act list left as
 * they are) gives the same rows, in the same order, as a flush that takes
 * every flow out of them; the table then says it can no longer be checked. */
static void test_flush_after_ending(void **state)
{
	static struct flushed a[64], b[64];
	struct dv_flow_table *ta = ctx_table(64, 64, 0), *tb = ctx_table(64, 64, 0);
	char err[256];
	uint32_t displaced, na, nb;

	(void)state;
	feed_mix(ta);
	na = flush_rows(ta, 0, a, 64);
	feed_mix(tb);
	nb = flush_rows(tb, 1, b, 64);
	assert_int_equal(na, 41);
	assert_int_equal(nb, na);
	for (uint32_t i = 0; i < na; i++) {
		assert_memory_equal(a[i].src, b[i].src, 16);
		assert_int_equal(a[i].sport, b[i].sport);
		assert_int_equal(a[i].end_reason, b[i].end_reason);
		assert_int_equal(a[i].pkts, b[i].pkts);
		assert_string_equal(a[i].sn, b[i].sn);
		assert_string_equal(a[i].q, b[i].q);
	}
	assert_int_equal(dv_flow_table_count(tb), 0);
	assert_int_not_equal(dv_flow_table_verify(tb, &displaced, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "ending"));
	dv_flow_table_free(ta);
	dv_flow_table_free(tb);
	out.group_max = 0; /* ctx_table() set it; the tests after this one want none */
}

static void test_ctx_first_values_kept(void **state)
{
	struct dv_flow_table *t = ctx_table(64, 64, 0);
	struct dv_pkt_ctx q1 = pctx(DV_PCTX_DNS, DV_PCTX_F_NAME, 0, "a.example");
	struct dv_pkt_ctx r1 =
	    pctx(DV_PCTX_DNS, DV_PCTX_F_NAME | DV_PCTX_F_RESPONSE, 3, "a.example");
	struct dv_pkt_ctx q2 = pctx(DV_PCTX_DNS, DV_PCTX_F_NAME, 0, "b.example");
	struct dv_pkt_ctx r2 =
	    pctx(DV_PCTX_DNS, DV_PCTX_F_NAME | DV_PCTX_F_RESPONSE, 0, "b.example");
	struct dv_pkt_ctx sn = pctx(DV_PCTX_SERVER_NAME, DV_PCTX_F_NAME, 0, "www.example.org");
	const struct dv_export_rec *recs[4];

	(void)state;
	feed_ctx(t, udp("10.0.0.2", 5000, "10.0.0.1", 53, 80, 1 * SEC), &q1);
	feed_ctx(t, udp("10.0.0.1", 53, "10.0.0.2", 5000, 90, 2 * SEC), &r1);
	feed_ctx(t, udp("10.0.0.2", 5000, "10.0.0.1", 53, 80, 3 * SEC), &q2);
	feed_ctx(t, udp("10.0.0.1", 53, "10.0.0.2", 5000, 90, 4 * SEC), &r2);
	feed(t, udp("10.0.0.3", 6000, "10.0.0.1", 53, 80, 5 * SEC)); /* no context */
	feed_ctx(t, tcp("10.0.0.2", 40000, "10.0.0.9", 443, TCP_ACK, 600, 6 * SEC), &sn);
	flush_all(t, DV_END_EOF);
	assert_int_equal(records(recs, 4), 3);
	for (int i = 0; i < 3; i++) {
		if (recs[i]->src_port == 5000) {
			assert_string_equal(dv_export_dns_query(recs[i]), "a.example");
			assert_int_equal(dv_export_dns_rcode(recs[i]), 3);
			assert_null(dv_export_server_name(recs[i]));
		} else if (recs[i]->src_port == 6000) {
			assert_false(dv_export_has_ctx(recs[i]));
			assert_null(dv_export_dns_query(recs[i]));
			assert_int_equal(dv_export_dns_rcode(recs[i]), -1);
		} else {
			assert_string_equal(dv_export_server_name(recs[i]), "www.example.org");
			assert_null(dv_export_dns_query(recs[i]));
			assert_int_equal(dv_export_dns_rcode(recs[i]), -1);
		}
	}
	assert_int_equal(dv_flow_table_stats(t)->ctx_flows, 2);
	dv_flow_table_free(t);
}

/* A name of len characters: tag, len and a dot, then 'a's (cut short when len is
 * too small for that). */
static void long_name(char *buf, uint32_t len, char tag)
{
	uint32_t k = (uint32_t)snprintf(buf, len + 1, "%c%u.", tag, len);

	if (k < len)
		memset(buf + k, 'a', len - k);
	buf[len] = '\0';
}

/*
 * A slot holds both texts itself up to 56 bytes together; longer ones move
 * to a long slot, at the first text or when the second comes. Each row
 * must carry exactly what its flow's first packets said, in any order of
 * name and question and at any length up to 255 (DV_CTX_NAME_MAX - 1).
 */
static void test_ctx_texts_of_any_length(void **state)
{
	static const struct {
		uint16_t sn, q; /* lengths, 0: none */
		int q_first;
	} cases[] = {
	    {20, 0, 0},
	    {0, 56, 0},
	    {30, 26, 0},
	    {26, 30, 1},
	    {30, 27, 0},
	    {27, 30, 1},
	    {200, 0, 0},
	    {0, 255, 0},
	    {10, 100, 1},
	    {100, 10, 0},
	    {255, 255, 0},
	    {255, 255, 1},
	    {1, 55, 1},
	    {55, 2, 1},
	    /* in the record itself up to 32 bytes with both NULs, after it from 33 */
	    {0, 30, 0},
	    {0, 31, 0},
	    {30, 0, 0},
	    {31, 0, 0},
	    {15, 15, 1},
	    {16, 15, 0},
	    {1, 1, 0},
	};
	struct dv_flow_table *t = ctx_table(64, 256, 0); /* 16 long slots */
	const struct dv_export_rec *recs[RTE_DIM(cases)];
	char sn[RTE_DIM(cases)][256], q[RTE_DIM(cases)][256];

	(void)state;
	for (uint32_t i = 0; i < RTE_DIM(cases); i++) {
		struct dv_pkt_ctx cs, cq;
		uint16_t port = (uint16_t)(1000 + i);

		long_name(sn[i], cases[i].sn, 's');
		long_name(q[i], cases[i].q, 'q');
		cs = pctx(DV_PCTX_SERVER_NAME, DV_PCTX_F_NAME, 0, sn[i]);
		cq = pctx(DV_PCTX_DNS, DV_PCTX_F_NAME | DV_PCTX_F_RESPONSE, 2, q[i]);
		for (int k = 0; k < 2; k++) {
			int query = k == (cases[i].q_first ? 0 : 1);

			if (query && cases[i].q)
				feed_ctx(t, udp("10.0.0.2", port, "10.0.0.1", 53, 80, SEC + k),
					 &cq);
			else if (!query && cases[i].sn)
				feed_ctx(t, udp("10.0.0.2", port, "10.0.0.1", 53, 80, SEC + k),
					 &cs);
		}
	}
	flush_all(t, DV_END_EOF);
	assert_int_equal(records(recs, RTE_DIM(cases)), RTE_DIM(cases));
	for (uint32_t k = 0; k < RTE_DIM(cases); k++) {
		uint32_t i = recs[k]->src_port - 1000u;
		const char *got_sn = dv_export_server_name(recs[k]);
		const char *got_q = dv_export_dns_query(recs[k]);

		assert_true(i < RTE_DIM(cases));
		/* (lengths 0 count as 1: the NUL of an empty text) */
		if ((cases[i].sn + 1u + cases[i].q + 1u <= 32) !=
		    ((recs[k]->flags & DV_EXPORT_F_CTX_INLINE) != 0))
			fail_msg("case %u: inline %d", i, recs[k]->flags & DV_EXPORT_F_CTX_INLINE);
		assert_int_equal(dv_export_group_len(recs[k]) == 1,
				 (recs[k]->flags & DV_EXPORT_F_CTX_INLINE) != 0);
		if ((got_sn == NULL) != (cases[i].sn == 0) || (got_q == NULL) != (cases[i].q == 0))
			fail_msg("case %u: server_name %s, dns_query %s", i,
				 got_sn ? got_sn : "none", got_q ? got_q : "none");
		if (cases[i].sn)
			assert_string_equal(got_sn, sn[i]);
		if (cases[i].q) {
			assert_string_equal(got_q, q[i]);
			assert_int_equal(dv_export_dns_rcode(recs[k]), 2);
		}
	}
	assert_int_equal(dv_flow_table_stats(t)->ctx_full, 0);
	dv_flow_table_free(t);
}

/*
 * A short context goes in the record only where the tunnel columns leave
 * room: a flow out of a VXLAN tunnel keeps its VNI and tunnel endpoints,
 * and its question (as short as a plain flow's, which is in its record)
 * follows the record.
 */
static void test_ctx_inline_not_over_tunnel(void **state)
{
	struct dv_flow_config cfg = {.capacity = 64,
				     .idle_timeout_ns = 120 * SEC,
				     .active_timeout_ns = 1800 * SEC,
				     .tcp_close_timeout_ns = 10 * SEC,
				     .socket_id = -1,
				     .ctx_slots = 64,
				     .seed = {0x1234, 0x5678},
				     .tunnels = 1};
	struct dv_flow_table *t = table_from(&cfg);
	struct dv_pkt_ctx q = pctx(DV_PCTX_DNS, DV_PCTX_F_NAME, 0, "a.example");
	const struct dv_export_rec *recs[2];
	struct dv_pkt_tun tun;
	struct dv_pkt p;
	char addr[INET_ADDRSTRLEN];

	(void)state;
	out.group_max = DV_EXPORT_GROUP_MAX;
	p = vxlan(udp("10.0.0.2", 5000, "10.0.0.1", 53, 80, 1 * SEC), 700, "192.0.2.1", "192.0.2.2",
		  &tun);
	p.tun |= DV_PKT_T_CTX;
	dv_flow_table_update_burst_ctx(t, &p, &tun, &q, 1, &out);
	feed_ctx(t, udp("10.0.0.3", 5000, "10.0.0.1", 53, 80, 1 * SEC), &q);
	flush_all(t, DV_END_EOF);
	assert_int_equal(records(recs, 2), 2);
	for (int k = 0; k < 2; k++) {
		const struct dv_export_rec *r = recs[k];

		assert_string_equal(dv_export_dns_query(r), "a.example");
		if (r->src_addr[3] == 3) { /* plain */
			assert_int_equal(r->flags & (DV_EXPORT_F_CTX | DV_EXPORT_F_CTX_INLINE),
					 DV_EXPORT_F_CTX_INLINE);
			continue;
		}
		assert_int_equal(r->flags & (DV_EXPORT_F_CTX | DV_EXPORT_F_CTX_INLINE),
				 DV_EXPORT_F_CTX);
		assert_int_equal(dv_export_group_len(r), 2);
		assert_true(r->flags & DV_EXPORT_F_VNI);
		assert_int_equal(r->vni, 700);
		assert_int_equal(r->n_kinds, 1);
		assert_int_equal(r->outer_family, 4);
		assert_non_null(inet_ntop(AF_INET, r->outer_src, addr, sizeof(addr)));
		assert_string_equal(addr, "192.0.2.1");
		assert_non_null(inet_ntop(AF_INET, r->outer_dst, addr, sizeof(addr)));
		assert_string_equal(addr, "192.0.2.2");
	}
	dv_flow_table_free(t);
}

/*
 * A store of 64 slots has 8 long ones. Ten flows with a 100-character
 * question: eight keep it, two find no long slot (counted) and keep no
 * question, while flows with short ones keep theirs; once the eight have
 * ended, their long slots serve new flows.
 */
static void test_ctx_long_slots_run_out(void **state)
{
	struct dv_flow_table *t = ctx_table(64, 64, 0);
	const struct dv_export_rec *recs[32];
	char name[128];
	uint32_t n, long_kept = 0, short_kept = 0;

	(void)state;
	for (int i = 0; i < 14; i++) {
		struct dv_pkt_ctx c;

		if (i < 10)
			long_name(name, 100, (char)('a' + i));
		else
			snprintf(name, sizeof(name), "short%d.example", i);
		c = pctx(DV_PCTX_DNS, DV_PCTX_F_NAME, 0, name);
		feed_ctx(t, udp("10.0.0.2", (uint16_t)(1000 + i), "10.0.0.1", 53, 80, SEC + i), &c);
	}
	assert_int_equal(dv_flow_table_stats(t)->ctx_flows, 14);
	assert_int_equal(dv_flow_table_stats(t)->ctx_full, 2);
	flush_all(t, DV_END_EOF);
	n = records(recs, 32);
	assert_int_equal(n, 14);
	for (uint32_t k = 0; k < n; k++) {
		const char *q = dv_export_dns_query(recs[k]);
		int i = recs[k]->src_port - 1000;

		if (q == NULL)
			continue;
		if (i < 10) {
			long_name(name, 100, (char)('a' + i));
			long_kept++;
		} else {
			snprintf(name, sizeof(name), "short%d.example", i);
			short_kept++;
		}
		assert_string_equal(q, name);
	}
	assert_int_equal(long_kept, 8);
	assert_int_equal(short_kept, 4);
	/* Every flow ended: eight more long questions find a long slot. */
	out_reset(OUT_CAP);
	out.group_max = DV_EXPORT_GROUP_MAX;
	for (int i = 0; i < 8; i++) {
		struct dv_pkt_ctx c;

		long_name(name, 100, (char)('k' + i));
		c = pctx(DV_PCTX_DNS, DV_PCTX_F_NAME, 0, name);
		feed_ctx(t, udp("10.0.0.3", (uint16_t)(2000 + i), "10.0.0.1", 53, 80, 200 * SEC),
			 &c);
	}
	assert_int_equal(dv_flow_table_stats(t)->ctx_full, 2);
	dv_flow_table_free(t);
}

/* A full store drops the new flow's context (counted), never a crash; a
 * flow's slot is free again once the flow has ended. */
static void test_ctx_store_full_then_freed(void **state)
{
	/* 8 slots: every flow's probe window is the whole store. */
	struct dv_flow_table *t = ctx_table(64, 8, 0);
	const struct dv_export_rec *recs[32];
	char name[32];
	uint32_t n, with = 0;

	(void)state;
	for (int i = 0; i < 20; i++) {
		struct dv_pkt_ctx c;

		snprintf(name, sizeof(name), "q%d.example", i);
		c = pctx(DV_PCTX_DNS, DV_PCTX_F_NAME, 0, name);
		feed_ctx(t, udp("10.0.0.2", (uint16_t)(1000 + i), "10.0.0.1", 53, 80, SEC + i), &c);
	}
	assert_int_equal(dv_flow_table_stats(t)->ctx_flows, 8);
	assert_int_equal(dv_flow_table_stats(t)->ctx_full, 12);
	/* The store is full, yet a flow that has a slot still gets what a
	 * later packet says: the answers to flows 0 (NXDOMAIN) and 19 (none). */
	for (int i = 0; i < 20; i += 19) {
		struct dv_pkt_ctx c = pctx(DV_PCTX_DNS, DV_PCTX_F_NAME | DV_PCTX_F_RESPONSE, 3,
					   i == 0 ? "q0.example" : "q19.example");

		feed_ctx(t, udp("10.0.0.1", 53, "10.0.0.2", (uint16_t)(1000 + i), 120, SEC + 30),
			 &c);
	}
	assert_int_equal(dv_flow_table_stats(t)->ctx_full, 13);
	flush_all(t, DV_END_EOF);
	n = records(recs, 32);
	assert_int_equal(n, 20);
	for (uint32_t i = 0; i < n; i++) {
		const char *q = dv_export_dns_query(recs[i]);

		assert_int_equal(dv_export_dns_rcode(recs[i]), recs[i]->src_port == 1000 ? 3 : -1);
		if (q == NULL)
			continue;
		with++;
		/* Each flow kept its own name: the first 8 flows' (ports 1000..1007). */
		snprintf(name, sizeof(name), "q%d.example", recs[i]->src_port - 1000);
		assert_string_equal(q, name);
		assert_true(recs[i]->src_port < 1008);
	}
	assert_int_equal(with, 8);
	/* Every flow ended: all 8 slots are free for new flows. */
	out_reset(OUT_CAP);
	out.group_max = DV_EXPORT_GROUP_MAX;
	for (int i = 0; i < 8; i++) {
		struct dv_pkt_ctx c = pctx(DV_PCTX_SERVER_NAME, DV_PCTX_F_NAME, 0, "s.example");

		feed_ctx(
		    t,
		    tcp("10.0.0.5", (uint16_t)(2000 + i), "10.0.0.1", 443, TCP_ACK, 100, 200 * SEC),
		    &c);
	}
	assert_int_equal(dv_flow_table_stats(t)->ctx_flows, 16);
	assert_int_equal(dv_flow_table_stats(t)->ctx_full, 13);
	dv_flow_table_free(t);
}

/* Resident bytes that feeding n UDP flows to a lazy table with a
 * 1M-slot context store adds, each flow given a DNS context or not. */
static uint64_t ctx_feed_resident(uint32_t n, int with_ctx)
{
	struct dv_flow_config cfg = {.capacity = 1u << 20,
				     .idle_timeout_ns = 120 * SEC,
				     .socket_id = -1,
				     .lazy_memory = 1,
				     .ctx_slots = 1u << 20,
				     .seed = {0x1234, 0x5678}};
	struct dv_pkt_ctx c = pctx(DV_PCTX_DNS, DV_PCTX_F_NAME, 0, "dense.example");
	struct dv_flow_table *t = table_from(&cfg);
	uint64_t before = resident_bytes(), after;

	out.group_max = DV_EXPORT_GROUP_MAX;
	for (uint32_t i = 0; i < n; i++) {
		char a[32];
		struct dv_pkt p;

		snprintf(a, sizeof(a), "10.1.%u.%u", i >> 8, i & 255);
		p = udp(a, 5353, "192.0.2.53", 53, 80, SEC);
		if (with_ctx)
			feed_ctx(t, p, &c);
		else
			feed(t, p);
	}
	after = resident_bytes();
	assert_int_equal(dv_flow_table_stats(t)->ctx_flows, with_ctx ? n : 0);
	dv_flow_table_free(t);
	return after - before;
}

/* The store's slots are handed out densely: 2000 flows with context touch
 * 128 KB of the 64 MB store (one 2 MB huge page where the system has them;
 * slots placed by a hash of the flow would touch a 4 KB page each, about
 * 8 MB, or every huge page), with the lazy memory of --read. */
static void test_ctx_store_touched_densely(void **state)
{
	uint64_t plain, with;

	(void)state;
	plain = ctx_feed_resident(2000, 0);
	with = ctx_feed_resident(2000, 1);
	print_message("2000 flows: %.1f MB resident without context, %.1f MB with\n",
		      (double)plain / 1e6, (double)with / 1e6);
	/* The store's first huge page and its index's (2 MB each, 4.2 MB
	 * measured); a slot for each flow on a page of its own takes 8 MB. */
	assert_true(with < plain + (6u << 20));
}

/* Every segment of a flow carries the flow's values. */
static void test_ctx_every_segment(void **state)
{
	struct dv_flow_table *t = ctx_table(64, 64, 10 * SEC);
	struct dv_pkt_ctx sn = pctx(DV_PCTX_SERVER_NAME, DV_PCTX_F_NAME, 0, "x.example");
	const struct dv_export_rec *recs[4];

	(void)state;
	feed_ctx(t, tcp("10.0.0.2", 40000, "10.0.0.9", 443, TCP_ACK, 600, 1 * SEC), &sn);
	feed(t, tcp("10.0.0.9", 443, "10.0.0.2", 40000, TCP_ACK, 1500, 2 * SEC));
	feed(t, tcp("10.0.0.9", 443, "10.0.0.2", 40000, TCP_ACK, 1500, 12 * SEC)); /* segment 1 */
	flush_all(t, DV_END_EOF);
	assert_int_equal(records(recs, 4), 2);
	assert_int_equal(recs[0]->segment, 0);
	assert_int_equal(recs[1]->segment, 1);
	assert_string_equal(dv_export_server_name(recs[0]), "x.example");
	assert_string_equal(dv_export_server_name(recs[1]), "x.example");
	dv_flow_table_free(t);
}

/* Expiry counts records, not elements, against its budget and the room:
 * records with contexts never overrun the buffer. */
static void test_ctx_expire_within_room(void **state)
{
	struct dv_flow_table *t = ctx_table(1024, 1024, 0);
	struct dv_pkt_ctx sn = pctx(DV_PCTX_SERVER_NAME, DV_PCTX_F_NAME, 0, "a.example");
	uint32_t got, total = 0;

	(void)state;
	for (int i = 0; i < 600; i++)
		feed_ctx(t,
			 tcp("10.0.0.2", (uint16_t)(1000 + i), "10.0.0.1", 443, TCP_ACK, 100, SEC),
			 &sn);
	/* Room for 100 records of up to DV_EXPORT_GROUP_MAX elements each. */
	out_reset(100 * DV_EXPORT_GROUP_MAX);
	out.group_max = DV_EXPORT_GROUP_MAX;
	while ((got = dv_flow_table_expire(t, 1000 * SEC, 64, &out)) > 0) {
		assert_true(out.n <= out.cap);
		assert_true(got <= 64);
		total += got;
		out.n = 0;
	}
	assert_int_equal(total, 600);
	assert_int_equal(dv_flow_table_count(t), 0);
	dv_flow_table_free(t);
}

/* A table without a store (--flow-context off) ignores contexts. */
static void test_ctx_off(void **state)
{
	struct dv_flow_table *t = ctx_table(64, 0, 0);
	struct dv_pkt_ctx q = pctx(DV_PCTX_DNS, DV_PCTX_F_NAME, 0, "a.example");

	(void)state;
	feed_ctx(t, udp("10.0.0.2", 5000, "10.0.0.1", 53, 80, 1 * SEC), &q);
	flush_all(t, DV_END_EOF);
	assert_int_equal(out.n, 1);
	assert_false(dv_export_has_ctx(&out.recs[0]));
	dv_flow_table_free(t);
}

int main(void)
{
	char prefix[64];
	char *argv[] = {"test_flow", "--no-huge",     "-m",   "256",
			"--no-pci",  "--file-prefix", prefix, "--log-level=lib.*:error",
			NULL};
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_direction_first_packet),
	    cmocka_unit_test(test_direction_synack_first),
	    cmocka_unit_test(test_status_init_one_way),
	    cmocka_unit_test(test_vlan_and_family_distinct),
	    cmocka_unit_test(test_per_side_counters_and_flags),
	    cmocka_unit_test(test_idle_by_expire_and_by_packet),
	    cmocka_unit_test(test_coarse_lru_bounded_lag),
	    cmocka_unit_test(test_coarse_rows_equal_exact),
	    cmocka_unit_test(test_active_segments),
	    cmocka_unit_test(test_rows_do_not_depend_on_expire),
	    cmocka_unit_test(test_active_then_silence_exports_no_empty_row),
	    cmocka_unit_test(test_tcp_close_by_rst),
	    cmocka_unit_test(test_tcp_close_by_fin_both_ways),
	    cmocka_unit_test(test_new_syn_on_closed_flow),
	    cmocka_unit_test(test_port_reuse_after_close_timeout),
	    cmocka_unit_test(test_eviction_least_recently_seen),
	    cmocka_unit_test(test_eviction_takes_closed_flows_too),
	    cmocka_unit_test(test_flush_respects_room),
	    cmocka_unit_test(test_flush_after_ending),
	    cmocka_unit_test(test_expire_respects_room_and_budget),
	    cmocka_unit_test(test_fragment_first_then_later),
	    cmocka_unit_test(test_fragment_later_then_first),
	    cmocka_unit_test(test_frag_cache_ages_and_overwrites),
	    cmocka_unit_test(test_random_against_model),
	    cmocka_unit_test(test_burst_equals_one_by_one),
	    cmocka_unit_test(test_create_rejects_bad_config),
	    cmocka_unit_test(test_index_overflow_under_churn),
	    cmocka_unit_test(test_lazy_tables_churn_and_model),
	    cmocka_unit_test(test_lazy_table_touches_only_what_flows_use),
	    cmocka_unit_test(test_lazy_table_huge_pages),
	    cmocka_unit_test(test_lazy_table_prefault),
	    cmocka_unit_test(test_large_index_gathered_into_huge_pages),
	    cmocka_unit_test(test_counters_carry_into_the_byte_word),
	    cmocka_unit_test(test_small_full_table_lookups),
	    cmocka_unit_test(test_positions_past_24_bits),
	    cmocka_unit_test(test_crc_colliding_keys_spread),
	    cmocka_unit_test(test_ids_unique_per_flow),
	    cmocka_unit_test(test_vni_in_key),
	    cmocka_unit_test(test_tunnel_without_vni),
	    cmocka_unit_test(test_end_reason_names),
	    cmocka_unit_test(test_ctx_first_values_kept),
	    cmocka_unit_test(test_ctx_store_full_then_freed),
	    cmocka_unit_test(test_ctx_texts_of_any_length),
	    cmocka_unit_test(test_ctx_inline_not_over_tunnel),
	    cmocka_unit_test(test_ctx_long_slots_run_out),
	    cmocka_unit_test(test_ctx_store_touched_densely),
	    cmocka_unit_test(test_ctx_every_segment),
	    cmocka_unit_test(test_ctx_expire_within_room),
	    cmocka_unit_test(test_ctx_off),
	};

	snprintf(prefix, sizeof(prefix), "dv_test_flow_%d", (int)getpid());
	if (rte_eal_init(8, argv) < 0) {
		fprintf(stderr, "test_flow: EAL init failed\n");
		return 1;
	}
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	dv_eal_cleanup(1);
	return rc;
}
