/*
 * dv_reta: RSS redirection tables that send a flow to one worker on every
 * port.
 *
 * A NIC with RSS puts a packet in queue table[hash & (size - 1)]: the
 * table's size is a power of two on the NICs DPDK drives, and the hash
 * (the symmetric Toeplitz key, the same hash types) is the same on every
 * port. The two directions of a tapped link often arrive on two ports, so
 * they meet in one worker exactly when every port's table gives the same
 * queue for every hash. The PMDs' default table (entry e to queue e mod
 * queues) does so when the number of queues is a power of two, but not
 * otherwise once two ports' tables differ in size: with 3 queues, hash 128
 * goes to queue 0 through a table of 128 entries (entry 0) and to queue 2
 * through one of 512 (entry 128). app/ports.c reads every RSS port's table after start and, when
 * they disagree, writes them with dv_reta_fill().
 */
#ifndef DV_RETA_H
#define DV_RETA_H

#include <stdint.h>

#define DV_RETA_MAX 2048 /* the largest table a NIC DPDK drives has (ice) */

/* A table size this module can reason about: a power of two, 1..DV_RETA_MAX. */
int dv_reta_size_ok(uint32_t size);

/*
 * Whether n tables (table[p] of size[p] entries, each size_ok) send every
 * hash to the same queue. Returns 1, or 0 with a hash on which two of them
 * differ in *hash and the two tables' indices in *a and *b.
 */
int dv_reta_agree(const uint16_t *const table[], const uint32_t size[], uint32_t n, uint32_t *hash,
		  uint32_t *a, uint32_t *b);

/*
 * Fill a table of `size` entries for `queues` queues so that it agrees with
 * every other table filled for the same `common`, the smallest size among
 * them (common <= size, both size_ok): entry e goes to queue
 * (e mod common) mod queues. Each queue gets common / queues entries or one
 * more, as in the default table of that size.
 */
void dv_reta_fill(uint16_t *table, uint32_t size, uint32_t common, uint16_t queues);

#endif
