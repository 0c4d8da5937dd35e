/*
 * ports: configure every ethdev for the workers.
 *
 * The aim is that both directions of a conversation reach the same worker:
 * - a device with RSS and enough queues gets one queue per worker and the
 *   symmetric key (0x6d5a repeated), hashing on addresses only unless
 *   --rss ip-l4, so fragments of a datagram stay together;
 * - net_af_packet and net_tap get one queue per worker, which worker i
 *   reads, and it hands each packet to its owner by our address hash: the
 *   kernel's choice of a queue keeps a flow together only most of the time.
 *   af_packet's fanout hash is symmetric (and reassembles fragments first),
 *   but the PMD asks for rollover, so a packet that finds its socket's ring
 *   full goes to another socket (10 of 256 flows in two rows under
 *   overload); tun's choice of a tap queue hashes ports for whole packets
 *   and not for fragments (11 of 32 fragmented flows in two rows). A flow
 *   whose packets all come from one queue still keeps its order: one
 *   reader, then one ring;
 * - anything else (net_pcap, net_ring, single-queue NICs) is polled by
 *   worker 0, which hands each packet to its owner by the same symmetric
 *   address hash the --read path uses.
 * These are different functions from a packet to a worker (the NIC's
 * Toeplitz hash, the kernel's fanout hash, ours), and a tap often delivers
 * the two directions of a link on two ports. So all ports must spread with
 * the same one: when they would not (say a NIC with RSS and a pcap or
 * af_packet port), every port is read by worker 0 and handed off by our
 * hash, which is slower but keeps both directions of every flow in one
 * table, and the log says why. Ports that all use RSS must also map a hash
 * to one worker: after start their redirection tables are read and, if
 * they disagree, written (rss_tables_agree, dv_reta.h).
 *
 * A kernel interface (--interface) is an af_packet port like any other
 * once probed; what only it needs lives here too: probing it, the start-up
 * warnings about frames it will cut (MTU, GRO, LRO), its sockets' drop
 * counts (dv_port_sockets_drops) and its link as the kernel sees it.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>

#include <rte_dev.h>
#include <rte_ethdev.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_mempool.h>

#include "app.h"
#include "dv_reta.h"
#include "ports.h"

#define RX_DESC	   1024
#define TX_DESC	   64
#define POOL_CACHE 256

static uint8_t sym_key[52];

/* Drivers whose queues the kernel fills, one per worker (af_packet's fanout). */
static int kernel_fanout_driver(const char *drv)
{
	return strcmp(drv, "net_af_packet") == 0;
}

/* Drivers whose queues are separate inputs (files, rings, the sockets of
 * a fanout group): when worker 0 reads such a port, it reads them all. */
static int queues_are_inputs(const char *drv)
{
	return strcmp(drv, "net_pcap") == 0 || strcmp(drv, "net_ring") == 0 ||
	       strcmp(drv, "net_memif") == 0 || strcmp(drv, "net_af_packet") == 0;
}

static int add_rxq(struct dv_worker_config *w, uint16_t port, uint16_t q, int distribute, int ts,
		   char *err, size_t errlen)
{
	if (w->n_rxq >= DV_MAX_RXQ) {
		snprintf(err, errlen, "worker %u: more than %d RX queues", w->index, DV_MAX_RXQ);
		return -1;
	}
	w->rxq[w->n_rxq].port = port;
	w->rxq[w->n_rxq].queue = q;
	w->rxq[w->n_rxq].distribute = (uint8_t)distribute;
	w->rxq[w->n_rxq].ts_dynfield = (uint8_t)ts;
	w->n_rxq++;
	return 0;
}

static struct rte_mempool *worker_pool(struct dv_app *app, uint32_t w, char *err, size_t errlen)
{
	char name[RTE_MEMPOOL_NAMESIZE];
	unsigned int n;

