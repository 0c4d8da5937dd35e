/*
 * test_worker_tunnel: tunnelled traffic on live ports reaches its inner
 * flow's worker (issue 16, point 5).
 *
 * NIC RSS hashes the outer headers, so the two directions of one inner flow
 * can arrive on queues of different workers: here the VXLAN packets from
 * VTEP 1 to VTEP 2 are on a net_ring port polled only by worker 0, and the
 * replies, VTEP 2 to VTEP 1 with other outer source ports, on a second
 * net_ring port polled only by worker 1, each queue owned by its worker as
 * symmetric RSS would give it (no distribution). The workers run on their
 * own lcores with the real receive loop (dv_worker_main); each hands a
 * tunnelled packet to the worker that owns its inner flow, so every inner
 * flow must come out as one row holding both directions (3 packets one
 * way, 2 the other, bytes those of the carried frames), with the tunnel
 * columns of its first packet. Expected values come from the frames this
 * test writes. With the hand-off of tunnelled packets left out, both
 * directions would be counted by different workers and make two half rows.
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
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "dv_decap.h"
#include "dv_eal.h"
#include "dv_worker.h"

#define N_FLOWS	  200
#define FWD_PKTS  3 /* inner client -> server, each VTEP 1 -> VTEP 2 */
#define REV_PKTS  2 /* server -> client, VTEP 2 -> VTEP 1 */
#define RING_SIZE 1024
#define VNI	  4242
#define INNER_LEN 60 /* the carried Ethernet frame: 14 + 20 + 8 + 18 */

static struct rte_mempool *pool;
static struct dv_clock wclock;
static struct dv_decap_cfg decap;

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* An IPv4 header of `len` bytes in all from src to dst carrying proto. */
static void ip4(uint8_t *p, uint16_t len, uint8_t proto, const uint8_t src[4], const uint8_t dst[4])
{
	memset(p, 0, 20);
	p[0] = 0x45;
	put16(p + 2, len);
	p[8] = 64;
	p[9] = proto;
	memcpy(p + 12, src, 4);
	memcpy(p + 16, dst, 4);
}

/*
 * Frame of inner flow i in direction rev (0: client to server), packet k:
 * Ethernet / IPv4 (VTEPs) / UDP to 4789 from an entropy port / VXLAN VNI /
 * the carried frame (Ethernet / IPv4 / UDP, 18 bytes of payload).
 */
static struct rte_mbuf *frame(uint32_t i, int rev, uint32_t k)
{
	static const uint8_t vtep1[4] = {192, 0, 2, 1}, vtep2[4] = {192, 0, 2, 2};
	uint8_t client[4] = {10, 1, (uint8_t)(i >> 8), (uint8_t)i};
	uint8_t server[4] = {10, 2, 0, 53};
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	uint16_t outer_len = 20 + 8 + 8 + INNER_LEN;
	uint8_t *p, *in;

	assert_non_null(m);
	assert_non_null(rte_pktmbuf_append(m, 14 + outer_len));
	p = rte_pktmbuf_mtod(m, uint8_t *);
	memset(p, 0, 14 + outer_len);
	p[0] = 0x02, p[6] = 0x02, p[11] = rev ? 2 : 1;
	put16(p + 12, 0x0800);
	ip4(p + 14, outer_len, 17, rev ? vtep2 : vtep1, rev ? vtep1 : vtep2);
	put16(p + 34, (uint16_t)(rev ? 50000 + i + k : 40000 + i * 3 + k)); /* entropy */
	put16(p + 36, 4789);
	put16(p + 38, (uint16_t)(outer_len - 20));
	p[42] = 0x08; /* VXLAN: I flag */
	p[46] = (uint8_t)(VNI >> 16), p[47] = (uint8_t)(VNI >> 8), p[48] = (uint8_t)VNI;
	in = p + 50;
	in[0] = 0x02, in[6] = 0x02, in[11] = 3;
	put16(in + 12, 0x0800);
	ip4(in + 14, INNER_LEN - 14, 17, rev ? server : client, rev ? client : server);
	put16(in + 34, rev ? 53 : (uint16_t)(1024 + i));
	put16(in + 36, rev ? (uint16_t)(1024 + i) : 53);
	put16(in + 38, INNER_LEN - 34);
	return m;
}

