/*
 * ports: live input. Every probed ethdev (PCI NICs bound to DPDK, vdevs such
 * as net_pcap, net_ring, net_memif, net_af_packet) gets one RX queue per
 * worker where the device allows it, with symmetric RSS; a port with fewer
 * queues is polled by worker 0, which hands packets to their owners.
 */
#ifndef DV_APP_PORTS_H
#define DV_APP_PORTS_H

#include <stddef.h>
#include <stdint.h>

struct dv_app;

/* Configure every port and assign its queues to workers. 0 or -1 with err. */
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