	if (app->pools[w])
		return app->pools[w];
	/* Descriptors of every queue this worker may own, plus bursts in flight
	 * and the per-lcore caches. Counted over every port, not app->n_ports:
	 * the pool is made while the first port is set up, when that is 0. */
	n = rte_eth_dev_count_avail() * (RX_DESC + TX_DESC + 4 * DV_BURST) + 2 * POOL_CACHE;
	if (app->opt.rx_mbufs > n)
		n = (unsigned int)app->opt.rx_mbufs;
	n = rte_align32pow2(n) - 1;
	snprintf(name, sizeof(name), "dv_mbuf_%u", w);
	app->pools[w] = rte_pktmbuf_pool_create(name, n, POOL_CACHE, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
						(int)rte_lcore_to_socket_id(app->worker_lcore[w]));
	if (app->pools[w] == NULL)
		snprintf(err, errlen, "cannot create mbuf pool of %u for worker %u: %s", n, w,
			 rte_strerror(rte_errno));
	return app->pools[w];
}

/* How a port's packets reach their workers. */
enum spread {
	SPREAD_RSS = 0,	     /* the NIC's symmetric RSS: queue i -> worker i */
	SPREAD_FANOUT = 1,   /* queue i -> worker i, which hands packets off (af_packet) */
	SPREAD_SOFTWARE = 2, /* worker 0 reads every queue and hands packets off */
	SPREAD_TUN = 3,	     /* queue i -> worker i, which hands packets off (net_tap) */
};

/* Whether a port's packets reach their owners by our address hash (read by
 * worker 0, or by each worker from the queue the kernel chose) rather than
 * by the NIC's RSS. */
static int spread_hands_off(enum spread s)
{
	return s != SPREAD_RSS;
}

static const char *const spread_name[] = {"RSS", "kernel fanout and hand-off",
					  "worker 0 and hand-off", "tap queues and hand-off"};

static uint64_t rss_types(const struct dv_app *app)
{
	return app->opt.rss_l4
		   ? (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP | RTE_ETH_RSS_SCTP)
		   : RTE_ETH_RSS_IP;
}

/* How port could spread over nw workers on its own. */
static enum spread port_spread(const struct dv_app *app, const struct rte_eth_dev_info *info,
			       uint32_t nw)
{
	/* net_tap offers RSS, but only through rte_flow rules: without them
	 * the kernel picks a queue for each packet from its symmetric flow
	 * hash (tun's automatic steering, as devourer never transmits), with
	 * ports for a whole packet and without for a fragment. */
	if (strcmp(info->driver_name, "net_tap") == 0)
		return nw > 1 && info->max_rx_queues >= nw ? SPREAD_TUN : SPREAD_SOFTWARE;
	if (nw > 1 && (info->flow_type_rss_offloads & rss_types(app)) && info->max_rx_queues >= nw)
		return SPREAD_RSS;
	if (kernel_fanout_driver(info->driver_name) && info->max_rx_queues >= nw)
		return SPREAD_FANOUT;
	return SPREAD_SOFTWARE;
}

/* `mixed`: the ports disagree on how they spread, so this one is read by
 * worker 0 whatever it could do (see dv_ports_setup). Returns how the port
 * spreads (enum spread), or -1 with err. */
