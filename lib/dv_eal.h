/*
 * dv_eal: leaving the EAL tidily.
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

/* rte_eal_cleanup(); then, if own_prefix, remove the runtime directory.
 * Returns rte_eal_cleanup()'s result. */
int dv_eal_cleanup(int own_prefix);

#endif
