/*
 * test_options: app/options.c. Durations and sizes as a user types them;
 * the command-line forms of the Go devourer that the parser takes (issue
 * 24): its command word "capture" / "c", -s and --show-stats without a
 * value beside -s DUR and --stat-interval DUR, and the Go tool's
 * environment variables. Defaults and limits are the library's, and
 * --help shows the defaults the parser uses.
 *
 * Expected values are the arithmetic of the units (1 m = 60 s, 1 KiB = 1024
 * bytes, 1 MB = 10^6 bytes), the library's defaults and limits
 * (dv_bq_config_init_defaults, dv_bq.h, dv_worker.h) and the documented
 * rules: the default period is 10 s; "-s" takes the next argument unless
 * there is none or it starts with '-'; DEVOURER_SHOW_STATS=true|1 turns the
 * line on, false|0 off; the command line wins over the environment.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dv_bq.h"
#include "dv_time.h"
#include "dv_worker.h"
#include "options.h"

#define S(x)  ((uint64_t)(x)*DV_NS_PER_SEC)
#define NS_MS 1000000ULL
#define NS_S  1000000000ULL

static char err[1024];

struct parse_case {
	const char *text;
	int rc;
	uint64_t value;
};

static void check_cases(int (*parse)(const char *, uint64_t *), const struct parse_case *c,
			size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t v = 0xdeadbeef;
		int rc = parse(c[i].text, &v);

		if (rc != c[i].rc)
			fail_msg("\"%s\": rc %d, want %d", c[i].text, rc, c[i].rc);
		if (rc == 0 && v != c[i].value)
			fail_msg("\"%s\": %llu, want %llu", c[i].text, (unsigned long long)v,
				 (unsigned long long)c[i].value);
	}
}

static void test_duration_parse(void **state)
{
	static const struct parse_case cases[] = {
	    {"500ms", 0, 500 * NS_MS},
	    {"10s", 0, 10 * NS_S},
	    {"2m", 0, 120 * NS_S},
	    {"1h", 0, 3600 * NS_S},
	    {"1d", 0, 86400 * NS_S},
	    {"250us", 0, 250000},
	    {"5ns", 0, 5},
	    {"1.5", 0, 1500 * NS_MS}, /* plain number: seconds, fractions allowed */
	    {"120", 0, 120 * NS_S},
	    {"0", 0, 0},
	    {"0s", 0, 0},
	    {"1.5s", 0, 1500 * NS_MS},
	    {"0.25h", 0, 900 * NS_S},
	    {"30m", 0, 1800 * NS_S}, /* the --active-timeout default */
	    {"10S", 0, 10 * NS_S},   /* units are case-insensitive */
	    {"", -EINVAL, 0},
	    {"-1", -EINVAL, 0},
	    {"-1s", -EINVAL, 0},
	    {"+1s", -EINVAL, 0},
	    {"10x", -EINVAL, 0},
	    {"s", -EINVAL, 0},
	    {"ms", -EINVAL, 0},
	    {"10 s", -EINVAL, 0},
	    {"10s ", -EINVAL, 0},
	    {"1s2", -EINVAL, 0},
	    {"inf", -EINVAL, 0},
	    {"nan", -EINVAL, 0},
	    {"1e20", -ERANGE, 0}, /* 10^29 ns does not fit in 64 bits */
	    {"300000000000h", -ERANGE, 0},
	};

	(void)state;
	check_cases(dv_duration_parse, cases, sizeof(cases) / sizeof(cases[0]));
	assert_int_equal(dv_duration_parse(NULL, &(uint64_t){0}), -EINVAL);
}

/*
 * Durations between 2^63 and 2^64 ns (292 to 584 years) fit the uint64_t
 * result and must come out exact, not wrapped to 2^63.
 */