static int setup_port(struct dv_app *app, uint16_t port, int mixed, int want_ts, char *err,
		      size_t errlen)
{
	struct rte_eth_dev_info info;
	struct rte_eth_conf conf;
	uint64_t want_hf = rss_types(app);
	uint32_t nw = app->n_workers;
	uint16_t nq, ntx = 1, rxd = RX_DESC, txd = TX_DESC;
	enum spread spread;
	int rc, ts;
	char name[RTE_ETH_NAME_MAX_LEN] = "";

	rte_eth_dev_get_name_by_port(port, name);
	rc = rte_eth_dev_info_get(port, &info);
	if (rc != 0) {
		snprintf(err, errlen, "port %u (%s): cannot get device info: %s", port, name,
			 strerror(-rc));
		return -1;
	}
	memset(&conf, 0, sizeof(conf));
	spread = mixed ? SPREAD_SOFTWARE : port_spread(app, &info, nw);
	if (spread == SPREAD_RSS) {
		nq = (uint16_t)nw;
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_key = sym_key;
		conf.rx_adv_conf.rss_conf.rss_key_len =
		    info.hash_key_size ? info.hash_key_size : 40;
		if (conf.rx_adv_conf.rss_conf.rss_key_len > sizeof(sym_key))
			conf.rx_adv_conf.rss_conf.rss_key_len = sizeof(sym_key);
		conf.rx_adv_conf.rss_conf.rss_hf = want_hf & info.flow_type_rss_offloads;
	} else if (spread == SPREAD_FANOUT || spread == SPREAD_TUN) {
		nq = (uint16_t)nw;
		if (spread == SPREAD_TUN)
			ntx = nq; /* net_tap takes only as many RX queues as TX queues */
	} else {
		nq = queues_are_inputs(info.driver_name) ? info.max_rx_queues : 1;
		if (nq == 0 || nq > DV_MAX_RXQ)
			nq = 1;
	}
	ts = want_ts && (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TIMESTAMP);
	if (ts)
		conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_TIMESTAMP;
	rc = rte_eth_dev_configure(port, nq, ntx, &conf);
	if (rc != 0) {
		snprintf(err, errlen, "port %u (%s): cannot configure %u RX queues: %s", port, name,
			 nq, strerror(-rc));
		return -1;
	}
	rte_eth_dev_adjust_nb_rx_tx_desc(port, &rxd, &txd);
	for (uint16_t q = 0; q < nq; q++) {
		uint32_t owner = spread == SPREAD_SOFTWARE ? 0 : q;
		struct rte_mempool *mp = worker_pool(app, owner, err, errlen);

		if (mp == NULL)
			return -1;
		rc = rte_eth_rx_queue_setup(port, q, rxd, rte_eth_dev_socket_id(port), NULL, mp);
		if (rc != 0) {
			snprintf(err, errlen, "port %u (%s): RX queue %u: %s", port, name, q,
				 strerror(-rc));
			return -1;
		}
		if (add_rxq(&app->worker_cfg[owner], port, q, spread_hands_off(spread) && nw > 1,
			    ts, err, errlen))
			return -1;
	}
	for (uint16_t q = 0; q < ntx; q++) {
		rc = rte_eth_tx_queue_setup(port, q, txd, rte_eth_dev_socket_id(port), NULL);
		if (rc != 0) {
			snprintf(err, errlen, "port %u (%s): TX queue %u: %s", port, name, q,
				 strerror(-rc));
			return -1;
		}
	}
	DV_LOG(INFO, "port %u (%s, %s): %u RX queue(s), %s", port, name, info.driver_name, nq,
	       spread == SPREAD_SOFTWARE ? "read by worker 0, handed off by hash"
	       : spread == SPREAD_RSS	 ? "one per worker"
					 : "one per worker, handed off by hash");
	return (int)spread;
}

/*
 * The sockets an af_packet port reads, which the PMD keeps to itself: every
 * AF_PACKET socket of this process bound to the port's interface (the PMD
 * opens them when the device is probed and closes them when it stops) and
 * not already another port's. Only their drop counts are read
 * (dv_port_sockets_drops).
 */
static int socket_claimed(const struct dv_app *app, int fd)
{
	for (uint16_t i = 0; i < app->n_ports; i++)
		for (uint16_t j = 0; j < app->port_socks[i].n; j++)
			if (app->port_socks[i].fd[j] == fd)
				return 1;
	return 0;
}

