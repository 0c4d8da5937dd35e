/*
 * fuzz_common: what the libFuzzer harnesses in tests/fuzz share.
 *
 * Each harness is one input boundary of the program (a frame, a sequence of
 * frames, a capture file, a command line with its environment and config
 * file, a spool segment). It is built twice: with -Dfuzz=true against
 * libFuzzer (scripts/fuzz runs it), and in a plain test build against
 * replay_main.c, which feeds it the kept inputs of tests/fuzz/regressions.
 * A broken invariant is reported by dv_fuzz_fail(), which aborts, so
 * libFuzzer keeps the input as a crash file and the replay test fails.
 */
#ifndef DV_FUZZ_COMMON_H
#define DV_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "dv_parse.h"

/* The link types dv_parse() supports, in the order a frame's leading byte
 * picks them (byte % DV_FUZZ_N_LINKTYPES); scripts/fuzz's seed extraction
 * writes the same index. */
static const int dv_fuzz_linktypes[] = {
    DV_LINK_NULL, DV_LINK_ETHERNET, DV_LINK_RAW,  DV_LINK_LOOP,
    DV_LINK_SLL,  DV_LINK_IPV4,	    DV_LINK_IPV6, DV_LINK_SLL2,
};
#define DV_FUZZ_N_LINKTYPES (sizeof(dv_fuzz_linktypes) / sizeof(dv_fuzz_linktypes[0]))

static inline int dv_fuzz_linktype(uint8_t b)
{
	return dv_fuzz_linktypes[b % DV_FUZZ_N_LINKTYPES];
}

/* A broken invariant: say which, and abort (a crash for libFuzzer). */
#define dv_fuzz_fail(...)                                                                          \
	do {                                                                                       \
		fprintf(stderr, "fuzz invariant broken at %s:%d: ", __FILE__, __LINE__);           \
		fprintf(stderr, __VA_ARGS__);                                                      \
		fprintf(stderr, "\n");                                                             \
		abort();                                                                           \
	} while (0)

#define dv_fuzz_check(cond, ...)                                                                   \
	do {                                                                                       \
		if (!(cond))                                                                       \
			dv_fuzz_fail(__VA_ARGS__);                                                 \
	} while (0)

/* A private scratch directory for this process, on tmpfs when there is one
 * (the file harnesses write every input), removed at exit.
 * DV_FUZZ_SCRATCH names another base directory. */
const char *dv_fuzz_scratch_dir(void);

/* Remove everything inside dir (not dir itself); one level of
 * subdirectories. */
void dv_fuzz_empty_dir(const char *dir);

/* Write data to path (created or truncated); aborts on failure. */
void dv_fuzz_write_file(const char *path, const uint8_t *data, size_t size);

/* Start the EAL once (one lcore, no hugepages, no PCI, no shared
 * config), for the harnesses
 * whose code takes DPDK memory. */
void dv_fuzz_eal_init(void);

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