/* A net_ring port whose receive side is `rx` (what the test enqueues). */
static uint16_t ring_port(const char *name, struct rte_ring *rx, struct rte_ring *tx)
{
	struct rte_eth_conf conf;
	int port = rte_eth_from_rings(name, &rx, 1, &tx, 1, (unsigned int)rte_socket_id());

	assert_true(port >= 0);
	memset(&conf, 0, sizeof(conf));
	assert_int_equal(rte_eth_dev_configure((uint16_t)port, 1, 1, &conf), 0);
	assert_int_equal(rte_eth_rx_queue_setup((uint16_t)port, 0, RING_SIZE,
						(unsigned int)rte_socket_id(), NULL, pool),
			 0);
	assert_int_equal(rte_eth_tx_queue_setup((uint16_t)port, 0, RING_SIZE,
						(unsigned int)rte_socket_id(), NULL),
			 0);
	assert_int_equal(rte_eth_dev_start((uint16_t)port), 0);
	return (uint16_t)port;
}

struct run {
	struct dv_worker w[2];
	struct rte_ring *export[2], *in[2], *rx[2], *tx[2];
	uint16_t port[2];
	struct dv_export_rec recs[4 * N_FLOWS];
	uint32_t n;
};

static void drain(struct run *r)
{
	for (int i = 0; i < 2; i++)
		r->n += dv_ring_dequeue_burst(r->export[i], r -> recs + r -> n,
					      RTE_DIM(r->recs) - r -> n, DV_EXPORT_SLOTS);
}

static uint64_t flows_created(const struct run *r)
{
	uint64_t n = 0;

	for (int i = 0; i < 2; i++)
		n += __atomic_load_n(&dv_flow_table_stats(r->w[i].cfg.table)->created,
				     __ATOMIC_RELAXED);
	return n;
}

/* Start both workers, feed the frames, stop them as the program does at
 * SIGTERM (hand-offs first, then the input rings, then the tables). */