static void find_packet_sockets(const struct dv_app *app, uint16_t port, struct dv_port_sockets *ps)
{
	struct rte_eth_dev_info info;
	struct dirent *e;
	DIR *d;

	ps->n = 0;
	ps->drops = 0;
	ps->if_index = 0;
	if (rte_eth_dev_info_get(port, &info) != 0 ||
	    strcmp(info.driver_name, "net_af_packet") != 0)
		return;
	ps->if_index = info.if_index;
	d = opendir("/proc/self/fd");
	/* The PMD opens a socket per queue pair, a port's after another's,
	 * so each port takes as many as it has queues, lowest first. */
	while (d != NULL && (e = readdir(d)) != NULL && ps->n < DV_MAX_RXQ &&
	       ps->n < info.max_rx_queues) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);
		struct sockaddr_ll ll;
		socklen_t len = sizeof(int), ll_len = sizeof(ll);
		int domain = 0;

		if (end == e->d_name || *end != '\0' || fd == dirfd(d) ||
		    socket_claimed(app, (int)fd))
			continue;
		if (getsockopt((int)fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 ||
		    domain != AF_PACKET)
			continue;
		if (getsockname((int)fd, (struct sockaddr *)&ll, &ll_len) != 0 ||
		    ll.sll_ifindex <= 0 || (uint32_t)ll.sll_ifindex != info.if_index)
			continue;
		ps->fd[ps->n++] = (int)fd;
	}
	if (d != NULL)
		closedir(d);
	if (ps->n == 0)
		DV_LOG(WARNING,
		       "port %u (af_packet): its sockets were not found, so frames the "
		       "kernel drops when their rings are full are not counted in imissed",
		       port);
	else
		DV_LOG(NOTICE,
		       "port %u (af_packet): imissed counts the kernel's drops on its %u "
		       "sockets",
		       port, ps->n);
}

