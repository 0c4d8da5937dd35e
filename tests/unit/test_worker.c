/*
 * test_worker: how the receive loop gives mbufs back (dv_mbuf_not_plain,
 * dv_mbuf_free_burst in lib/dv_worker.h).
 *
 * A plain burst goes straight back to its pool with one put; anything else
 * must take rte_pktmbuf_free_bulk(), or a shared, chained, attached or
 * external buffer would be lost or given out twice. Each kind of mbuf is
 * built with DPDK's own calls (a second reference, a chain, an indirect
 * mbuf, an external buffer, a second pool); what must happen follows from
 * DPDK's mbuf rules, checked with the pools' free counts and the external
 * buffer's free callback.
 *
 * And how parsed packets cross an input ring (dv_handoff_put_ctx,
 * dv_handoff_send, dv_in_ring_read): every kind of packet a distributor
 * stages, a plain IPv4 one in the 32-byte form, comes out as it went in,
 * whatever the reader's bursts cut.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "dv_eal.h"
#include "dv_parse_ctx.h"
#include "dv_worker.h"

#define POOL_N 64

static struct rte_mempool *pool_a, *pool_b;

static struct rte_mbuf *get(struct rte_mempool *mp)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);

	assert_non_null(m);
	return m;
}

/* OR of dv_mbuf_not_plain over a burst, as the receive loop makes it. */
static uint64_t burst_not_plain(struct rte_mbuf **m, uint16_t n)
{
	uint64_t x = 0;

	for (uint16_t i = 0; i < n; i++)
		x |= dv_mbuf_not_plain(m[i], m[0]->pool);
	return x;
}

static void test_plain_burst_goes_back_whole(void **state)
{
	struct rte_mbuf *m[32];

	(void)state;
	for (int i = 0; i < 32; i++)
		m[i] = get(pool_a);
	assert_int_equal(rte_mempool_avail_count(pool_a), POOL_N - 32);
	assert_int_equal(burst_not_plain(m, 32), 0);
	dv_mbuf_free_burst(m, 32, 0);
	assert_int_equal(rte_mempool_avail_count(pool_a), POOL_N);
	dv_mbuf_free_burst(m, 0, 0); /* an empty burst touches nothing */
	assert_int_equal(rte_mempool_avail_count(pool_a), POOL_N);
}

static void test_second_reference_is_kept(void **state)
{
	struct rte_mbuf *m[2] = {get(pool_a), get(pool_a)};

	(void)state;
	rte_mbuf_refcnt_update(m[1], 1); /* someone else holds it too */
	assert_int_not_equal(dv_mbuf_not_plain(m[1], pool_a), 0);
	dv_mbuf_free_burst(m, 2, burst_not_plain(m, 2));
	/* m[0] is back; m[1] lives on with one reference. */
	assert_int_equal(rte_mempool_avail_count(pool_a), POOL_N - 1);
	assert_int_equal(rte_mbuf_refcnt_read(m[1]), 1);
	rte_pktmbuf_free(m[1]);
	assert_int_equal(rte_mempool_avail_count(pool_a), POOL_N);
}

static void test_chain_frees_every_segment(void **state)
{
	struct rte_mbuf *head = get(pool_a), *tail = get(pool_a), *m[2];

	(void)state;
	assert_int_equal(rte_pktmbuf_chain(head, tail), 0);
	m[0] = get(pool_a);
	m[1] = head;
	assert_int_not_equal(dv_mbuf_not_plain(head, pool_a), 0);
	assert_int_equal(rte_mempool_avail_count(pool_a), POOL_N - 3);
	dv_mbuf_free_burst(m, 2, burst_not_plain(m, 2));
	assert_int_equal(rte_mempool_avail_count(pool_a), POOL_N);
}

static void test_indirect_releases_its_direct(void **state)
{
	struct rte_mbuf *direct = get(pool_a), *ind = get(pool_b), *m[1];

	(void)state;
	rte_pktmbuf_attach(ind, direct); /* ind now shares direct's buffer */
	rte_pktmbuf_free(direct);	 /* drop our own reference */
	assert_int_equal(rte_mempool_avail_count(pool_a), POOL_N - 1);
	m[0] = ind;
	assert_int_not_equal(dv_mbuf_not_plain(ind, pool_b), 0);
	dv_mbuf_free_burst(m, 1, burst_not_plain(m, 1));
	/* Detached: both the indirect mbuf and the buffer it held are back. */
	assert_int_equal(rte_mempool_avail_count(pool_a), POOL_N);
	assert_int_equal(rte_mempool_avail_count(pool_b), POOL_N);
}

static int ext_freed;

static void ext_free_cb(void *addr, void *opaque)
{
	(void)addr;
	(void)opaque;
	ext_freed++;
}

