/*
 * dv_bq: the BigQuery sink. Rows are queued by write(), grouped into
 * tabledata.insertAll batches and sent by libcurl's multi interface from
 * poll(), so the control lcore never waits on the network. Startup work
 * (auth, datasets.get, tables.get/insert/patch) is done synchronously, with
 * bounded timeouts, by dv_bq_sink_create(), so a misconfiguration is one
 * clear line before capture starts.
 *
 * Environment read here because it is Google's convention, not devourer's:
 *   GOOGLE_APPLICATION_CREDENTIALS  key file for auth "auto" without a key
 *   GCE_METADATA_HOST               host[:port] of the metadata server
 *   BIGQUERY_EMULATOR_HOST          host:port (or URL) of an emulator; sets the
 *                                   endpoint when none is configured and makes
 *                                   auth "auto" without a key mean "none"
 * The DEVOURER_* variables are the program's (app/) business.
 *
 * Accounting (struct dv_sink_stats): rows_in + rows_recovered = delivered +
 * pending + dead + dropped after every call; rows_recovered are the rows
 * found in the spool at startup, rows_spooled the pending rows that only the
 * spool holds (not in memory). A row's fate is decided in one place per
 * outcome (see dv_bq_sink.c).
 *
 * Durability (dv_spool.h, docs/durability.md): rows not yet accepted live in
 * the spool directory. With write_ahead on (the default) every row is
 * group-committed there before or while it is sent, so after a kill -9 or a
 * crash every row written more than one commit interval before it is sent
 * on the next start (at least once, same insertId).
 */
#ifndef DV_BQ_H
#define DV_BQ_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "dv_sink.h"

/* Limits of the settings (insertAll takes at most 50,000 rows a request). */
#define DV_BQ_MAX_ROWS_PER_REQ 50000
#define DV_BQ_MAX_INFLIGHT     64

/* How rows go (dv_bq_api.h). */
enum dv_bq_api_kind {
	DV_BQ_API_INSERTALL = 0, /* tabledata.insertAll (REST streaming): the default for now */
	DV_BQ_API_STORAGE,	 /* the Storage Write API (gRPC), a COMMITTED stream with offsets;
				  * the default once it passes the fault matrix */
};

enum dv_bq_auth_mode {
	DV_BQ_AUTH_AUTO = 0, /* key if given, else GOOGLE_APPLICATION_CREDENTIALS, else metadata */
	DV_BQ_AUTH_KEY,	     /* service-account key: RS256 JWT exchanged at the token URI */
	DV_BQ_AUTH_METADATA, /* GCE metadata server */
	DV_BQ_AUTH_NONE,     /* no Authorization header (emulators) */
};

/* Log levels of the callback: the RTE_LOG_* numbers (3 error .. 8 debug). */
typedef void (*dv_bq_log_fn)(void *arg, int level, const char *msg);

/*
 * What the caller calls the settings a message points the user at, so a
 * program can name its options (e.g. "--bq-ca-file"). NULL: the library's
 * own words, in quotes below. Kept, not copied: pass strings that outlive
 * the sink (literals).
 */
struct dv_bq_names {
	const char *ca_file;	     /* "the ca_file setting": an untrusted server's CA */
	const char *sa_key;	     /* "sa_key_file or sa_key_data": auth key without a key */
	const char *spool_dir;	     /* "spool directory": the spool is locked by another */
	const char *spool_max_bytes; /* "spool size limit": the spool is full */
};

struct dv_bq_config {
	/* Destination */
	const char *project; /* required */
	const char *dataset; /* required, must exist */
	const char *table;   /* default "flow_logs"; created if missing */

	/* Auth */
	enum dv_bq_auth_mode auth;
	const char *sa_key_file;   /* service-account key JSON file */
	const char *sa_key_data;   /* or the JSON itself (wins over the file) */
	const char *token_uri;	   /* NULL: the key's token_uri */
	const char *metadata_host; /* NULL: GCE_METADATA_HOST, else metadata.google.internal */

	/* Transport */
	const char
	    *endpoint; /* NULL: BIGQUERY_EMULATOR_HOST, else https://bigquery.googleapis.com */
	const char *ca_file;	      /* extra trust anchor (PEM), added to the system CAs */
	const char *ca_path;	      /* directory of system CAs kept trusted with ca_file
				       * (default /etc/ssl/certs; see dv_bq_http.c for why) */
	const char *user_agent;	      /* NULL: "dpdk-devourer/<version>" */
	uint64_t connect_timeout_ns;  /* default 10 s */
	uint64_t request_timeout_ns;  /* one insertAll request, default 60 s */
	uint64_t startup_timeout_ns;  /* all startup requests together, default 30 s */
	enum dv_bq_api_kind api;      /* default DV_BQ_API_INSERTALL */
	const char *storage_endpoint; /* HOST:PORT of the Storage Write API; NULL:
				       * bigquerystorage.googleapis.com:443. TLS with ca_file
				       * (else the system's bundle); table work stays on REST */