uint64_t dv_port_sockets_drops(struct dv_port_sockets *ps)
{
	uint16_t n = __atomic_load_n(&ps->n, __ATOMIC_ACQUIRE);

	for (uint16_t i = 0; i < n; i++) {
		struct tpacket_stats_v3 st; /* a TPACKET_V2 socket fills its first part */
		socklen_t len = sizeof(st);

		if (getsockopt(ps->fd[i], SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0)
			__atomic_fetch_add(&ps->drops, st.tp_drops, __ATOMIC_RELAXED);
	}
	return __atomic_load_n(&ps->drops, __ATOMIC_RELAXED);
}

/* ---- kernel interfaces (--interface) ---- */

/*
 * The most of a frame DPDK 22.11's af_packet port hands over: its ring
 * frames are 2048 bytes, 66 of them taken by the kernel's packet header,
 * and the PMD gives the captured length as the frame's length (measured:
 * a 4042-byte frame became a 1982-byte packet).
 */
#define IFACE_FRAME_MAX 1982

static void ifreq_named(struct ifreq *ifr, const char *name)
{
	memset(ifr, 0, sizeof(*ifr));
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", name);
}

/* One ethtool "get" on interface name; its value, or -1. */
static int iface_ethtool_get(int fd, const char *name, uint32_t cmd)
{
	struct ethtool_value ev = {.cmd = cmd};
	struct ifreq ifr;

	ifreq_named(&ifr, name);
	ifr.ifr_data = (void *)&ev;
	return ioctl(fd, SIOCETHTOOL, &ifr) == 0 ? (int)ev.data : -1;
}

/*
 * Frames longer than IFACE_FRAME_MAX reach devourer cut to that length and
 * counted as that length. Say so at start when the interface will deliver
 * them: an MTU whose frames (Ethernet header and a VLAN tag included) are
 * longer, or receive offloads that coalesce TCP segments into one large
 * packet before af_packet sees it (GRO, LRO; on by default on many NICs,
 * so tcpdump shows packets longer than the MTU).
 */
static void check_interface(const char *name)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq ifr;
	int v;

	if (fd < 0)
		return;
	ifreq_named(&ifr, name);
	if (ioctl(fd, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu + 18 > IFACE_FRAME_MAX)
		DV_LOG(WARNING,
		       "--interface %s: MTU %d: af_packet hands devourer at most %d bytes of a "
		       "frame, so longer frames are counted as %d bytes (rows undercount them)",
		       name, ifr.ifr_mtu, IFACE_FRAME_MAX, IFACE_FRAME_MAX);
	v = iface_ethtool_get(fd, name, ETHTOOL_GGRO);
	if (v > 0)
		DV_LOG(WARNING,
		       "--interface %s: generic receive offload is on: the kernel joins TCP "
		       "segments into one packet before devourer sees it, counted as one packet "
		       "of at most %d bytes; for exact counts: ethtool -K %s gro off",
		       name, IFACE_FRAME_MAX, name);
	v = iface_ethtool_get(fd, name, ETHTOOL_GFLAGS);
	if (v > 0 && (v & ETH_FLAG_LRO))
		DV_LOG(WARNING,
		       "--interface %s: large receive offload is on: the NIC joins TCP segments "
		       "into one packet, counted as one packet of at most %d bytes; for exact "
		       "counts: ethtool -K %s lro off",
		       name, IFACE_FRAME_MAX, name);
	close(fd);
}

/*
 * -i IFACE: an af_packet port with a queue pair per worker lcore. Made after
 * the EAL is up, when the worker count is known whether devourer chose the
 * lcores or the user did (-l, --lcores), and before dv_ports_setup(), which
 * configures it as any other port.
 */
int dv_ports_open_interface(struct dv_app *app, char *err, size_t errlen)
{
	char devargs[256];
	int rc;

	snprintf(devargs, sizeof(devargs), "net_af_packet0,iface=%s,qpairs=%u", app->opt.interface,
		 app->n_workers);
	rc = rte_dev_probe(devargs);
	if (rc < 0) {
		snprintf(err, errlen, "--interface %s: cannot open it as an af_packet port: %s",
			 app->opt.interface, rte_strerror(-rc));
		return -1;
	}
	check_interface(app->opt.interface);
	return 0;
}

/* ---- every port ---- */

int dv_ports_setup(struct dv_app *app, char *err, size_t errlen)
{
	uint16_t port;
	int want_ts;

	for (size_t i = 0; i < sizeof(sym_key); i += 2) {
		sym_key[i] = 0x6d;
		sym_key[i + 1] = 0x5a;
	}
	if (app->opt.n_read > 0 || app->opt.drain_spool)
		return 0; /* no live input */
	want_ts = app->opt.clock == DV_CLOCK_OPT_PACKET;
	/* One spreading function for all ports (see the top of this file). */
	enum spread first = SPREAD_SOFTWARE;
	uint16_t first_port = 0;
	int seen = 0, mixed = 0;

	RTE_ETH_FOREACH_DEV (port) {
		struct rte_eth_dev_info info;
		enum spread s;

		if (rte_eth_dev_info_get(port, &info) != 0)
			continue; /* setup_port reports it */
		s = port_spread(app, &info, app->n_workers);
		if (!seen) {
			seen = 1;
			first = s;
			first_port = port;
		} else if (s != first && !mixed && app->n_workers > 1) {
			mixed = 1;
			DV_LOG(WARNING,
			       "port %u spreads packets by %s and port %u by %s: both directions "
			       "of a flow could reach different workers, so every port is read "
			       "by worker 0 and handed off by one hash (slower; use ports of "
			       "one kind, or one worker)",
			       first_port, spread_name[first], port, spread_name[s]);
		}
	}
	RTE_ETH_FOREACH_DEV (port) {
		if (app->n_ports >= DV_MAX_PORTS) {
			snprintf(err, errlen, "more than %d ports", DV_MAX_PORTS);
			return -1;
		}
		int spread = setup_port(app, port, mixed, want_ts, err, errlen);

		if (spread < 0)
			return -1;
		app->port_rss[app->n_ports] = spread == SPREAD_RSS;
		find_packet_sockets(app, port, &app->port_socks[app->n_ports]);
		app->ports[app->n_ports++] = port;
	}
	if (app->n_ports == 0) {
		snprintf(err, errlen,
			 "no ports: bind NICs to DPDK (dpdk-devbind.py), add --vdev, "
			 "or use --interface IFACE or --read FILE");
		return -1;
	}
	if (want_ts) {
		int off = rte_mbuf_dynfield_lookup(RTE_MBUF_DYNFIELD_TIMESTAMP_NAME, NULL);
		int bit = rte_mbuf_dynflag_lookup(RTE_MBUF_DYNFLAG_RX_TIMESTAMP_NAME, NULL);

		for (uint32_t i = 0; i < app->n_workers; i++) {
			app->worker_cfg[i].ts_dynfield_offset = off;
			app->worker_cfg[i].ts_dynflag = bit >= 0 ? 1ULL << bit : 0;
		}
	}
	/* Nobody hands packets off when no port is shared: the workers then
	 * need not look at their input rings at all. */
	int handoff = 0;

	for (uint32_t i = 0; i < app->n_workers; i++)
		for (uint16_t q = 0; q < app->worker_cfg[i].n_rxq; q++)
			handoff |= app->worker_cfg[i].rxq[q].distribute;
	/* Nor when no packet is tunnelled: one is handed to its inner flow's
	 * worker, wherever RSS (which hashes the outer headers) put it. */
	if (app->opt.decap && app->n_workers > 1)
		handoff = 1;
	if (!handoff)
		for (uint32_t i = 0; i < app->n_workers; i++)
			app->worker_cfg[i].in_ring = NULL;
	memcpy(app->ctl.ports, app->ports, sizeof(app->ports));
	app->ctl.n_ports = app->n_ports;
	app->ctl.socks = app->port_socks;
	app->ctl.pools = app->pools;
	return 0;
}

/* A table of `size` entries as DPDK passes it: groups of 64, every entry's
 * mask bit set (a query fills only the entries whose bit is set). */
static void reta_conf_init(struct rte_eth_rss_reta_entry64 *conf, uint32_t size)
{
	memset(conf, 0, sizeof(*conf) * (DV_RETA_MAX / RTE_ETH_RETA_GROUP_SIZE));
	for (uint32_t e = 0; e < size; e++)
		conf[e / RTE_ETH_RETA_GROUP_SIZE].mask |= 1ULL << (e % RTE_ETH_RETA_GROUP_SIZE);
}

/* Port `port`'s RSS redirection table into t; its size, or 0 (and a
 * reason in why) when it cannot be read or is not of a size dv_reta takes. */
static uint32_t reta_read(uint16_t port, uint16_t *t, const char **why)
{
	struct rte_eth_rss_reta_entry64 conf[DV_RETA_MAX / RTE_ETH_RETA_GROUP_SIZE];
	struct rte_eth_dev_info info;
	uint32_t size;
	int rc;

	if (rte_eth_dev_info_get(port, &info) != 0) {
		*why = "no device info";
		return 0;
	}
	size = info.reta_size;
	if (!dv_reta_size_ok(size)) {
		*why = size == 0 ? "the device reports no table" : "its size is not a power of two";
		return 0;
	}
	reta_conf_init(conf, size);
	rc = rte_eth_dev_rss_reta_query(port, conf, (uint16_t)size);
	if (rc != 0) {
		*why = rc == -ENOTSUP ? "the PMD cannot read it" : "reading it failed";
		return 0;
	}
	for (uint32_t e = 0; e < size; e++)
		t[e] = conf[e / RTE_ETH_RETA_GROUP_SIZE].reta[e % RTE_ETH_RETA_GROUP_SIZE];
	return size;
}

static int reta_write(uint16_t port, const uint16_t *t, uint32_t size)
{
	struct rte_eth_rss_reta_entry64 conf[DV_RETA_MAX / RTE_ETH_RETA_GROUP_SIZE];

	reta_conf_init(conf, size);
	for (uint32_t e = 0; e < size; e++)
		conf[e / RTE_ETH_RETA_GROUP_SIZE].reta[e % RTE_ETH_RETA_GROUP_SIZE] = t[e];
	return rte_eth_dev_rss_reta_update(port, conf, (uint16_t)size);
}

/* Read the RSS ports' tables; n of them read, into tab/size/idx. Logs a
 * warning for a port whose table cannot be read. */
static uint32_t reta_read_all(struct dv_app *app, uint16_t (*tab)[DV_RETA_MAX], uint32_t *size,
			      uint16_t *idx, int *unreadable)
{
	uint32_t n = 0;

	*unreadable = 0;
	for (uint16_t i = 0; i < app->n_ports; i++) {
		const char *why = "";

		if (!app->port_rss[i])
			continue;
		size[n] = reta_read(app->ports[i], tab[n], &why);
		if (size[n] == 0) {
			DV_LOG(WARNING,
			       "port %u: cannot check its RSS redirection table against the other "
			       "ports' (%s)",
			       app->ports[i], why);
			*unreadable = 1;
			continue;
		}
		idx[n++] = i;
	}
	return n;
}

/*
 * With two or more RSS ports, every hash must reach the same worker on each
 * (see dv_reta.h). The PMDs' default tables usually do; when they do not
 * (tables of different sizes and a worker count that is not a power of
 * two), they are written so that they do, read back and checked again.
 */
static void rss_tables_agree(struct dv_app *app)
{
	static uint16_t tab[DV_MAX_PORTS][DV_RETA_MAX];
	const uint16_t *tp[DV_MAX_PORTS];
	uint32_t size[DV_MAX_PORTS], n, common, h, a, b;
	uint16_t idx[DV_MAX_PORTS];
	int unreadable, rss_ports = 0;

	for (uint16_t i = 0; i < app->n_ports; i++)
		rss_ports += app->port_rss[i];
	if (rss_ports < 2)
		return; /* one port: a flow's one hash picks one entry of one table */
	n = reta_read_all(app, tab, size, idx, &unreadable);
	for (uint32_t p = 0; p < n; p++)
		tp[p] = tab[p];
	if (n < 2 || dv_reta_agree(tp, size, n, &h, &a, &b)) {
		if (n >= 2 && !unreadable)
			DV_LOG(INFO, "the RSS redirection tables of the %u RSS ports agree", n);
		return;
	}
	DV_LOG(NOTICE,
	       "port %u sends RSS hash %u to worker %u and port %u to worker %u: writing the "
	       "redirection tables so that both directions of a flow reach one worker",
	       app->ports[idx[a]], h, tab[a][h & (size[a] - 1)], app->ports[idx[b]],
	       tab[b][h & (size[b] - 1)]);
	common = size[0];
	for (uint32_t p = 1; p < n; p++)
		if (size[p] < common)
			common = size[p];
	if (common < app->n_workers)
		DV_LOG(WARNING,
		       "the smallest RSS redirection table has %u entries for %u workers: "
		       "workers %u and up get no packets from the RSS ports",
		       common, app->n_workers, common);
	for (uint32_t p = 0; p < n; p++) {
		int rc;

		dv_reta_fill(tab[p], size[p], common, (uint16_t)app->n_workers);
		rc = reta_write(app->ports[idx[p]], tab[p], size[p]);
		if (rc != 0)
			DV_LOG(WARNING, "port %u: cannot write its RSS redirection table: %s",
			       app->ports[idx[p]], strerror(-rc));
	}
	n = reta_read_all(app, tab, size, idx, &unreadable);
	if (n >= 2 && dv_reta_agree(tp, size, n, &h, &a, &b))
		DV_LOG(NOTICE, "the RSS redirection tables of the %u RSS ports now agree", n);
	else if (n >= 2)
		DV_LOG(WARNING,
		       "ports %u and %u still send RSS hash %u to different workers: the two "
		       "directions of a flow arriving on them can be counted as two flows; "
		       "use NICs of one model or a power-of-two number of workers",
		       app->ports[idx[a]], app->ports[idx[b]], h);
}

/* The link of an af_packet port's interface (if_index): DPDK 22.11's PMD
 * always says up, so ask the kernel whether it is up and running. 1 up,
 * 0 down, -1 unknown. */
static int kernel_link_up(uint32_t if_index)
{
	struct ifreq ifr;
	int fd, rc = -1;

	memset(&ifr, 0, sizeof(ifr));
	if (if_indextoname(if_index, ifr.ifr_name) == NULL)
		return -1;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0)
		rc = (ifr.ifr_flags & IFF_UP) && (ifr.ifr_flags & IFF_RUNNING);
	close(fd);
	return rc;
}

