/*
 * dv_eal: starting the EAL quickly, leaving it tidily.
 *
 * DPDK 22.11 measures the TSC's rate at start-up by sleeping 100 ms between
 * two readings when the CPU does not state it (AMD, most virtual machines):
 * half the start-up of a short --read. dv_eal_tsc_hz() measures it in
 * 2 ms, as exactly as it is kept: each end is a clock reading between two
 * TSC reads, the closest of a few pairs (tens of ns apart), so a
 * preemption at either end costs nothing (the EAL's own reading has no
 * such guard): an error near 1e-4 of the rate, where the result is rounded
 * to 10 MHz (0.4 % of 2.4 GHz) as the EAL rounds its own. The program's
 * static DPDK is linked to it in place of the EAL's
 * (-Wl,--wrap=get_tsc_freq, meson.build), and there the window starts
 * before main, so it has passed by the time the EAL asks (no sleep: 10 ms
 * of a 30 ms start-up when it was 10 ms counted from the EAL's asking); a
 * shared DPDK keeps its own. The EAL's probe of every lcore it could have (RTE_MAX_LCORE:
 * an access() of a sysfs path for each, and one per NUMA node) skips the
 * lcores past the last CPU the kernel can have, the same way.
 *
 * rte_eal_cleanup() leaves the runtime directory of the file prefix behind
 * (/var/run/dpdk/<prefix>: config, telemetry socket). A process that made up
 * its own prefix (the program without EAL options, every test) owns that
 * directory and removes it, so months of restarts or thousands of test runs
 * leave no litter. A prefix given by the user may be shared by other
 * processes and is left alone.
 */
#ifndef DV_EAL_H
#define DV_EAL_H

#include <stdint.h>

#define DV_EAL_TSC_WINDOW_NS 2000000ULL /* the program's measuring window */

/* The TSC's rate in Hz, measured over window_ns against CLOCK_MONOTONIC_RAW
 * and rounded to 10 MHz; 0 if the clock cannot be read. */
uint64_t dv_eal_tsc_hz(uint64_t window_ns);

/*
 * The EAL's lcore probes as the static program has them (lib/dv_eal.c,
 * -Wl,--wrap=eal_cpu_detected,--wrap=eal_cpu_socket_id): whether the CPU
 * of lcore_id exists, and its NUMA node; the EAL's answers, without a
 * system call for an lcore past the last possible CPU.
 */
int __wrap_eal_cpu_detected(unsigned int lcore_id);
unsigned int __wrap_eal_cpu_socket_id(unsigned int lcore_id);

/* rte_eal_cleanup(); then, if own_prefix, remove the runtime directory.
 * Returns rte_eal_cleanup()'s result. */
int dv_eal_cleanup(int own_prefix);

#endif
