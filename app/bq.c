/*
 * bq: builds the BigQuery sink's configuration from the options (starting
 * from the library's defaults, and telling it the option names its messages
 * should point at), runs --drain-spool, and warns at startup when a capture
 * is too old (or too new) for the streaming API.
 *
 * The sink itself is a module (dpdk-devourer-bigquery.so, lib/bq) loaded
 * here the first time it is needed, so that a run without BigQuery does not
 * load libcurl, gRPC, protobuf-c and what they load (app/meson.build).
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "dv_bq.h"

static void bq_log(void *arg, int level, const char *msg)
{
	(void)arg;
	rte_log((uint32_t)level, dv_app_log_type, "devourer: bigquery: %s\n", msg);
}

/* Streaming rejects rows partitioned more than 5 years back or 1 year ahead:
 * say so before a --read run, and suggest the batch path. Such rows that are
 * still sent are dead-lettered by the sink with BigQuery's error. */
static void check_capture_times(const struct dv_app *app)
{
	uint64_t now = dv_realtime_ns();

	for (unsigned int f = 0; f < app->opt.n_read; f++) {
		uint64_t ts;

		if (dv_reader_first_ts(app->opt.read_files[f], &ts) != 1)
			continue;
		if (!dv_bq_partition_ok(ts, now))
			DV_LOG(
			    WARNING,
			    "%s: packets from %llu s since 1970 lie outside BigQuery's streaming "
			    "window (5 years back, 1 year ahead); their rows will be "
			    "dead-lettered. For old captures use --output file -w flows.ndjson "
			    "and 'bq load --source_format=NEWLINE_DELIMITED_JSON'",
			    app->opt.read_files[f], (unsigned long long)(ts / DV_NS_PER_SEC));
	}
}

/* The module's entry points (dv_bq.h), once bq_module_load found them. */
typedef struct dv_sink *bq_sink_create_fn(const struct dv_bq_config *c, char *err, size_t errlen);
typedef int bq_drain_spool_fn(struct dv_sink *s, uint64_t deadline_ns, uint64_t stall_ns, char *err,
			      size_t errlen);
static struct {
	bq_sink_create_fn *sink_create;
	bq_drain_spool_fn *drain_spool;
} bq_module;

/* Where the module is: beside the program (the build tree), else at
 * DV_BQ_MODULE_DIR (relative to the program's directory unless absolute).
 * The first that exists into path; 0, or -1 with err naming both. */
#define BQ_DIR_MAX  (PATH_MAX + sizeof(DV_BQ_MODULE_DIR) + 1)
#define BQ_PATH_MAX (BQ_DIR_MAX + sizeof(DV_BQ_MODULE) + 1)

static int bq_module_path(char path[BQ_PATH_MAX], char *err, size_t errlen)
{
	char exe_dir[PATH_MAX], installed[BQ_DIR_MAX];
	ssize_t n = readlink("/proc/self/exe", exe_dir, sizeof(exe_dir) - 1);
	const char *dirs[2] = {exe_dir, installed};
	char *slash;

	if (n <= 0) {
		snprintf(err, errlen, "BigQuery output: cannot find the program's directory: %s",
			 strerror(errno));
		return -1;
	}
	exe_dir[n] = '\0';
	slash = strrchr(exe_dir, '/');
	if (slash != NULL)
		*slash = '\0';
	if (DV_BQ_MODULE_DIR[0] == '/')
		snprintf(installed, sizeof(installed), "%s", DV_BQ_MODULE_DIR);
	else
		snprintf(installed, sizeof(installed), "%s/%s", exe_dir, DV_BQ_MODULE_DIR);
	for (int i = 0; i < 2; i++) {
		int k = snprintf(path, BQ_PATH_MAX, "%s/%s", dirs[i], DV_BQ_MODULE);

		if (k > 0 && k < (int)BQ_PATH_MAX && access(path, F_OK) == 0)
			return 0;
	}
	snprintf(err, errlen,
		 "BigQuery output needs the BigQuery module, " DV_BQ_MODULE
		 ", which is neither in %s nor in %s (is the package installed whole?)",
		 exe_dir, installed);
	return -1;
}

/* Load the module once (never unloaded: its threads live until exit). 0,
 * or -1 with err. */