/* Port i's link as the PMD says, or as the kernel says for af_packet. */
static int port_link(const struct dv_app *app, uint16_t i, struct rte_eth_link *link)
{
	uint32_t if_index = app->port_socks[i].if_index;
	int kernel = if_index != 0 ? kernel_link_up(if_index) : -1;
	int rc = rte_eth_link_get_nowait(app->ports[i], link);

	if (rc == 0 && kernel >= 0)
		link->link_status = kernel ? RTE_ETH_LINK_UP : RTE_ETH_LINK_DOWN;
	return rc;
}

int dv_ports_start(struct dv_app *app, char *err, size_t errlen)
{
	for (uint16_t i = 0; i < app->n_ports; i++) {
		uint16_t port = app->ports[i];
		struct rte_eth_link link;
		int rc = rte_eth_dev_start(port);

		if (rc != 0) {
			snprintf(err, errlen, "port %u: cannot start: %s", port, strerror(-rc));
			return -1;
		}
		rc = rte_eth_promiscuous_enable(port);
		if (rc != 0 && rc != -ENOTSUP)
			DV_LOG(WARNING, "port %u: promiscuous mode: %s", port, strerror(-rc));
		if (port_link(app, i, &link) == 0) {
			char text[RTE_ETH_LINK_MAX_STR_LEN];

			rte_eth_link_to_str(text, sizeof(text), &link);
			DV_LOG(NOTICE, "port %u: %s", port, text);
			app->link_up[i] = link.link_status == RTE_ETH_LINK_UP;
		}
	}
	app->ports_started = 1;
	if (app->n_workers > 1)
		rss_tables_agree(app);
	return 0;
}