static void test_external_buffer_is_released(void **state)
{
	static uint8_t ext[2048] __rte_aligned(RTE_CACHE_LINE_SIZE);
	uint16_t len = sizeof(ext);
	struct rte_mbuf_ext_shared_info *shinfo;
	struct rte_mbuf *m[2] = {get(pool_a), get(pool_a)};

	(void)state;
	shinfo = rte_pktmbuf_ext_shinfo_init_helper(ext, &len, ext_free_cb, NULL);
	assert_non_null(shinfo);
	rte_pktmbuf_attach_extbuf(m[1], ext, rte_mem_virt2iova(ext), len, shinfo);
	assert_int_not_equal(dv_mbuf_not_plain(m[1], pool_a), 0);
	ext_freed = 0;
	dv_mbuf_free_burst(m, 2, burst_not_plain(m, 2));
	assert_int_equal(ext_freed, 1);
	assert_int_equal(rte_mempool_avail_count(pool_a), POOL_N);
}

static void test_mixed_pools_go_home(void **state)
{
	struct rte_mbuf *m[4] = {get(pool_a), get(pool_b), get(pool_a), get(pool_b)};

	(void)state;
	assert_int_equal(dv_mbuf_not_plain(m[0], pool_a), 0);
	assert_int_not_equal(dv_mbuf_not_plain(m[1], pool_a), 0);
	dv_mbuf_free_burst(m, 4, burst_not_plain(m, 4));
	assert_int_equal(rte_mempool_avail_count(pool_a), POOL_N);
	assert_int_equal(rte_mempool_avail_count(pool_b), POOL_N);
}

/* ---- the input ring ---- */

#define MIX_N 600

#define MIX_KINDS 10

/* Packet i of a mix where every kind comes back often: plain IPv4 (TCP,
 * UDP; tagged or not), IPv6, a fragment, ICMP with its word, tunnelled
 * (with and without a VNI), IPv4 with a context of 1 to 250 characters,
 * tunnelled with a context, ticks, IPv6 with a context. Every byte of *p
 * is set. */
static void mix_packet(uint32_t i, struct dv_pkt *p, struct dv_pkt_tun *t, struct dv_pkt_ctx *c)
{
	uint32_t kind = i % MIX_KINDS;

	memset(p, 0, sizeof(*p));
	memset(t, 0, sizeof(*t));
	memset(c, 0, sizeof(*c));
	p->family = 4;
	p->proto = (i & 1) ? 6 : 17;
	p->sport = (uint16_t)(1000 + i);
	p->dport = (uint16_t)(443 - i % 3);
	p->vlan = (i % 4 == 0) ? (uint16_t)(DV_PKT_VLAN_TAGGED | (i & 0xfff)) : 0;
	p->tcp_flags = (uint8_t)(i * 7);
	p->src[0] = 10;
	p->src[3] = (uint8_t)i;
	p->dst[0] = 192;
	p->dst[3] = (uint8_t)(i >> 8);
	p->wire_len = 60 + i;
	p->ts_ns = 1700000000000000000ull + (uint64_t)i * 1000;
	switch (kind) {
	case 1:
		p->family = 6;
		for (int k = 0; k < 16; k++) {
			p->src[k] = (uint8_t)(0x20 + k + i);
			p->dst[k] = (uint8_t)(0x40 + k);
		}
		break;
	case 2:
		p->frag = DV_FRAG_LATER;
		p->frag_id = 0x12340000u + i;
		break;
	case 3:
		p->proto = 1;
		p->vni = 0x0800u | i; /* the ICMP word */
		break;
	case 4:
	case 5:
		p->tun = DV_PKT_T_TUNNEL | (kind == 5 ? DV_PKT_T_VNI : 0);
		p->vni = kind == 5 ? 5000 + i : 0;
		t->n_kinds = 1;
		t->kinds[0] = 3;
		t->outer_family = 4;
		t->outer_src[0] = 172;
		t->outer_dst[3] = (uint8_t)i;
		t->frame_len = 100 + i;
		break;
	case 6:
	case 7:
	case 9:
		p->tun = DV_PKT_T_CTX | (kind == 7 ? DV_PKT_T_TUNNEL : 0);
		if (kind == 9) {
			p->family = 6;
			p->src[15] = 1;
		}
		if (kind == 7) {
			t->n_kinds = 2;
			t->outer_family = 6;
			t->outer_src[15] = (uint8_t)i;
		}
		c->kind = DV_PCTX_DNS;
		c->flags = DV_PCTX_F_NAME;
		c->len = (uint16_t)(1 + (i * 37) % 250); /* 1 to 5 elements */
		memset(c->text, 'a' + (int)(i % 26), c->len);
		c->text[c->len] = '\0';
		c->n_el = (uint8_t)dv_pkt_ctx_elems(c);
		break;
	case 8:
		memset(p, 0, sizeof(*p));
		p->flags = DV_PKT_F_TICK;
		p->ts_ns = 1700000000000000000ull + (uint64_t)i * 1000;
		break;
	default:
		break;
	}
}

/* Stage, send and read back MIX_N packets through a ring of ring_slots,
 * the reader taking at most max_read packets a call: each comes out as it
 * went in, its tunnel side and context too, and a plain IPv4 packet took
 * two slots. */