	/* Batching */
	uint32_t batch_rows;	    /* default 500, at most DV_BQ_MAX_ROWS_PER_REQ */
	uint64_t flush_interval_ns; /* default 1 s */
	size_t batch_max_bytes;	    /* default 9 MB (the request limit is 10 MB) */
	uint32_t max_inflight;	    /* default 4, at most DV_BQ_MAX_INFLIGHT */
	size_t mem_max_bytes;	    /* rows held in memory; past it write() sends them to
				     * the spool only; default 512 MiB */

	/* Retries: exponential backoff with jitter between these bounds */
	uint64_t backoff_min_ns; /* default 1 s */
	uint64_t backoff_max_ns; /* default 60 s */

	/* Durability */
	const char *spool_dir;	      /* default /var/lib/devourer/spool; created if missing */
	const char *dead_letter;      /* NULL: <spool_dir>/dead-letter.ndjson */
	uint64_t spool_max_bytes;     /* default 10 GiB; past it new rows are dropped */
	uint64_t shutdown_timeout_ns; /* default 10 s; the caller passes now + this to drain() */
	int write_ahead;	      /* default 1: every row spooled before it is sent;
				       * 0: only rows that cannot be delivered now */
	uint64_t commit_interval_ns;  /* spool group commit (write + fdatasync), default 200 ms */

	/* Table management */
	int create_table; /* default 1: tables.insert on 404, tables.patch for missing columns */

	/* Logging: NULL logs through rte_log, logtype "devourer.bq". Never gets a secret. */
	dv_bq_log_fn log;
	void *log_arg;
	struct dv_bq_names names; /* default all NULL: the library's words */
};

/* "auto", "key", "metadata", "none" -> *m; 0 or -EINVAL. */
int dv_bq_auth_mode_parse(const char *s, enum dv_bq_auth_mode *m);

/* The names dv_bq_auth_mode_parse takes, "auto, key, metadata, none", into
 * buf (cut to len), for a message listing the choices; returns buf. */
const char *dv_bq_auth_mode_names(char *buf, size_t len);

/* Mode m's name ("key"). */
const char *dv_bq_auth_mode_name(enum dv_bq_auth_mode m);

/* Fill every field with its default (strings NULL where derived later): the
 * one place the library's defaults are written; a program starts from it. */
void dv_bq_config_init_defaults(struct dv_bq_config *c);

/*
 * Check the configuration, authenticate, check the dataset, create or patch
 * the table, open the dead-letter file, and return a sink ready for rows.
 * Blocks for at most about startup_timeout_ns. On failure NULL and one line
 * in err (never key material or a token).
 */
struct dv_sink *dv_bq_sink_create(const struct dv_bq_config *c, char *err, size_t errlen);

/*
 * Send every row in the spool (and in memory), e.g. for a program's
 * "drain the spool and exit" mode. 0 when nothing
 * is left; -ETIMEDOUT with one line in err when deadline_ns (system clock)
 * passed or BigQuery accepted no row for stall_ns (0: no such limit); the
 * rows not sent stay in the spool.
 */
int dv_bq_sink_drain_spool(struct dv_sink *s, uint64_t deadline_ns, uint64_t stall_ns, char *err,
			   size_t errlen);

/*
 * A flag (the program's signal flag) that bounds a long drain: once it is
 * non-zero while drain() runs, the deadline becomes at most that moment +
 * shutdown_timeout_ns. For a --read run that waits for every row (an hour's
 * deadline) and is then asked to stop. NULL: none.
 */
void dv_bq_sink_set_stop_flag(struct dv_sink *s, const volatile sig_atomic_t *flag);

/* Spool figures for logs, benchmarks and tests. */
struct dv_bq_spool_stats {
	int write_ahead;
	uint32_t segments;	/* segment files */
	uint64_t bytes;		/* record bytes on disk */
	uint64_t records;	/* records not yet accepted */
	uint64_t recovered;	/* rows found at startup */
	uint32_t corrupt_files; /* segments repaired at startup */
	uint64_t corrupt_bytes; /* bytes moved to .corrupt files */
	uint64_t appended;	/* rows appended since startup */
	uint64_t replayed;	/* rows read back from disk */
	uint64_t commits;	/* group commits (write + fdatasync) */
	uint64_t commit_ns_avg, commit_ns_max;
};
void dv_bq_sink_spool_stats(const struct dv_sink *s, struct dv_bq_spool_stats *out);

/*
 * BigQuery streaming rejects rows whose partition day lies more than 1825 days
 * before or 366 days after the current day (UTC). 1 if ts_ns can be streamed
 * at now_ns, 0 if not.
 */
int dv_bq_partition_ok(uint64_t ts_ns, uint64_t now_ns);

/* The table schema (lib/dv_columns.def) as BigQuery JSON ({"fields":[...]}), a
 * new reference the caller must json_decref(); for tools and tests. */
struct json_t;
struct json_t *dv_bq_schema_json(void);

#endif
