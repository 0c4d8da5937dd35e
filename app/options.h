/*
 * options: the program's configuration, from the command line, DEVOURER_*
 * environment variables and a --config file (in that order of precedence),
 * parsed and validated in one place before anything starts; and the syntax
 * of option values a user types (durations, sizes), which the library does
 * not know.
 */
#ifndef DV_APP_OPTIONS_H
#define DV_APP_OPTIONS_H

#include <stdint.h>

#include "dv_parse.h"

#define DV_MAX_READ_FILES 256

enum dv_output {
	DV_OUT_STDOUT = 1 << 0,
	DV_OUT_FILE = 1 << 1,
	DV_OUT_BIGQUERY = 1 << 2,
};

enum dv_clock_opt {
	DV_CLOCK_OPT_AUTO = 0,
	DV_CLOCK_OPT_PACKET,
	DV_CLOCK_OPT_SYSTEM,
};

struct dv_options {
	/* input */
	const char *read_files[DV_MAX_READ_FILES];
	unsigned int n_read;
	const char *interface;
	unsigned int workers;
	int rss_l4; /* --rss ip-l4 */

	/* output */
	unsigned int outputs; /* enum dv_output bits; 0 = default */
	const char *write_file;
	uint64_t stat_interval_ns;
	const char *sensor;
	uint32_t log_level; /* RTE_LOG_* */

	/* flows */
	uint64_t flow_timeout_ns;
	uint64_t active_timeout_ns;
	uint64_t tcp_close_timeout_ns;
	uint64_t max_flows;
	uint64_t rx_mbufs; /* mbufs per worker pool; 0: from the descriptors */
	enum dv_clock_opt clock;

	/* tunnels (docs/tunnels.md) */
	int decap;		       /* --decap on|off */
	struct dv_decap_cfg decap_cfg; /* the overlay ports, --decap-depth */

	/* flow context (docs/flow-context.md) */
	int flow_context;	    /* --flow-context on|off */
	uint16_t community_id_seed; /* --community-id-seed */

	/* delivery */
	const char *spool_dir;
	const char *dead_letter;
	uint64_t spool_max_bytes;
	uint64_t shutdown_timeout_ns;
	int drain_spool;
	int write_ahead; /* spool every row before sending (crash-safe) */
	uint64_t spool_commit_interval_ns;

	/* BigQuery */
	const char *bq_project;
	const char *bq_dataset;
	const char *bq_table;
	const char *bq_sa_key_file;
	const char *bq_sa_key_data; /* a secret: never printed */
	const char *bq_auth;
	const char *bq_endpoint;
	const char *bq_api; /* "insertall" or "storage" */
	const char *bq_storage_endpoint;
	const char *bq_token_uri;
	const char *bq_ca_file;
	uint64_t bq_batch_rows;
	uint64_t bq_flush_interval_ns;
	uint64_t bq_max_inflight;

	const char *config_file;
	int go_command; /* the Go tool's command word (capture, c) was given */
	int help;
	int version;
};

/*
 * Fill o from argv (devourer's own arguments, after the EAL's), the
 * environment and the config file. argv[1] may be the Go tool's command
 * word, "capture" or "c": it is skipped (o->go_command says it was there).
 * Returns 0, 1 if --help or --version was asked for (o->help, o->version),
 * or -1 with one line in err (exit status 2).
 */
int dv_options_parse(struct dv_options *o, int argc, char **argv, char *err, size_t errlen);

/* Print --help to stdout. */
void dv_options_usage(const char *prog);

/* Parse "500ms", "10s", "2m", "1h", "1d", "250us", "5ns" or a plain number of
 * seconds (fractions allowed) into ns. Returns 0, or -EINVAL / -ERANGE. */
int dv_duration_parse(const char *s, uint64_t *ns);

/* Parse a byte size: "1024", "64KiB", "10GiB", "5MB" (SI and IEC). 0 or -EINVAL/-ERANGE. */
int dv_size_parse(const char *s, uint64_t *bytes);

/* Name of the log level for a RTE_LOG_* value. */
const char *dv_log_level_name(uint32_t level);

#endif
