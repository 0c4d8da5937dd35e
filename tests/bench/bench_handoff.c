/*
 * bench_handoff: what handing a tunnelled packet to another worker costs on
 * live ports (issue 16, point 5). Prints figures, never fails on speed.
 *
 *   bench_handoff [PACKETS [FLOWS [ROUNDS]]]   (defaults 1000000 4096 5)
 *
 * Two workers run the real receive loop (dv_worker_main) on their own
 * lcores (CPUs 0 and 1), each polling one net_ring port that holds half of
 * the frames before the workers start: VXLAN (outer IPv4/UDP 4789, VNI, a
 * carried Ethernet/IPv4/UDP frame of 60 bytes), both directions of a flow on
 * the same port, as symmetric RSS on the outer headers gives them. The
 * inner flows are picked so that, per mode:
 *   local   every inner flow belongs to the worker that receives it
 *           (nothing is handed off);
 *   remote  every inner flow belongs to the other worker (every packet is
 *           handed off: the packet and its tunnel side cross an input ring);
 *   plain   the same frames with --decap off (the outer UDP flows; no
 *           decapsulation, no hand-off): the reference without tunnels.
 * The time of a round runs from the launch of both workers until both RX
 * rings and both input rings are empty (the last burst, at most 64 packets,
 * is still being accounted then). Modes alternate per round; the figures are
 * the medians: wall ns per packet (two workers together), and the hand-off's
 * CPU cost per handed-off packet, (remote - local) x 2 CPUs / packets.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "bench_encap.h"
#include "dv_decap.h"
#include "dv_eal.h"
#include "dv_worker.h"
#include "pktbuild.h"

#define INNER_LEN  60
#define FRAME_LEN  (50 + INNER_LEN) /* bench_encap's VXLAN adds 50 bytes */
#define MAX_ROUNDS 15

enum mode { LOCAL, REMOTE, PLAIN, N_MODES };
static const char *const mode_name[N_MODES] = {"local", "remote", "plain"};

static struct rte_mempool *pool;
static struct dv_clock wclock;
static struct dv_decap_cfg decap;

/* Frame k of the flow with inner client address `client`, direction rev:
 * an Ethernet/IPv4/UDP frame of INNER_LEN bytes to or from 10.2.0.53 port 53
 * (pktbuild), carried in bench_encap's VXLAN (VNI 123, VTEP entropy from
 * the client's address). */
static void frame(uint8_t *p, const uint8_t client[4], int rev, uint32_t k)
{
	static const uint8_t server[4] = {10, 2, 0, 53};
	static const uint8_t mac_c[6] = {2, 0, 0, 0, 0, 3}, mac_s[6] = {2, 0, 0, 0, 0, 4};
	const uint16_t udp_len = INNER_LEN - 14 - 20;
	uint8_t *in = p + bench_encap_inner_off(BENCH_VXLAN), *l4;

	memset(p, 0, FRAME_LEN);
	l4 = in +
	     dv_put_eth(in, rev ? mac_c : mac_s, rev ? mac_s : mac_c, NULL, NULL, 0, DV_ETH_IPV4);
	l4 += dv_put_ipv4(l4, rev ? server : client, rev ? client : server, 17, (uint16_t)k, 0,
			  udp_len, 64);
	dv_put16(l4, rev ? 53 : 1024);
	dv_put16(l4 + 2, rev ? 1024 : 53);
	dv_put16(l4 + 4, udp_len);
	bench_encap_wrap(p, BENCH_VXLAN, INNER_LEN, (uint32_t)client[2] << 8 | client[3], rev, k);
}

/* The inner client address of the n-th flow whose owner is `owner`. */
static void client_of(uint32_t n, uint32_t owner, uint8_t client[4])
{
	uint8_t buf[FRAME_LEN];
	struct dv_pkt p;
	struct dv_pkt_tun tun;

	/* Candidates n * 64 + j: distinct for distinct n; one of 64 belongs to
	 * `owner` but with a chance of 2^-64. */
	for (uint32_t c = n * 64;; c++) {
		client[0] = 10, client[1] = (uint8_t)(c >> 16), client[2] = (uint8_t)(c >> 8);
		client[3] = (uint8_t)c;
		frame(buf, client, 0, 0);
		if (dv_parse(buf, FRAME_LEN, DV_LINK_ETHERNET, &decap, &p, &tun) == DV_PARSE_OK &&
		    dv_worker_owner(&p, 2) == owner)
			return;
	}
}

struct bench {
	struct dv_worker w[2];
	struct rte_ring *export[2], *in[2], *rx[2], *tx[2];
	uint16_t port[2];
	uint32_t packets, flows;
	uint8_t (*clients)[2][4]; /* per flow: the client for local (0) and remote (1) */
};