void dv_ports_watch_links(struct dv_app *app, uint64_t mono)
{
	if (!app->ports_started || mono < app->link_check_at)
		return;
	app->link_check_at = mono + DV_NS_PER_SEC;
	for (uint16_t i = 0; i < app->n_ports; i++) {
		struct rte_eth_link link;
		char text[RTE_ETH_LINK_MAX_STR_LEN];
		uint8_t up;

		if (port_link(app, i, &link) != 0)
			continue;
		up = link.link_status == RTE_ETH_LINK_UP;
		if (up == app->link_up[i])
			continue;
		app->link_up[i] = up;
		rte_eth_link_to_str(text, sizeof(text), &link);
		if (up)
			DV_LOG(NOTICE, "port %u: %s", app->ports[i], text);
		else
			DV_LOG(WARNING, "port %u: %s: no packets until it comes back",
			       app->ports[i], text);
	}
}

void dv_ports_stop(struct dv_app *app)
{
	if (!app->ports_started)
		return;
	for (uint16_t i = 0; i < app->n_ports; i++) {
		/* The last drops, before the PMD closes its sockets. */
		dv_port_sockets_drops(&app->port_socks[i]);
		__atomic_store_n(&app->port_socks[i].n, 0, __ATOMIC_RELEASE);
		rte_eth_dev_stop(app->ports[i]);
	}
	app->ports_started = 0;
}

void dv_ports_close(struct dv_app *app)
{
	dv_ports_stop(app);
	for (uint16_t i = 0; i < app->n_ports; i++)
		rte_eth_dev_close(app->ports[i]);
	app->n_ports = 0;
	for (uint32_t w = 0; w < DV_MAX_WORKERS; w++) {
		rte_mempool_free(app->pools[w]);
		app->pools[w] = NULL;
	}
}