static void test_duration_parse_above_int64(void **state)
{
	static const struct parse_case cases[] = {
	    {"9300000000s", 0, 9300000000ULL * NS_S},
	    {"10000000000s", 0, 10000000000ULL * NS_S},
	};

	(void)state;
	check_cases(dv_duration_parse, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_size_parse(void **state)
{
	static const struct parse_case cases[] = {
	    {"10GiB", 0, 10ULL << 30}, /* the --spool-max-bytes default */
	    {"64KiB", 0, 64ULL << 10},
	    {"5MB", 0, 5000000},
	    {"100", 0, 100},
	    {"0", 0, 0},
	    {"1024", 0, 1024},
	    {"1kB", 0, 1000},
	    {"3MiB", 0, 3ULL << 20},
	    {"2GB", 0, 2000000000ULL},
	    {"1TiB", 0, 1ULL << 40},
	    {"1.5KiB", 0, 1536},
	    {"10b", 0, 10},
	    {"", -EINVAL, 0},
	    {"-5", -EINVAL, 0},
	    {"GiB", -EINVAL, 0},
	    {"10XB", -EINVAL, 0},
	    {"10 GiB", -EINVAL, 0},
	    {"1.2.3", -EINVAL, 0},
	    {"16777216TiB", -ERANGE, 0}, /* 2^64 bytes */
	};

	(void)state;
	check_cases(dv_size_parse, cases, sizeof(cases) / sizeof(cases[0]));
	assert_int_equal(dv_size_parse(NULL, &(uint64_t){0}), -EINVAL);
}

/* Every parse gets its own slot, kept to the end: the parser's strings stay
 * reachable, so LeakSanitizer (the unit-asan run) does not count them. */
static struct dv_options *slot(void)
{
	static struct dv_options slots[128];
	static unsigned int used;

	assert_true(used < sizeof(slots) / sizeof(slots[0]));
	return &slots[used++];
}

/* Every DEVOURER_* variable this test sets, cleared before each case. */
static const char *const env_names[] = {
    "DEVOURER_SHOW_STATS",
    "DEVOURER_STAT_INTERVAL",
    "DEVOURER_BQ_PROJECT_ID",
    "DEVOURER_BQ_DATASET",
    "DEVOURER_BQ_DATASET_ID",
    "DEVOURER_BQ_SA_KEY_FILE",
    "DEVOURER_INTERFACE",
    "DEVOURER_OUTPUT",
    "DEVOURER_WRITE_FILE",
    "DEVOURER_BIGQUERY_PROJECT_ID",
    "DEVOURER_BIGQUERY_DATASET_ID",
    "DEVOURER_BIGQUERY_SA_KEY_FILE",
    "DEVOURER_BIGQUERY_SA_KEY_DATA",
    "DEVOURER_CONFIG",
};

static int clear_env(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++)
		unsetenv(env_names[i]);
	return 0;
}

/* Parse a NULL-terminated list of arguments (argv[0] is added). */
static int parse(struct dv_options *o, ...)
{
	static char *argv[64];
	int argc = 0;
	va_list ap;
	char *a;

	argv[argc++] = "dpdk-devourer";
	va_start(ap, o);
	while ((a = va_arg(ap, char *)) != NULL && argc < 63)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	err[0] = '\0';
	return dv_options_parse(o, argc, argv, err, sizeof(err));
}

static void test_command_word(void **state)
{
	struct dv_options *o;

	(void)state;
	assert_int_equal(parse(o = slot(), "capture", "-i", "eth0", NULL), 0);
	assert_string_equal(o->interface, "eth0");
	assert_true(o->go_command);
	assert_int_equal(parse(o = slot(), "c", "-i", "eth1", NULL), 0);
	assert_string_equal(o->interface, "eth1");
	assert_true(o->go_command);
	assert_int_equal(parse(o = slot(), "-i", "eth2", NULL), 0);
	assert_false(o->go_command);
	/* Only first, as in the Go tool; elsewhere it says where it goes. */
	assert_int_equal(parse(o = slot(), "-i", "eth0", "capture", NULL), -1);
	assert_non_null(strstr(err, "'capture'"));
	assert_non_null(strstr(err, "goes first"));
	assert_int_equal(parse(o = slot(), "capture", "capture", NULL), -1);
	assert_int_equal(parse(o = slot(), "-i", "eth0", "stray", NULL), -1);
	assert_non_null(strstr(err, "unexpected argument 'stray'"));
	/* Only the word itself. */
	assert_int_equal(parse(o = slot(), "captures", "-i", "eth0", NULL), -1);
	assert_int_equal(parse(o = slot(), "capture", "--help", NULL), 1);
	assert_true(o->help);
}

/* Key data given to --bq-sa-key-data is never in a message, however the
 * command line went wrong around it (the first two found by fuzz_options). */
static void test_key_data_never_echoed(void **state)
{
	static const char *const key = "KEYDATA0123456789";
	struct dv_options *o;

	(void)state;
	assert_int_equal(parse(o = slot(), "-i", "--bq-sa-key-data=KEYDATA0123456789", NULL), -1);
	assert_null(strstr(err, key));
	assert_non_null(strstr(err, "'--bq-sa-key-data=...' is an option"));
	assert_int_equal(parse(o = slot(), "-r", "--bq-sa-key-data", "KEYDATA0123456789", NULL),
			 -1);
	assert_null(strstr(err, key));
	assert_int_equal(parse(o = slot(), "-r", "--bq-sa-key", "KEYDATA0123456789", NULL), -1);
	assert_null(strstr(err, key));
	assert_int_equal(parse(o = slot(), "--bq-sa-key-datx=KEYDATA0123456789", NULL), -1);
	assert_null(strstr(err, key));
	assert_non_null(strstr(err, "unknown option '--bq-sa-key-datx=...'"));
	/* --config took the next option for its file (CI's fuzz-short found it). */
	assert_int_equal(parse(o = slot(), "--config", "--bq-sa-key-data=KEYDATA0123456789", NULL),
			 -1);
	assert_null(strstr(err, key));
	assert_non_null(strstr(err, "--config: '--bq-sa-key-data=...' is an option, not a file"));
	assert_int_equal(
	    parse(o = slot(), "--config", "{\"private_key\": \"KEYDATA0123456789\"}", NULL), -1);
	assert_null(strstr(err, key));
	/* Other values are still shown, so that a mistake can be seen. */
	assert_int_equal(parse(o = slot(), "-i", "eth0", "stray", NULL), -1);
	assert_non_null(strstr(err, "'stray'"));
}

static void test_s_forms(void **state)
{
	struct dv_options *o;

	(void)state;
	assert_int_equal(parse(o = slot(), "-i", "eth0", NULL), 0);
	assert_int_equal(o->stat_interval_ns, S(10));
	/* -s DUR, -sDUR, --stat-interval DUR, --stat-interval=DUR */
	assert_int_equal(parse(o = slot(), "-s", "5s", NULL), 0);
	assert_int_equal(o->stat_interval_ns, S(5));
	assert_int_equal(parse(o = slot(), "-s2m", NULL), 0);
	assert_int_equal(o->stat_interval_ns, S(120));
	assert_int_equal(parse(o = slot(), "--stat-interval", "30", NULL), 0);
	assert_int_equal(o->stat_interval_ns, S(30));
	assert_int_equal(parse(o = slot(), "--stat-interval=0", NULL), 0);
	assert_int_equal(o->stat_interval_ns, 0);
	assert_int_equal(parse(o = slot(), "-s", "0", NULL), 0);
	assert_int_equal(o->stat_interval_ns, 0);
	/* -s alone: last, or before another option. */
	assert_int_equal(parse(o = slot(), "-i", "eth0", "-s", NULL), 0);
	assert_int_equal(o->stat_interval_ns, S(10));
	assert_string_equal(o->interface, "eth0");
	assert_int_equal(parse(o = slot(), "-s", "-i", "eth0", NULL), 0);
	assert_int_equal(o->stat_interval_ns, S(10));
	assert_string_equal(o->interface, "eth0");
	assert_int_equal(
	    parse(o = slot(), "c", "-i", "eth0", "-o", "file", "-w", "f.ndjson", "-s", NULL), 0);
	assert_int_equal(o->stat_interval_ns, S(10));
	assert_int_equal(o->outputs, DV_OUT_FILE);
	assert_string_equal(o->write_file, "f.ndjson");
	/* On again after an earlier 0; a period set before is kept. */
	assert_int_equal(parse(o = slot(), "-s", "0", "-s", NULL), 0);
	assert_int_equal(o->stat_interval_ns, S(10));
	assert_int_equal(parse(o = slot(), "-s", "3s", "--show-stats", NULL), 0);
	assert_int_equal(o->stat_interval_ns, S(3));
	assert_int_equal(parse(o = slot(), "--stat-interval", "0", "--show-stats", NULL), 0);
	assert_int_equal(o->stat_interval_ns, S(10));
	assert_int_equal(parse(o = slot(), "--show-stats=false", NULL), 0);
	assert_int_equal(o->stat_interval_ns, 0);
	assert_int_equal(parse(o = slot(), "--show-stats=true", "-i", "eth0", NULL), 0);
	assert_int_equal(o->stat_interval_ns, S(10));
	/* A word after -s is its value, so a bad one is named as a duration. */
	assert_int_equal(parse(o = slot(), "-s", "10x", NULL), -1);
	assert_non_null(strstr(err, "invalid duration '10x'"));
	/* --show-stats never takes the next word; --stat-interval always does. */
	assert_int_equal(parse(o = slot(), "--show-stats", "5s", NULL), -1);
	assert_non_null(strstr(err, "unexpected argument '5s'"));
	assert_int_equal(parse(o = slot(), "--stat-interval", NULL), -1);
	assert_non_null(strstr(err, "needs a value"));
	assert_int_equal(parse(o = slot(), "--show-stats=maybe", NULL), -1);
	assert_non_null(strstr(err, "--show-stats"));
}

static void test_show_stats_env(void **state)
{
	struct dv_options *o;

	(void)state;
	setenv("DEVOURER_STAT_INTERVAL", "0", 1);
	assert_int_equal(parse(o = slot(), NULL), 0);
	assert_int_equal(o->stat_interval_ns, 0);
	setenv("DEVOURER_SHOW_STATS", "true", 1);
	assert_int_equal(parse(o = slot(), NULL), 0);
	assert_int_equal(o->stat_interval_ns, S(10));
	setenv("DEVOURER_SHOW_STATS", "1", 1);
	assert_int_equal(parse(o = slot(), NULL), 0);
	assert_int_equal(o->stat_interval_ns, S(10));
	unsetenv("DEVOURER_STAT_INTERVAL");
	setenv("DEVOURER_SHOW_STATS", "false", 1);
	assert_int_equal(parse(o = slot(), NULL), 0);
	assert_int_equal(o->stat_interval_ns, 0);
	setenv("DEVOURER_SHOW_STATS", "0", 1);
	assert_int_equal(parse(o = slot(), NULL), 0);
	assert_int_equal(o->stat_interval_ns, 0);
	/* The command line wins over the environment. */
	assert_int_equal(parse(o = slot(), "-s", NULL), 0);
	assert_int_equal(o->stat_interval_ns, S(10));
	assert_int_equal(parse(o = slot(), "-s", "4s", NULL), 0);
	assert_int_equal(o->stat_interval_ns, S(4));
	setenv("DEVOURER_SHOW_STATS", "perhaps", 1);
	assert_int_equal(parse(o = slot(), NULL), -1);
	assert_non_null(strstr(err, "DEVOURER_SHOW_STATS"));
}

/* The Go README's variables, and the Go code's DEVOURER_BIGQUERY_* ones. */
static void test_go_env(void **state)
{
	struct dv_options *o;

	(void)state;
	setenv("DEVOURER_BQ_PROJECT_ID", "p1", 1);
	setenv("DEVOURER_BQ_DATASET", "d1", 1);
	setenv("DEVOURER_BQ_SA_KEY_FILE", "/k1.json", 1);
	setenv("DEVOURER_INTERFACE", "veth9", 1);
	assert_int_equal(parse(o = slot(), "capture", NULL), 0);
	assert_string_equal(o->bq_project, "p1");
	assert_string_equal(o->bq_dataset, "d1");
	assert_string_equal(o->bq_sa_key_file, "/k1.json");
	assert_string_equal(o->interface, "veth9");
	assert_int_equal(o->outputs, DV_OUT_BIGQUERY);
	clear_env(NULL);

	setenv("DEVOURER_BIGQUERY_PROJECT_ID", "p2", 1);
	setenv("DEVOURER_BIGQUERY_DATASET_ID", "d2", 1);
	setenv("DEVOURER_BIGQUERY_SA_KEY_DATA", "{}", 1);
	setenv("DEVOURER_OUTPUT", "file", 1);
	setenv("DEVOURER_WRITE_FILE", "/tmp/x.ndjson", 1);
	assert_int_equal(parse(o = slot(), "c", "-i", "eth0", NULL), 0);
	assert_string_equal(o->bq_project, "p2");
	assert_string_equal(o->bq_dataset, "d2");
	assert_string_equal(o->bq_sa_key_data, "{}");
	assert_int_equal(o->outputs, DV_OUT_FILE);
	assert_string_equal(o->write_file, "/tmp/x.ndjson");
	clear_env(NULL);

	setenv("DEVOURER_BQ_DATASET_ID", "d3", 1);
	setenv("DEVOURER_BIGQUERY_SA_KEY_FILE", "/k3.json", 1);
	assert_int_equal(parse(o = slot(), NULL), 0);
	assert_string_equal(o->bq_dataset, "d3");
	assert_string_equal(o->bq_sa_key_file, "/k3.json");
}

/* The Go README's flags, verbatim. */
static void test_go_flags(void **state)
{
	struct dv_options *o;

	(void)state;
	assert_int_equal(parse(o = slot(), "capture", "-i", "eth0", "--bq-project-id", "p",
			       "--bq-dataset", "d", "--bq-sa-key-file", "k.json", NULL),
			 0);
	assert_string_equal(o->bq_project, "p");
	assert_string_equal(o->bq_dataset, "d");
	assert_string_equal(o->bq_sa_key_file, "k.json");
	assert_int_equal(o->outputs, DV_OUT_BIGQUERY);
	assert_int_equal(parse(o = slot(), "capture", "--interface", "eth0", "--output", "bigquery",
			       "--bq-project-id", "p", "--bq-dataset-id", "d", "--bq-sa-key-data",
			       "{}", NULL),
			 0);
	assert_string_equal(o->bq_dataset, "d");
	assert_string_equal(o->bq_sa_key_data, "{}");
	assert_int_equal(parse(o = slot(), "c", "-i", "eth0", "--output", "file", "--write-file",
			       "flows.json", NULL),
			 0);
	assert_string_equal(o->write_file, "flows.json");
	assert_int_equal(parse(o = slot(), "capture", "-i", "eth0", "--stat-interval", "10s", NULL),
			 0);
	assert_int_equal(o->stat_interval_ns, S(10));
}

/* Delivery and BigQuery defaults are the library's; the dead-letter path is
 * left to the library to build. */
static void test_defaults_are_the_librarys(void **state)
{
	struct dv_bq_config c;
	enum dv_bq_auth_mode auth;
	struct dv_options *o;

	(void)state;
	dv_bq_config_init_defaults(&c);
	assert_int_equal(parse(o = slot(), NULL), 0);
	assert_string_equal(o->bq_table, c.table);
	assert_int_equal(dv_bq_auth_mode_parse(o->bq_auth, &auth), 0);
	assert_int_equal(auth, c.auth);
	assert_int_equal(o->bq_batch_rows, c.batch_rows);
	assert_int_equal(o->bq_flush_interval_ns, c.flush_interval_ns);
	assert_int_equal(o->bq_max_inflight, c.max_inflight);
	assert_string_equal(o->spool_dir, c.spool_dir);
	assert_int_equal(o->spool_max_bytes, c.spool_max_bytes);
	assert_int_equal(o->write_ahead, c.write_ahead);
	assert_int_equal(o->spool_commit_interval_ns, c.commit_interval_ns);
	assert_int_equal(o->shutdown_timeout_ns, c.shutdown_timeout_ns);
	assert_null(o->dead_letter);
	assert_null(c.dead_letter);
}

/* The ranges the parser takes end at the library's limits. */
static void test_limits_are_the_librarys(void **state)
{
	static const struct {
		const char *name;
		unsigned long long max;
	} limits[] = {
	    {"--workers", DV_MAX_WORKERS},
	    {"--bq-batch-rows", DV_BQ_MAX_ROWS_PER_REQ},
	    {"--bq-max-inflight", DV_BQ_MAX_INFLIGHT},
	};
	static const char *const auth[] = {"auto", "key", "metadata", "none"};
	struct dv_options *o;
	char v[32];

	(void)state;
	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		snprintf(v, sizeof(v), "%llu", limits[i].max);
		assert_int_equal(parse(o = slot(), limits[i].name, v, NULL), 0);
		snprintf(v, sizeof(v), "%llu", limits[i].max + 1);
		assert_int_equal(parse(o = slot(), limits[i].name, v, NULL), -1);
		assert_non_null(strstr(err, "out of range"));
	}
	/* The auth modes --help names are the ones the library takes. */
	for (size_t i = 0; i < sizeof(auth) / sizeof(auth[0]); i++) {
		assert_int_equal(parse(o = slot(), "--bq-auth", auth[i], NULL), 0);
		assert_string_equal(o->bq_auth, auth[i]);
	}
	assert_int_equal(parse(o = slot(), "--bq-auth", "oauth", NULL), -1);
	assert_non_null(strstr(err, "--bq-auth: 'oauth' is not one of"));
}

