/*
 * ports: live input. Every probed ethdev (PCI NICs bound to DPDK, vdevs such
 * as net_pcap, net_ring, net_memif, net_af_packet) gets one RX queue per
 * worker where the device allows it, with symmetric RSS; a port with fewer
 * queues is polled by worker 0, which hands packets to their owners. Also
 * what only a kernel interface (--interface, af_packet) needs: opening it,
 * the warnings about frames it will cut, and its sockets' drop counts.
 */
#ifndef DV_APP_PORTS_H
#define DV_APP_PORTS_H

#include <stddef.h>
#include <stdint.h>

#include "dv_worker.h"

#define DV_MAX_PORTS 32

struct dv_app;

/*
 * The packet sockets of an af_packet port. The kernel counts the frames it
 * drops because a socket's ring is full (PACKET_STATISTICS); DPDK 22.11's
 * af_packet PMD does not report them, so the control lcore reads them and
 * adds them to the port's imissed. A read resets the kernel's count, so the
 * reads are summed here (atomically: telemetry reads too).
 */
struct dv_port_sockets {
	int fd[DV_MAX_RXQ];
	uint16_t n;	   /* 0 once the port is stopped (the PMD closes them) */
	uint32_t if_index; /* the kernel interface of an af_packet port, else 0 */
	uint64_t drops;	   /* summed tp_drops */
};

/* Add what the kernel dropped since the last read on the port's sockets to
 * ps->drops; returns ps->drops. */
uint64_t dv_port_sockets_drops(struct dv_port_sockets *ps);

/* -i IFACE: probe an af_packet port with a queue pair per worker, and warn
 * about what the interface will cut. 0 or -1 with err. */
int dv_ports_open_interface(struct dv_app *app, char *err, size_t errlen);

/* Configure every port and assign its queues to the workers' configs
 * (app->worker_cfg). 0 or -1 with err. */
int dv_ports_setup(struct dv_app *app, char *err, size_t errlen);

/* Start the ports (after the workers' rings exist). 0 or -1 with err. */
int dv_ports_start(struct dv_app *app, char *err, size_t errlen);

/* Log every port whose link went down or came up since the last look; looks
 * at most once a second (mono: monotonic ns). */
void dv_ports_watch_links(struct dv_app *app, uint64_t mono);

/* Stop receiving (after the workers stopped polling). */
void dv_ports_stop(struct dv_app *app);

/* Close the ports and free their mempools. */
void dv_ports_close(struct dv_app *app);

#endif
