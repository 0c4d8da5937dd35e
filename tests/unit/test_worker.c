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