static int ring_port(const char *name, struct rte_ring *rx, struct rte_ring *tx, uint16_t *out)
{
	struct rte_eth_conf conf;
	int port = rte_eth_from_rings(name, &rx, 1, &tx, 1, (unsigned int)rte_socket_id());

	if (port < 0)
		return -1;
	memset(&conf, 0, sizeof(conf));
	if (rte_eth_dev_configure((uint16_t)port, 1, 1, &conf) != 0 ||
	    rte_eth_rx_queue_setup((uint16_t)port, 0, 1024, (unsigned int)rte_socket_id(), NULL,
				   pool) != 0 ||
	    rte_eth_tx_queue_setup((uint16_t)port, 0, 1024, (unsigned int)rte_socket_id(), NULL) !=
		0 ||
	    rte_eth_dev_start((uint16_t)port) != 0)
		return -1;
	*out = (uint16_t)port;
	return 0;
}

/* Rings and ports once; the workers per round. */
static int setup(struct bench *b)
{
	char name[32];
	uint32_t size = rte_align32pow2(b->packets / 2 + 1);

	for (int i = 0; i < 2; i++) {
		snprintf(name, sizeof(name), "bh_x%d", i);
		b->export[i] = dv_ring_create(name, 1 << 16, DV_EXPORT_SLOTS, SOCKET_ID_ANY,
					      RING_F_SP_ENQ | RING_F_SC_DEQ);
		snprintf(name, sizeof(name), "bh_in%d", i);
		b->in[i] = dv_ring_create(name, 4096, DV_IN_SLOTS, SOCKET_ID_ANY, RING_F_SC_DEQ);
		snprintf(name, sizeof(name), "bh_rx%d", i);
		b->rx[i] = rte_ring_create(name, size, SOCKET_ID_ANY, RING_F_SC_DEQ);
		snprintf(name, sizeof(name), "bh_tx%d", i);
		b->tx[i] = rte_ring_create(name, 1024, SOCKET_ID_ANY, 0);
		snprintf(name, sizeof(name), "net_ring_bh%d", i);
		if (!b->export[i] || !b->in[i] || !b->rx[i] || !b->tx[i] ||
		    ring_port(name, b->rx[i], b->tx[i], &b->port[i]) != 0)
			return -1;
	}
	return 0;
}