static void run_workers(struct run *r, const struct dv_decap_cfg *dc)
{
	char name[32], err[256];
	unsigned int lcore = rte_get_next_lcore(-1, 1, 0);

	memset(r, 0, sizeof(*r));
	for (int i = 0; i < 2; i++) {
		snprintf(name, sizeof(name), "tt_x%d", i);
		r->export[i] = dv_ring_create(name, RING_SIZE, DV_EXPORT_SLOTS, SOCKET_ID_ANY,
					      RING_F_SP_ENQ | RING_F_SC_DEQ);
		snprintf(name, sizeof(name), "tt_in%d", i);
		r->in[i] =
		    dv_ring_create(name, RING_SIZE, DV_IN_SLOTS, SOCKET_ID_ANY, RING_F_SC_DEQ);
		snprintf(name, sizeof(name), "tt_rx%d", i);
		r->rx[i] = rte_ring_create(name, RING_SIZE, SOCKET_ID_ANY, RING_F_SC_DEQ);
		snprintf(name, sizeof(name), "tt_tx%d", i);
		r->tx[i] = rte_ring_create(name, RING_SIZE, SOCKET_ID_ANY, 0);
		assert_true(r->export[i] && r->in[i] && r->rx[i] && r->tx[i]);
		snprintf(name, sizeof(name), "net_ring_tt%d", i);
		r->port[i] = ring_port(name, r->rx[i], r->tx[i]);
	}
	for (int i = 0; i < 2; i++) {
		struct dv_flow_config fc = {
		    .name = i ? "tt1" : "tt0",
		    .capacity = 4 * N_FLOWS,
		    .idle_timeout_ns = 3600ULL * DV_NS_PER_SEC,
		    .active_timeout_ns = 3600ULL * DV_NS_PER_SEC,
		    .tcp_close_timeout_ns = 10ULL * DV_NS_PER_SEC,
		    .socket_id = SOCKET_ID_ANY,
		    .worker = (uint8_t)i,
		    .seed = {7, 8},
		    .tunnels = dc != NULL,
		};
		struct dv_worker_config wc = {
		    .index = (uint32_t)i,
		    .n_workers = 2,
		    .export_ring = r->export[i],
		    .in_ring = r->in[i],
		    .peer_in = r->in,
		    .n_rxq = 1,
		    .clock_mode = DV_CLOCK_SYSTEM,
		    .clock = &wclock,
		    .yield_when_idle = 1,
		    .ts_dynfield_offset = -1,
		    .decap = dc,
		};

		wc.table = dv_flow_table_create(&fc, err, sizeof(err));
		assert_non_null(wc.table);
		/* One queue per worker, owned, as symmetric RSS gives it. */
		wc.rxq[0].port = r->port[i];
		wc.rxq[0].queue = 0;
		wc.rxq[0].distribute = 0;
		assert_int_equal(dv_worker_init(&r->w[i], &wc, err, sizeof(err)), 0);
	}
	for (int i = 0; i < 2; i++) {
		assert_true(lcore < RTE_MAX_LCORE);
		assert_int_equal(rte_eal_remote_launch(dv_worker_main, &r->w[i], lcore), 0);
		lcore = rte_get_next_lcore(lcore, 1, 0);
	}
	for (uint32_t k = 0; k < FWD_PKTS; k++)
		for (uint32_t i = 0; i < N_FLOWS; i++) {
			struct rte_mbuf *m = frame(i, 0, k);

			while (rte_ring_enqueue(r->rx[0], m) != 0)
				drain(r);
		}
	/* Every flow made by its first packet (client to server, VTEP 1 to 2),
	 * through the hand-off where its owner is worker 1, before any reply:
	 * otherwise a reply received directly could overtake its flow's first
	 * packet still on the way and be taken for the initiator. */
	for (int waited = 0; flows_created(r) < N_FLOWS; waited++) {
		assert_true(waited < 10000); /* 10 s */
		drain(r);
		usleep(1000);
	}
	for (uint32_t k = 0; k < REV_PKTS; k++)
		for (uint32_t i = 0; i < N_FLOWS; i++) {
			struct rte_mbuf *m = frame(i, 1, k);

			while (rte_ring_enqueue(r->rx[1], m) != 0)
				drain(r);
		}
	while (!rte_ring_empty(r->rx[1]))
		drain(r);
	usleep(100 * 1000); /* the last bursts leave the RX rings for the workers */
	for (int i = 0; i < 2; i++) {
		r->w[i].stop_reason = DV_END_SHUTDOWN;
		__atomic_store_n(&r->w[i].stop, 1, __ATOMIC_RELEASE);
	}
	for (;;) {
		int finished = 1;

		drain(r);
		if (__atomic_load_n(&r->w[0].handoff_done, __ATOMIC_ACQUIRE) &&
		    __atomic_load_n(&r->w[1].handoff_done, __ATOMIC_ACQUIRE))
			for (int i = 0; i < 2; i++)
				__atomic_store_n(&r->w[i].in_done, 1, __ATOMIC_RELEASE);
		for (int i = 0; i < 2; i++)
			finished &= __atomic_load_n(&r->w[i].finished, __ATOMIC_ACQUIRE) != 0;
		if (finished)
			break;
		usleep(1000);
	}
	rte_eal_mp_wait_lcore();
	drain(r);
}

