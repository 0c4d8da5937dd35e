/*
 * guarded.h: bytes for a reader under test put at the very end of writable
 * memory with an inaccessible page right after them, so that reading one
 * byte past them faults. The payload readers (dv_dns, dv_tls, dv_http,
 * dv_quic) are checked this way, their input cut at every length.
 * Include it after <cmocka.h>.
 */
#ifndef DV_TEST_GUARDED_H
#define DV_TEST_GUARDED_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct guarded {
	uint8_t *map; /* NULL until the first guarded_put() */
	size_t size;  /* writable bytes before the guard page */
};

/* Copies b[0..len) to the end of g's writable pages (pages of them, made at
 * the first call and kept) and returns where the copy starts. */
static inline const uint8_t *guarded_put(struct guarded *g, size_t pages, const void *b, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	if (g->map == NULL) {
		g->size = pages * page;
		g->map = mmap(NULL, g->size + page, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		assert_true(g->map != MAP_FAILED);
		assert_int_equal(mprotect(g->map + g->size, page, PROT_NONE), 0);
	}
	assert_true(len <= g->size);
	memcpy(g->map + g->size - len, b, len);
	return g->map + g->size - len;
}

static inline void guarded_free(struct guarded *g)
{
	if (g->map != NULL)
		munmap(g->map, g->size + (size_t)sysconf(_SC_PAGESIZE));
	g->map = NULL;
}

#endif