static void check_mix_through_ring(uint32_t ring_slots, uint32_t max_read)
{
	static struct dv_pkt stage[DV_HANDOFF_CAP];
	static struct dv_pkt_ctx ctx[DV_BURST];
	struct dv_pkt got[DV_BURST];
	struct dv_pkt_tun tun[DV_BURST];
	struct rte_ring *r = rte_ring_create_elem("dv_test_in", DV_RING_SLOT, ring_slots,
						  SOCKET_ID_ANY, RING_F_SC_DEQ | RING_F_EXACT_SZ);
	struct dv_handoff h;
	uint32_t sent = 0, read = 0, short_slots = 0, stuck = 0, handed = 0;

	assert_non_null(r);
	dv_handoff_init(&h, stage, &r, 1);
	while (read < MIX_N) {
		uint32_t n;
		uint8_t bits;

		/* stage while a context still goes along (dv_handoff_put_ctx) */
		while (sent < MIX_N &&
		       h.n[0] + 28 + 2 * DV_BURST * DV_IN_SLOTS <= DV_HANDOFF_SLOTS) {
			struct dv_pkt p;
			struct dv_pkt_tun t;
			struct dv_pkt_ctx c;
			uint32_t before = h.n[0];

			mix_packet(sent, &p, &t, &c);
			dv_handoff_put_ctx(&h, 0, &p, &t, &c);
			if (sent % MIX_KINDS == 0)
				short_slots += h.n[0] - before;
			sent++;
		}
		handed += dv_handoff_send(&h, 0);
		n = dv_in_ring_read(r, got, tun, ctx, max_read, &bits);
		stuck = n == 0 ? stuck + 1 : 0;
		assert_true(stuck < 1000);
		for (uint32_t k = 0; k < n; k++, read++) {
			struct dv_pkt p;
			struct dv_pkt_tun t;
			struct dv_pkt_ctx c;

			mix_packet(read, &p, &t, &c);
			if (memcmp(&got[k], &p, sizeof(p)) != 0)
				fail_msg("packet %u (kind %u) changed on the ring", read,
					 read % MIX_KINDS);
			if (p.flags & DV_PKT_F_TICK)
				continue;
			if (p.tun & DV_PKT_T_TUNNEL)
				assert_memory_equal(&tun[k], &t, sizeof(t));
			if (p.tun & DV_PKT_T_CTX) /* its header and its text, with the NUL */
				assert_memory_equal(&ctx[k], &c,
						    offsetof(struct dv_pkt_ctx, text) + c.len + 1u);
			assert_true((bits & p.tun) == p.tun);
		}
	}
	assert_int_equal(read, MIX_N);
	assert_int_equal(handed, MIX_N); /* what it says it sent: packets, not slots */
	assert_int_equal(h.ctx_lost, 0);
	assert_true(rte_ring_empty(r));
	assert_int_equal(short_slots, 2 * ((MIX_N + MIX_KINDS - 1) / MIX_KINDS)); /* two each */
	rte_ring_free(r);
}

/* The reader's bursts and the ring's room cut the stream anywhere: one
 * packet at a time, a whole burst, a ring that holds little more than the
 * largest group. */
static void test_packets_cross_the_ring_whole(void **state)
{
	(void)state;
	check_mix_through_ring(4096, DV_BURST);
	check_mix_through_ring(4096, 1);
	check_mix_through_ring(4096, 7);
	check_mix_through_ring(40, DV_BURST);
	check_mix_through_ring(61, 3);
}

int main(void)
{
	char prefix[64];
	char *argv[] = {"test_worker", "--no-huge",	"-m",	"256",
			"--no-pci",    "--file-prefix", prefix, "--log-level=lib.*:error",
			NULL};
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain_burst_goes_back_whole),
	    cmocka_unit_test(test_second_reference_is_kept),
	    cmocka_unit_test(test_chain_frees_every_segment),
	    cmocka_unit_test(test_indirect_releases_its_direct),
	    cmocka_unit_test(test_external_buffer_is_released),
	    cmocka_unit_test(test_mixed_pools_go_home),
	    cmocka_unit_test(test_packets_cross_the_ring_whole),
	};
	int rc;

	snprintf(prefix, sizeof(prefix), "dv_test_worker_%d", (int)getpid());
	if (rte_eal_init(8, argv) < 0) {
		fprintf(stderr, "test_worker: EAL init failed\n");
		return 1;
	}
	pool_a = rte_pktmbuf_pool_create("dv_test_a", POOL_N, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					 SOCKET_ID_ANY);
	pool_b = rte_pktmbuf_pool_create("dv_test_b", POOL_N, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					 SOCKET_ID_ANY);
	if (pool_a == NULL || pool_b == NULL) {
		fprintf(stderr, "test_worker: no memory for the test pools\n");
		dv_eal_cleanup(1);
		return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rte_mempool_free(pool_a);
	rte_mempool_free(pool_b);
	dv_eal_cleanup(1);
	return rc;
}