/* Frames of one round into both RX rings: packet j of worker i's half. */
static int fill(struct bench *b, enum mode m)
{
	for (uint32_t j = 0; j < b->packets; j++) {
		uint32_t i = j & 1, f = (j >> 1) % (b->flows / 2) * 2 + i;
		struct rte_mbuf *mb = rte_pktmbuf_alloc(pool);
		uint8_t *p = mb ? (uint8_t *)rte_pktmbuf_append(mb, FRAME_LEN) : NULL;

		if (p == NULL)
			return -1;
		frame(p, b->clients[f][m == REMOTE], (int)((j >> 1) / (b->flows / 2) & 1), j >> 1);
		if (rte_ring_enqueue(b->rx[i], mb) != 0)
			return -1;
	}
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int start_workers(struct bench *b, enum mode m)
{
	char err[256];

	for (int i = 0; i < 2; i++) {
		struct dv_flow_config fc = {
		    .name = i ? "bh1" : "bh0",
		    .capacity = b->flows * 2,
		    .idle_timeout_ns = 3600ULL * DV_NS_PER_SEC,
		    .active_timeout_ns = 3600ULL * DV_NS_PER_SEC,
		    .tcp_close_timeout_ns = 10ULL * DV_NS_PER_SEC,
		    .socket_id = SOCKET_ID_ANY,
		    .worker = (uint8_t)i,
		    .seed = {7, 8},
		    .tunnels = m != PLAIN,
		    .lru_slack_div = 16,
		};
		struct dv_worker_config wc = {
		    .index = (uint32_t)i,
		    .n_workers = 2,
		    .export_ring = b->export[i],
		    .in_ring = b->in[i],
		    .peer_in = b->in,
		    .n_rxq = 1,
		    .clock_mode = DV_CLOCK_SYSTEM,
		    .clock = &wclock,
		    .ts_dynfield_offset = -1,
		    .decap = m == PLAIN ? NULL : &decap,
		};

		wc.table = dv_flow_table_create(&fc, err, sizeof(err));
		wc.rxq[0].port = b->port[i];
		if (wc.table == NULL || dv_worker_init(&b->w[i], &wc, err, sizeof(err)) != 0) {
			fprintf(stderr, "bench_handoff: %s\n", err);
			return -1;
		}
	}
	return 0;
}

/* One round: ns from launch until the rings are empty. */
static int64_t round_ns(struct bench *b, enum mode m)
{
	unsigned int lcore = rte_get_next_lcore(-1, 1, 0);
	uint64_t t0, t1;

	memset(b->w, 0, sizeof(b->w));
	if (fill(b, m) != 0 || start_workers(b, m) != 0)
		return -1;
	t0 = now_ns();
	for (int i = 0; i < 2; i++) {
		rte_eal_remote_launch(dv_worker_main, &b->w[i], lcore);
		lcore = rte_get_next_lcore(lcore, 1, 0);
	}
	while (!rte_ring_empty(b->rx[0]) || !rte_ring_empty(b->rx[1]) ||
	       !rte_ring_empty(b->in[0]) || !rte_ring_empty(b->in[1]))
		usleep(100);
	t1 = now_ns();
	for (int i = 0; i < 2; i++) {
		b->w[i].stop_reason = DV_END_SHUTDOWN;
		__atomic_store_n(&b->w[i].stop, 1, __ATOMIC_RELEASE);
	}
	for (;;) {
		int finished = 1;

		for (int i = 0; i < 2; i++) {
			struct dv_export_rec recs[256];

			while (dv_ring_dequeue_burst(b->export[i], recs, 256, DV_EXPORT_SLOTS) > 0)
				;
			if (__atomic_load_n(&b->w[0].handoff_done, __ATOMIC_ACQUIRE) &&
			    __atomic_load_n(&b->w[1].handoff_done, __ATOMIC_ACQUIRE))
				__atomic_store_n(&b->w[i].in_done, 1, __ATOMIC_RELEASE);
			finished &= __atomic_load_n(&b->w[i].finished, __ATOMIC_ACQUIRE) != 0;
		}
		if (finished)
			break;
		usleep(1000);
	}
	rte_eal_mp_wait_lcore();
	if (m == REMOTE && b->w[0].stats.handed_off + b->w[1].stats.handed_off < b->packets)
		fprintf(stderr, "bench_handoff: remote handed off only %" PRIu64 " elements\n",
			b->w[0].stats.handed_off + b->w[1].stats.handed_off);
	for (int i = 0; i < 2; i++) {
		dv_flow_table_free(b->w[i].cfg.table);
		dv_worker_fini(&b->w[i]);
	}
	return (int64_t)(t1 - t0);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static int run(struct bench *b, int rounds)
{
	int64_t t[N_MODES][MAX_ROUNDS], med[N_MODES];

	for (int r = 0; r < rounds; r++)
		for (int k = 0; k < N_MODES; k++) {
			enum mode m = (enum mode)((k + r) % N_MODES); /* rotate the order */

			t[m][r] = round_ns(b, m);
			if (t[m][r] < 0)
				return -1;
			printf("round %d %-6s %.1f ns/packet\n", r, mode_name[m],
			       (double)t[m][r] / b->packets);
		}
	for (int m = 0; m < N_MODES; m++) {
		qsort(t[m], (size_t)rounds, sizeof(t[m][0]), cmp_i64);
		med[m] = t[m][rounds / 2];
	}
	printf("packets=%u flows=%u rounds=%d medians ns/packet (2 workers): plain=%.1f "
	       "local=%.1f remote=%.1f; hand-off CPU ns per handed-off packet=%.1f\n",
	       b->packets, b->flows, rounds, (double)med[PLAIN] / b->packets,
	       (double)med[LOCAL] / b->packets, (double)med[REMOTE] / b->packets,
	       (double)(med[REMOTE] - med[LOCAL]) * 2 / b->packets);
	return 0;
}

int main(int argc, char **argv)
{
	char prefix[64];
	char *eal[] = {"bench_handoff",	   "--no-huge",	    "-m",   "1024",
		       "--no-pci",	   "--file-prefix", prefix, "--lcores=0@0,1@0,2@1",
		       "--log-level=error"};
	static struct bench b;

	b.packets = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 1000000;
	b.flows = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 4096;
	int rounds = argc > 3 ? atoi(argv[3]) : 5;

	if (b.packets < 2 || b.flows < 2 || b.flows > 60000 || rounds < 1 || rounds > MAX_ROUNDS) {
		fprintf(stderr,
			"usage: bench_handoff [PACKETS [FLOWS (2..60000) [ROUNDS (1..%d)]]]\n",
			MAX_ROUNDS);
		return 2;
	}
	snprintf(prefix, sizeof(prefix), "bench_handoff_%d", (int)getpid());
	if (rte_eal_init((int)RTE_DIM(eal), eal) < 0) {
		fprintf(stderr, "bench_handoff: EAL init failed\n");
		return 1;
	}
	dv_decap_cfg_default(&decap);
	dv_clock_init(&wclock);
	pool = rte_pktmbuf_pool_create("bh_pool", b.packets + 8192, 256, 0, 256, SOCKET_ID_ANY);
	b.clients = calloc(b.flows, sizeof(*b.clients));
	if (pool == NULL || b.clients == NULL || setup(&b) != 0) {
		fprintf(stderr, "bench_handoff: set-up failed (memory?)\n");
		return 1;
	}
	/* Flow f arrives on worker f & 1's port: local if it belongs there. */
	for (uint32_t f = 0; f < b.flows; f++) {
		client_of(f, f & 1, b.clients[f][0]);
		client_of(f, !(f & 1), b.clients[f][1]);
	}
	if (run(&b, rounds) != 0) {
		fprintf(stderr, "bench_handoff: a round failed\n");
		return 1;
	}
	dv_eal_cleanup(1); /* its own --file-prefix: the runtime directory goes too */
	return 0;
}