static int bq_module_load(char *err, size_t errlen)
{
	char path[BQ_PATH_MAX];
	void *h;

	if (bq_module.sink_create != NULL)
		return 0;
	if (bq_module_path(path, err, errlen) != 0)
		return -1;
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		snprintf(err, errlen, "BigQuery output: cannot load %s", dlerror());
		return -1;
	}
	bq_module.drain_spool = (bq_drain_spool_fn *)dlsym(h, "dv_bq_sink_drain_spool");
	bq_module.sink_create = (bq_sink_create_fn *)dlsym(h, "dv_bq_sink_create");
	if (bq_module.sink_create == NULL || bq_module.drain_spool == NULL) {
		snprintf(err, errlen, "BigQuery output: %s is not devourer's BigQuery module",
			 path);
		bq_module.sink_create = NULL;
		return -1;
	}
	return 0;
}

struct dv_sink *dv_app_bq_sink(struct dv_app *app, char *err, size_t errlen)
{
	const struct dv_options *o = &app->opt;
	struct dv_bq_config c;

	dv_bq_config_init_defaults(&c);
	c.project = o->bq_project;
	c.dataset = o->bq_dataset;
	c.table = o->bq_table;
	if (dv_bq_auth_mode_parse(o->bq_auth, &c.auth) != 0) {
		char modes[64];

		snprintf(err, errlen, "--bq-auth: '%s' is not one of %s", o->bq_auth,
			 dv_bq_auth_mode_names(modes, sizeof(modes)));
		return NULL;
	}
	c.sa_key_file = o->bq_sa_key_file;
	c.sa_key_data = o->bq_sa_key_data;
	c.token_uri = o->bq_token_uri;
	c.endpoint = o->bq_endpoint;
	c.api = strcmp(o->bq_api, "storage") == 0 ? DV_BQ_API_STORAGE : DV_BQ_API_INSERTALL;
	c.storage_endpoint = o->bq_storage_endpoint;
	c.ca_file = o->bq_ca_file;
	c.batch_rows = (uint32_t)o->bq_batch_rows;
	c.flush_interval_ns = o->bq_flush_interval_ns;
	c.max_inflight = (uint32_t)o->bq_max_inflight;
	c.spool_dir = o->spool_dir;
	c.dead_letter = o->dead_letter; /* NULL: the library's <spool-dir>/dead-letter.ndjson */
	c.spool_max_bytes = o->spool_max_bytes;
	c.shutdown_timeout_ns = o->shutdown_timeout_ns;
	c.write_ahead = o->write_ahead;
	c.commit_interval_ns = o->spool_commit_interval_ns;
	c.log = bq_log;
	c.log_arg = app;
	/* The library's messages name these settings in its own words unless
	 * told what the user calls them. */
	c.names.ca_file = "--bq-ca-file";
	c.names.sa_key = "--bq-sa-key-file or --bq-sa-key-data";
	c.names.spool_dir = "--spool-dir";
	c.names.spool_max_bytes = "--spool-max-bytes";
	struct dv_sink *s =
	    bq_module_load(err, errlen) == 0 ? bq_module.sink_create(&c, err, errlen) : NULL;

	/* Only once the sink is up: a startup error stays one line. */
	if (s != NULL)
		check_capture_times(app);
	return s;
}

int dv_app_drain_spool(struct dv_app *app)
{
	struct dv_sink *s;
	char err[1024];
	int rc;

	s = dv_app_bq_sink(app, err, sizeof(err));
	if (s == NULL) {
		fprintf(stderr, "dpdk-devourer: %s\n", err);
		return 2;
	}
	/* Give up when BigQuery took nothing for --shutdown-timeout: an
	 * operator waiting at a prompt wants an answer, not a hang. */
	rc = bq_module.drain_spool(s, dv_realtime_ns() + 24 * 3600 * DV_NS_PER_SEC,
				   app->opt.shutdown_timeout_ns, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "dpdk-devourer: %s\n", err);
	fprintf(stderr,
		"dpdk-devourer: drain-spool: recovered=%llu delivered=%llu pending=%llu "
		"dead_lettered=%llu dropped=%llu\n",
		(unsigned long long)s->stats.rows_recovered,
		(unsigned long long)s->stats.rows_delivered,
		(unsigned long long)s->stats.rows_pending, (unsigned long long)s->stats.rows_dead,
		(unsigned long long)s->stats.rows_dropped);
	s->ops->destroy(s);
	return rc == 0 ? 0 : 1;
}