/* --help's text, as printed. */
static char *help_text(void)
{
	static char text[16384];
	FILE *f = tmpfile();
	int saved = dup(STDOUT_FILENO);
	size_t n;

	assert_non_null(f);
	fflush(stdout);
	assert_true(dup2(fileno(f), STDOUT_FILENO) >= 0);
	dv_options_usage("dpdk-devourer");
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	rewind(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

/* The default --help shows for an option: the "[...]" ending its line. */
static const char *help_default(const char *help, const char *name, char *buf, size_t len)
{
	char key[64];
	const char *line, *end, *open;

	/* Its own line: "      --name ARG" or "  -x, --name ARG". */
	snprintf(key, sizeof(key), "\n      --%s ", name);
	line = strstr(help, key);
	if (line == NULL) {
		snprintf(key, sizeof(key), ", --%s ", name);
		line = strstr(help, key);
	}
	if (line == NULL)
		fail_msg("--help has no line for --%s", name);
	end = strchr(line + 1, '\n');
	if (end == NULL || end[-1] != ']')
		fail_msg("--help shows no default for --%s", name);
	for (open = end - 1; open > line && *open != '['; open--)
		;
	if ((size_t)(end - open - 1) >= len)
		fail_msg("--%s: default too long", name);
	memcpy(buf, open + 1, (size_t)(end - open - 2));
	buf[end - open - 2] = '\0';
	return buf;
}

/*
 * Every default --help shows as a value, given back as that option's
 * value, leaves the options as they were without it: the text printed is
 * the value used, whether it is written in the table or printed from the
 * library's number.
 */
static void test_help_shows_the_defaults(void **state)
{
#define FIELD(n, f, str)                                                                           \
	{                                                                                          \
		n, offsetof(struct dv_options, f), sizeof(((struct dv_options *)0)->f), str        \
	}
	static const struct {
		const char *name;
		size_t off, size;
		int is_str;
	} fields[] = {
	    FIELD("workers", workers, 0),
	    FIELD("rss", rss_l4, 0),
	    FIELD("rx-mbufs", rx_mbufs, 0),
	    FIELD("clock", clock, 0),
	    FIELD("flow-timeout", flow_timeout_ns, 0),
	    FIELD("active-timeout", active_timeout_ns, 0),
	    FIELD("tcp-close-timeout", tcp_close_timeout_ns, 0),
	    FIELD("max-flows", max_flows, 0),
	    FIELD("stat-interval", stat_interval_ns, 0),
	    FIELD("log-level", log_level, 0),
	    FIELD("bq-table", bq_table, 1),
	    FIELD("bq-auth", bq_auth, 1),
	    FIELD("bq-batch-rows", bq_batch_rows, 0),
	    FIELD("bq-flush-interval", bq_flush_interval_ns, 0),
	    FIELD("bq-max-inflight", bq_max_inflight, 0),
	    FIELD("spool-dir", spool_dir, 1),
	    FIELD("spool-max-bytes", spool_max_bytes, 0),
	    FIELD("write-ahead", write_ahead, 0),
	    FIELD("spool-commit-interval", spool_commit_interval_ns, 0),
	    FIELD("shutdown-timeout", shutdown_timeout_ns, 0),
	};
#undef FIELD
	const char *help = help_text();
	struct dv_options *base, *o;
	char def[128], arg[192];

	(void)state;
	assert_int_equal(parse(base = slot(), NULL), 0);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const char *a = (const char *)base + fields[i].off;
		const char *b;

		help_default(help, fields[i].name, def, sizeof(def));
		snprintf(arg, sizeof(arg), "--%s=%s", fields[i].name, def);
		if (parse(o = slot(), arg, NULL) != 0)
			fail_msg("%s: %s", arg, err);
		b = (const char *)o + fields[i].off;
		if (fields[i].is_str ? strcmp(*(char *const *)a, *(char *const *)b) != 0
				     : memcmp(a, b, fields[i].size) != 0)
			fail_msg("--help shows [%s] for --%s, but that is not its default", def,
				 fields[i].name);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_duration_parse),
	    cmocka_unit_test(test_duration_parse_above_int64),
	    cmocka_unit_test(test_size_parse),
	    cmocka_unit_test_setup(test_command_word, clear_env),
	    cmocka_unit_test_setup(test_key_data_never_echoed, clear_env),
	    cmocka_unit_test_setup(test_s_forms, clear_env),
	    cmocka_unit_test_setup(test_show_stats_env, clear_env),
	    cmocka_unit_test_setup(test_go_env, clear_env),
	    cmocka_unit_test_setup(test_go_flags, clear_env),
	    cmocka_unit_test_setup(test_defaults_are_the_librarys, clear_env),
	    cmocka_unit_test_setup(test_limits_are_the_librarys, clear_env),
	    cmocka_unit_test_setup(test_help_shows_the_defaults, clear_env),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