static void free_run(struct run *r)
{
	for (int i = 0; i < 2; i++) {
		dv_flow_table_free(r->w[i].cfg.table);
		dv_worker_fini(&r->w[i]);
		rte_eth_dev_stop(r->port[i]);
		rte_eth_dev_close(r->port[i]);
		rte_ring_free(r->export[i]);
		rte_ring_free(r->in[i]);
		rte_ring_free(r->rx[i]);
		rte_ring_free(r->tx[i]);
	}
}

static void test_both_directions_meet(void **state)
{
	static struct run r;
	uint32_t seen[N_FLOWS] = {0}, by_worker[2] = {0};

	(void)state;
	run_workers(&r, &decap);
	print_message("%u rows; worker 0 handed off %" PRIu64 " elements, worker 1 %" PRIu64
		      "; from rings %" PRIu64 " + %" PRIu64 "\n",
		      r.n, r.w[0].stats.handed_off, r.w[1].stats.handed_off, r.w[0].stats.from_ring,
		      r.w[1].stats.from_ring);
	assert_int_equal(r.n, N_FLOWS);
	for (uint32_t j = 0; j < r.n; j++) {
		const struct dv_export_rec *e = &r.recs[j];
		uint32_t i = (uint32_t)e->src_addr[2] << 8 | e->src_addr[3];

		assert_int_equal(e->family, 4);
		assert_int_equal(e->src_addr[0], 10);
		assert_int_equal(e->src_addr[1], 1);
		assert_true(i < N_FLOWS);
		assert_int_equal(seen[i]++, 0);
		assert_int_equal(e->src_port, 1024 + i);
		assert_int_equal(e->dst_port, 53);
		assert_int_equal(e->src_packets, FWD_PKTS);
		assert_int_equal(e->dst_packets, REV_PKTS);
		assert_int_equal(e->src_bytes, FWD_PKTS * INNER_LEN);
		assert_int_equal(e->dst_bytes, REV_PKTS * INNER_LEN);
		assert_int_equal(e->status, DV_STATUS_ESTABLISHED);
		assert_true(e->flags & DV_EXPORT_F_VNI);
		assert_int_equal(e->vni, VNI);
		assert_int_equal(e->n_kinds, 1);
		assert_int_equal(e->kinds[0], DV_TUN_VXLAN);
		assert_int_equal(e->outer_family, 4);
		assert_int_equal(e->outer_src[3], 1); /* the first packet's: VTEP 1 to 2 */
		assert_int_equal(e->outer_dst[3], 2);
		by_worker[e->worker & 1]++;
	}
	/* The inner hash spreads flows over both workers, so both hand off. */
	assert_true(by_worker[0] > 0 && by_worker[1] > 0);
	assert_true(r.w[0].stats.handed_off > 0 && r.w[1].stats.handed_off > 0);
	assert_int_equal(r.w[0].stats.tunnelled + r.w[1].stats.tunnelled,
			 N_FLOWS * (FWD_PKTS + REV_PKTS));
	free_run(&r);
}

int main(void)
{
	char prefix[64];
	char *argv[] = {"test_worker_tunnel",
			"--no-huge",
			"-m",
			"256",
			"--no-pci",
			"--file-prefix",
			prefix,
			"--lcores=0@0,1@0,2@1",
			"--log-level=lib.*:error",
			NULL};
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_both_directions_meet),
	};
	int rc;

	snprintf(prefix, sizeof(prefix), "dv_test_wtun_%d", (int)getpid());
	if (rte_eal_init(9, argv) < 0) {
		fprintf(stderr, "test_worker_tunnel: EAL init failed\n");
		return 1;
	}
	pool = rte_pktmbuf_pool_create("dv_tt_pool", 4 * RING_SIZE, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       SOCKET_ID_ANY);
	if (pool == NULL) {
		fprintf(stderr, "test_worker_tunnel: no memory for the pool\n");
		dv_eal_cleanup(1);
		return 1;
	}
	dv_clock_init(&wclock);
	dv_decap_cfg_default(&decap);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rte_mempool_free(pool);
	dv_eal_cleanup(1);
	return rc;
}
