/*
 * options: one table describes every option (name, short letter, help,
 * group, setter, default), and the same setters serve the defaults, the
 * command line, DEVOURER_* variables and --config lines, so a value is
 * validated the same way wherever it comes from. Layers are applied lowest
 * first (defaults, config file, environment, command line); a list option
 * (--read) given in a higher layer replaces the lower layer's list instead
 * of adding to it. Delivery and BigQuery defaults and limits are the
 * library's (dv_bq.h), --help prints them from its values. Durations and
 * sizes as a user types them are parsed here too: the library knows no
 * command line.
 *
 * The Go tool's command lines run unchanged: its command word ("capture",
 * "c") may come first, and its -s/--show-stats takes no value. -s is also
 * this program's --stat-interval, so -s takes the next argument as its
 * period unless there is none or it starts with '-' (no duration does);
 * alone, it is --show-stats. Options are read in order up to the first
 * argument that is not one (there are no operands), so "-s VALUE" is never
 * reordered.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <rte_log.h>

#include "dv_bq.h"
#include "dv_row.h"
#include "dv_time.h"
#include "dv_worker.h"
#include "options.h"

typedef int (*dv_setter)(struct dv_options *o, const char *v, char *err, size_t errlen);

/* How --help prints a default the library gives (set_defaults copies it
 * from dv_bq_config_init_defaults), read from its field of struct dv_options. */
enum lib_default {
	LIB_NONE = 0,
	LIB_STR,   /* const char * */
	LIB_U64,   /* uint64_t, a number */
	LIB_DUR,   /* uint64_t ns, as a duration: 1s, 200ms */
	LIB_SIZE,  /* uint64_t bytes, as a size: 10GiB */
	LIB_ONOFF, /* int, on or off */
};

/*
 * An option's default is one of: def, the value as a user would type it
 * (set_defaults applies it through the setter, --help prints it as is);
 * lib, a value the library sets (printed from the value); or def_words,
 * --help's words for a default that is not a value ("host name").
 */
struct opt_def {
	const char *name;
	int short_name; /* 0: none */
	int has_arg;	/* getopt's no_argument / required_argument */
	const char *group;
	const char *arg; /* placeholder in --help */
	const char *def; /* the program's default value, as typed */
	const char *help;
	dv_setter set;
	const char *env_alias[3]; /* extra environment names (the Go tool's) */
	int secret;		  /* never echo the value */
	const char *bare;	  /* the short form given no value is this option, valueless */
	enum lib_default lib;	  /* the library's default, in field */
	size_t field;		  /* offsetof(struct dv_options, ...) for lib */
	const char *def_words;	  /* --help's words for a default that is no value */
};

/* --stat-interval's default, also the period --show-stats turns on. */
#define DV_STAT_INTERVAL_DEFAULT "10s"

static char *dupstr(const char *s)
{
	char *d = strdup(s);

	if (d == NULL) {
		fprintf(stderr, "dpdk-devourer: out of memory\n");
		exit(2);
	}
	return d;
}

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -1)

/* ---- values as a user types them: booleans, durations, sizes ------------------ */

/* 1 for true, t, yes, on, 1; 0 for false, f, no, off, 0 (any case, as Go's
 * strconv.ParseBool and the usual words); -1 for anything else. */
static int parse_bool(const char *v)
{
	static const char *const yes[] = {"true", "t", "yes", "on", "1"};
	static const char *const no[] = {"false", "f", "no", "off", "0"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return 1;
		if (strcasecmp(v, no[i]) == 0)
			return 0;
	}
	return -1;
}

struct unit {
	const char *name;
	double mult;
};

/* Parse "<number><unit>" with the unit looked up in units; an empty unit means
 * empty_mult. */
static int parse_scaled(const char *s, const struct unit *units, double empty_mult, uint64_t *out)
{
	char *end;
	double v, mult = 0;

	/* Digits first: no sign, no space, no hex ("0x10"). */
	if (s == NULL || !((*s >= '0' && *s <= '9') || *s == '.'))
		return -EINVAL;
	for (const char *p = s; *p; p++)
		if (*p == 'x' || *p == 'X' || *p == 'p' || *p == 'P')
			return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || !isfinite(v) || v < 0)
		return -EINVAL;
	if (*end == '\0') {
		mult = empty_mult;
	} else {
		for (const struct unit *u = units; u->name != NULL; u++) {
			if (strcasecmp(end, u->name) == 0) {
				mult = u->mult;
				break;
			}
		}
		if (mult == 0)
			return -EINVAL;
	}
	v *= mult;
	if (v >= 1.8e19)
		return -ERANGE;
	/* llround() is signed: above INT64_MAX convert directly. */
	*out = v < 9.2e18 ? (uint64_t)llround(v) : (uint64_t)v;
	return 0;
}

int dv_duration_parse(const char *s, uint64_t *ns)
{
	static const struct unit units[] = {
	    {"ns", 1},	 {"us", 1e3},	{"ms", 1e6},	{"s", 1e9},
	    {"m", 60e9}, {"h", 3600e9}, {"d", 86400e9}, {NULL, 0},
	};

	return parse_scaled(s, units, 1e9, ns);
}

int dv_size_parse(const char *s, uint64_t *bytes)
{
	static const struct unit units[] = {
	    {"b", 1},
	    {"k", 1024.0},
	    {"kib", 1024.0},
	    {"kb", 1e3},
	    {"m", 1048576.0},
	    {"mib", 1048576.0},
	    {"mb", 1e6},
	    {"g", 1073741824.0},
	    {"gib", 1073741824.0},
	    {"gb", 1e9},
	    {"t", 1099511627776.0},
	    {"tib", 1099511627776.0},
	    {"tb", 1e12},
	    {NULL, 0},
	};

	return parse_scaled(s, units, 1, bytes);
}

/* The largest of units (largest first) that divides v, as "<count><name>";
 * 0 as "0". The inverse of parse_scaled for whole counts. */
static void format_scaled(uint64_t v, const struct unit *units, char *buf, size_t len)
{
	const struct unit *u = units;

	while (v != 0 && u[1].name != NULL && v % (uint64_t)u->mult != 0)
		u++;
	if (v == 0)
		snprintf(buf, len, "0");
	else
		snprintf(buf, len, "%llu%s", (unsigned long long)(v / (uint64_t)u->mult), u->name);
}

static void format_duration(uint64_t ns, char *buf, size_t len)
{
	static const struct unit units[] = {
	    {"d", 86400e9}, {"h", 3600e9}, {"m", 60e9}, {"s", 1e9},
	    {"ms", 1e6},    {"us", 1e3},   {"ns", 1},	{NULL, 0},
	};

	format_scaled(ns, units, buf, len);
}

static void format_size(uint64_t bytes, char *buf, size_t len)
{
	static const struct unit units[] = {
	    {"TiB", 1099511627776.0},
	    {"GiB", 1073741824.0},
	    {"MiB", 1048576.0},
	    {"KiB", 1024.0},
	    {"", 1},
	    {NULL, 0},
	};

	format_scaled(bytes, units, buf, len);
}

/* ---- setters: one per option, the same for every layer ------------------------- */

static int set_duration(const char *name, uint64_t *dst, const char *v, char *err, size_t errlen)
{
	if (dv_duration_parse(v, dst) != 0)
		return ERR("--%s: invalid duration '%s' (use e.g. 500ms, 10s, 2m, 1h, or seconds)",
			   name, v);
	return 0;
}

static int set_uint(const char *name, uint64_t *dst, const char *v, uint64_t min, uint64_t max,
		    char *err, size_t errlen)
{
	char *end;
	unsigned long long x;

	errno = 0;
	if (*v == '-' || *v == '\0')
		return ERR("--%s: '%s' is not a positive whole number", name, v);
	x = strtoull(v, &end, 10);
	if (errno != 0 || *end != '\0')
		return ERR("--%s: '%s' is not a positive whole number", name, v);
	if (x < min || x > max)
		return ERR("--%s: %llu is out of range (%llu to %llu)", name, x,
			   (unsigned long long)min, (unsigned long long)max);
	*dst = x;
	return 0;
}

static int set_read(struct dv_options *o, const char *v, char *err, size_t errlen)
{
	if (o->n_read >= DV_MAX_READ_FILES)
		return ERR("--read: at most %d files", DV_MAX_READ_FILES);
	if (*v == '\0')
		return ERR("--read: empty file name");
	o->read_files[o->n_read++] = dupstr(v);
	return 0;
}

static int set_interface(struct dv_options *o, const char *v, char *err, size_t errlen)
{
	if (*v == '\0' || strlen(v) >= 16 || strchr(v, ',') || strchr(v, '/'))
		return ERR("--interface: '%s' is not a valid interface name", v);
	o->interface = dupstr(v);
	return 0;
}

static int set_workers(struct dv_options *o, const char *v, char *err, size_t errlen)
{
	uint64_t x;

	if (set_uint("workers", &x, v, 1, DV_MAX_WORKERS, err, errlen))
		return -1;
	o->workers = (unsigned int)x;
	return 0;
}

static int set_rss(struct dv_options *o, const char *v, char *err, size_t errlen)
{
	if (strcmp(v, "ip") == 0)
		o->rss_l4 = 0;
	else if (strcmp(v, "ip-l4") == 0)
		o->rss_l4 = 1;
	else
		return ERR("--rss: '%s' is not one of ip, ip-l4", v);
	return 0;
}

static int set_output(struct dv_options *o, const char *v, char *err, size_t errlen)
{
	char buf[128];
	char *save, *tok;
	unsigned int out = 0;

	if (strlen(v) >= sizeof(buf))
		return ERR("--output: value too long");
	strcpy(buf, v);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		while (isspace((unsigned char)*tok))
			tok++;
		if (strcmp(tok, "stdout") == 0)
			out |= DV_OUT_STDOUT;
		else if (strcmp(tok, "file") == 0)
			out |= DV_OUT_FILE;
		else if (strcmp(tok, "bigquery") == 0)
			out |= DV_OUT_BIGQUERY;
		else
			return ERR("--output: '%s' is not one of stdout, file, bigquery", tok);
	}
	if (out == 0)
		return ERR("--output: empty list");
	o->outputs = out;
	return 0;
}

#define STR_SETTER(fn, field)                                                                      \
	static int fn(struct dv_options *o, const char *v, char *err, size_t errlen)               \
	{                                                                                          \
		(void)err;                                                                         \
		(void)errlen;                                                                      \
		o->field = dupstr(v);                                                              \
		return 0;                                                                          \
	}
#define DUR_SETTER(fn, name, field)                                                                \
	static int fn(struct dv_options *o, const char *v, char *err, size_t errlen)               \
	{                                                                                          \
		return set_duration(name, &o->field, v, err, errlen);                              \
	}

STR_SETTER(set_write_file, write_file)
STR_SETTER(set_spool_dir, spool_dir)
STR_SETTER(set_dead_letter, dead_letter)
STR_SETTER(set_bq_project, bq_project)
STR_SETTER(set_bq_dataset, bq_dataset)
STR_SETTER(set_bq_table, bq_table)
STR_SETTER(set_bq_sa_key_file, bq_sa_key_file)
STR_SETTER(set_bq_sa_key_data, bq_sa_key_data)
STR_SETTER(set_bq_endpoint, bq_endpoint)
STR_SETTER(set_bq_storage_endpoint, bq_storage_endpoint)
STR_SETTER(set_bq_token_uri, bq_token_uri)
STR_SETTER(set_bq_ca_file, bq_ca_file)
STR_SETTER(set_config, config_file)
DUR_SETTER(set_stat_interval, "stat-interval", stat_interval_ns)
DUR_SETTER(set_flow_timeout, "flow-timeout", flow_timeout_ns)
DUR_SETTER(set_active_timeout, "active-timeout", active_timeout_ns)
DUR_SETTER(set_tcp_close_timeout, "tcp-close-timeout", tcp_close_timeout_ns)
DUR_SETTER(set_bq_flush_interval, "bq-flush-interval", bq_flush_interval_ns)
DUR_SETTER(set_shutdown_timeout, "shutdown-timeout", shutdown_timeout_ns)
DUR_SETTER(set_spool_commit_interval, "spool-commit-interval", spool_commit_interval_ns)

static int set_bq_api(struct dv_options *o, const char *v, char *err, size_t errlen)
{
	if (strcmp(v, "insertall") != 0 && strcmp(v, "storage") != 0)
		return ERR("--bq-api: '%s' is not one of insertall, storage", v);
	o->bq_api = dupstr(v);
	return 0;
}

static int set_sensor(struct dv_options *o, const char *v, char *err, size_t errlen)
{
	if (*v == '\0' || strlen(v) > DV_SENSOR_MAX)
		return ERR("--sensor: must be 1 to %d bytes", DV_SENSOR_MAX);
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return ERR("--sensor: control characters are not allowed");
	o->sensor = dupstr(v);
	return 0;
}

static int set_max_flows(struct dv_options *o, const char *v, char *err, size_t errlen)
{
	return set_uint("max-flows", &o->max_flows, v, 64, 1ULL << 30, err, errlen);
}

static int set_rx_mbufs(struct dv_options *o, const char *v, char *err, size_t errlen)
{
	return set_uint("rx-mbufs", &o->rx_mbufs, v, 0, 1ULL << 26, err, errlen);
}

/* An on|off option's value into *dst. */
static int set_onoff(const char *name, int *dst, const char *v, char *err, size_t errlen)
{
	int on = parse_bool(v);

	if (on < 0)
		return ERR("--%s: '%s' is not on or off", name, v);
	*dst = on;
	return 0;
}

static int set_decap(struct dv_options *o, const char *v, char *err, size_t errlen)
{
	return set_onoff("decap", &o->decap, v, err, errlen);
}

/* A comma list of UDP ports, at most 8 ("" for none), into list/n. */
static int set_ports(const char *name, uint16_t *list, uint8_t *n, const char *v, char *err,
		     size_t errlen)
{
	uint8_t k = 0;

	for (const char *p = v; *p != '\0';) {
		char *end;
		unsigned long x;

		errno = 0;
		x = strtoul(p, &end, 10);
		if (errno != 0 || end == p || x == 0 || x > 65535 || (*end != ',' && *end != '\0'))
			return ERR("--%s: '%s' is not a comma list of UDP ports (1 to 65535)", name,
				   v);
		if (k == 8)
			return ERR("--%s: at most 8 ports", name);
		list[k++] = (uint16_t)x;
		p = *end == ',' ? end + 1 : end;
	}
	*n = k;
	return 0;
}

#define PORTS_SETTER(fn, opt, f)                                                                   \
	static int fn(struct dv_options *o, const char *v, char *err, size_t errlen)               \
	{                                                                                          \
		if (set_ports(opt, o->decap_cfg.f, &o->decap_cfg.n_##f, v, err, errlen))           \
			return -1;                                                                 \
		dv_decap_cfg_ports(&o->decap_cfg);                                                 \
		return 0;                                                                          \
	}
PORTS_SETTER(set_vxlan_ports, "vxlan-ports", vxlan)
PORTS_SETTER(set_vxlan_gpe_ports, "vxlan-gpe-ports", vxlan_gpe)
PORTS_SETTER(set_geneve_ports, "geneve-ports", geneve)
PORTS_SETTER(set_gtpu_ports, "gtpu-ports", gtpu)

static int set_decap_depth(struct dv_options *o, const char *v, char *err, size_t errlen)
{
	uint64_t x;

	if (set_uint("decap-depth", &x, v, 1, DV_TUN_MAX_DEPTH, err, errlen))
		return -1;
	o->decap_cfg.max_depth = (uint8_t)x;
	return 0;
}

static int set_flow_context(struct dv_options *o, const char *v, char *err, size_t errlen)
{
	return set_onoff("flow-context", &o->flow_context, v, err, errlen);
}

static int set_community_id_seed(struct dv_options *o, const char *v, char *err, size_t errlen)
{
	uint64_t x;

	if (set_uint("community-id-seed", &x, v, 0, UINT16_MAX, err, errlen))
		return -1;
	o->community_id_seed = (uint16_t)x;
	return 0;
}

static int set_clock(struct dv_options *o, const char *v, char *err, size_t errlen)
{
	if (strcmp(v, "auto") == 0)
		o->clock = DV_CLOCK_OPT_AUTO;
	else if (strcmp(v, "packet") == 0)
		o->clock = DV_CLOCK_OPT_PACKET;
	else if (strcmp(v, "system") == 0)
		o->clock = DV_CLOCK_OPT_SYSTEM;
	else
		return ERR("--clock: '%s' is not one of auto, packet, system", v);
	return 0;
}

static const char *const level_names[] = {
    [RTE_LOG_EMERG] = "emerg", [RTE_LOG_ALERT] = "alert",     [RTE_LOG_CRIT] = "crit",
    [RTE_LOG_ERR] = "error",   [RTE_LOG_WARNING] = "warning", [RTE_LOG_NOTICE] = "notice",
    [RTE_LOG_INFO] = "info",   [RTE_LOG_DEBUG] = "debug",
};

const char *dv_log_level_name(uint32_t level)
{
	if (level >= RTE_LOG_EMERG && level <= RTE_LOG_DEBUG)
		return level_names[level];
	return "?";
}

static int set_log_level(struct dv_options *o, const char *v, char *err, size_t errlen)
{
	for (uint32_t l = RTE_LOG_EMERG; l <= RTE_LOG_DEBUG; l++) {
		if (strcasecmp(v, level_names[l]) == 0) {
			o->log_level = l;
			return 0;
		}
	}
	if (strcasecmp(v, "err") == 0 || strcasecmp(v, "warn") == 0) {
		o->log_level = v[0] == 'e' || v[0] == 'E' ? RTE_LOG_ERR : RTE_LOG_WARNING;
		return 0;
	}
	return ERR("--log-level: '%s' is not one of error, warning, notice, info, debug", v);
}

static int set_bq_auth(struct dv_options *o, const char *v, char *err, size_t errlen)
{
	enum dv_bq_auth_mode mode;

	/* The names as the library takes them: a static string, nothing to free. */
	static const char *const names[] = {[DV_BQ_AUTH_AUTO] = "auto",
					    [DV_BQ_AUTH_KEY] = "key",
					    [DV_BQ_AUTH_METADATA] = "metadata",
					    [DV_BQ_AUTH_NONE] = "none"};

	if (dv_bq_auth_mode_parse(v, &mode) != 0)
		return ERR("--bq-auth: '%s' is not one of auto, key, metadata, none", v);
	o->bq_auth = names[mode];
	return 0;
}

static int set_bq_batch_rows(struct dv_options *o, const char *v, char *err, size_t errlen)
{
	return set_uint("bq-batch-rows", &o->bq_batch_rows, v, 1, DV_BQ_MAX_ROWS_PER_REQ, err,
			errlen);
}

static int set_bq_max_inflight(struct dv_options *o, const char *v, char *err, size_t errlen)
{
	return set_uint("bq-max-inflight", &o->bq_max_inflight, v, 1, DV_BQ_MAX_INFLIGHT, err,
			errlen);
}

static int set_spool_max_bytes(struct dv_options *o, const char *v, char *err, size_t errlen)
{
	if (dv_size_parse(v, &o->spool_max_bytes) != 0)
		return ERR("--spool-max-bytes: invalid size '%s' (use e.g. 512MiB, 10GiB)", v);
	return 0;
}

static int set_write_ahead(struct dv_options *o, const char *v, char *err, size_t errlen)
{
	return set_onoff("write-ahead", &o->write_ahead, v, err, errlen);
}

/*
 * --show-stats, the Go tool's flag (and -s with no value): the statistics
 * line on, at the period set so far (10s unless --stat-interval, its
 * variable or the config file set another); "false" turns it off, which was
 * the Go tool's default. The Go tool's period was 10s too.
 */
static int set_show_stats(struct dv_options *o, const char *v, char *err, size_t errlen)
{
	int on = *v == '\0' ? 1 : parse_bool(v);

	if (on < 0)
		return ERR("--show-stats: '%s' is not true or false", v);
	if (!on)
		o->stat_interval_ns = 0;
	else if (o->stat_interval_ns == 0)
		dv_duration_parse(DV_STAT_INTERVAL_DEFAULT, &o->stat_interval_ns);
	return 0;
}

static int set_flag_drain(struct dv_options *o, const char *v, char *err, size_t errlen)
{
	(void)v, (void)err, (void)errlen;
	o->drain_spool = 1;
	return 0;
}

static int set_flag_help(struct dv_options *o, const char *v, char *err, size_t errlen)
{
	(void)v, (void)err, (void)errlen;
	o->help = 1;
	return 0;
}

static int set_flag_version(struct dv_options *o, const char *v, char *err, size_t errlen)
{
	(void)v, (void)err, (void)errlen;
	o->version = 1;
	return 0;
}

#define OPT(n, s, a, g, ar, df, h, fn, ...)                                                        \
	{                                                                                          \
		.name = n, .short_name = s, .has_arg = a, .group = g, .arg = ar, .def = df,        \
		.help = h, .set = fn, __VA_ARGS__                                                  \
	}
/* A default the library gives, copied into field by set_defaults; the
 * _Generic fails to compile if the field is not of the kind's type. */
#define LIB_DEFAULT(kind, type, f)                                                                 \
	.lib = kind, .field = _Generic(((struct dv_options *)0)->f, type                           \
				       : offsetof(struct dv_options, f))
#define WORDS(w) .def_words = w
#define REQ	 required_argument
#define NO	 no_argument
#define OPTIONAL optional_argument /* long form only: --name or --name=VALUE */

static const struct opt_def defs[] = {
    OPT("read", 'r', REQ, "Input", "FILE", NULL,
	"process a pcap/pcapng file offline, then exit 0 (repeatable: files in order)", set_read),
    OPT("interface", 'i', REQ, "Input", "IFACE", NULL,
	"capture from a kernel interface (af_packet, one queue pair per worker)", set_interface),
    OPT("workers", 0, REQ, "Input", "N", "1",
	"worker lcores when devourer builds the EAL options itself", set_workers),
    OPT("rss", 0, REQ, "Input", "ip|ip-l4", "ip",
	"RSS hash fields: addresses only (keeps fragments together) or addresses and ports",
	set_rss),
    OPT("rx-mbufs", 0, REQ, "Input", "N", "0",
	"mbufs in each worker's packet pool; 0 sizes it from the RX descriptors (more: "
	"a PMD that keeps frames, such as net_pcap infinite_rx=1)",
	set_rx_mbufs),
    OPT("clock", 0, REQ, "Input", "auto|packet|system", "auto",
	"flow time: packet time for --read, system clock for live ports", set_clock),

    OPT("flow-timeout", 0, REQ, "Flows", "DUR", "120s", "idle timeout", set_flow_timeout),
    OPT("active-timeout", 0, REQ, "Flows", "DUR", "30m",
	"export a long flow as a segment this long after the segment began", set_active_timeout),
    OPT("tcp-close-timeout", 0, REQ, "Flows", "DUR", "10s",
	"idle time before a TCP flow that saw RST or FIN both ways is exported",
	set_tcp_close_timeout),
    OPT("max-flows", 0, REQ, "Flows", "N", "1048576", "flow table capacity, all workers together",
	set_max_flows),

    OPT("decap", 0, REQ, "Tunnels", "on|off", "on",
	"log the flows inside tunnels, mirror sessions and link shims (docs/tunnels.md); off: "
	"the outer packet is the flow",
	set_decap),
    OPT("vxlan-ports", 0, REQ, "Tunnels", "LIST", "4789,8472",
	"UDP destination ports read as VXLAN (comma list; empty: none)", set_vxlan_ports),
    OPT("vxlan-gpe-ports", 0, REQ, "Tunnels", "LIST", "4790", "UDP ports read as VXLAN-GPE",
	set_vxlan_gpe_ports),
    OPT("geneve-ports", 0, REQ, "Tunnels", "LIST", "6081", "UDP ports read as Geneve",
	set_geneve_ports),
    OPT("gtpu-ports", 0, REQ, "Tunnels", "LIST", "2152", "UDP ports read as GTP-U", set_gtpu_ports),
    OPT("decap-depth", 0, REQ, "Tunnels", "N", "8",
	"encapsulations one packet may pass; a deeper one counts as malformed (1 to 8)",
	set_decap_depth),

    OPT("flow-context", 0, REQ, "Flow context", "on|off", "on",
	"the flow-context columns community_id, server_name, dns_query, dns_rcode "
	"(docs/flow-context.md); off: they are NULL and no payload is read",
	set_flow_context),
    OPT("community-id-seed", 0, REQ, "Flow context", "N", "0",
	"seed of the Community ID (0 to 65535): the same as the other tools' that a row is "
	"joined with",
	set_community_id_seed),

    OPT("output", 'o', REQ, "Output", "LIST", NULL, "comma list of stdout, file, bigquery",
	set_output, WORDS("bigquery if a project is set, else stdout")),
    OPT("write-file", 'w', REQ, "Output", "PATH", NULL, "NDJSON output file for 'file'",
	set_write_file),
    OPT("sensor", 0, REQ, "Output", "NAME", NULL, "written into every row", set_sensor,
	WORDS("host name")),
    OPT("stat-interval", 's', REQ, "Output", "DUR", DV_STAT_INTERVAL_DEFAULT,
	"period of the statistics line on stderr; 0 turns it off. -s with no value "
	"(last, or before another option) is --show-stats",
	set_stat_interval, .bare = "show-stats"),
    OPT("show-stats", 0, OPTIONAL, "Output", "true|false", NULL,
	"the statistics line on at its period, or off (the Go tool's flag; its "
	"variable DEVOURER_SHOW_STATS takes the same values)",
	set_show_stats),
    OPT("log-level", 0, REQ, "Output", "LEVEL", "notice", "error, warning, notice, info or debug",
	set_log_level),

    OPT("bq-project", 0, REQ, "BigQuery", "ID", NULL, "GCP project (alias --bq-project-id)",
	set_bq_project, .env_alias = {"DEVOURER_BQ_PROJECT_ID", "DEVOURER_BIGQUERY_PROJECT_ID"}),
    OPT("bq-project-id", 0, REQ, NULL, "ID", NULL, NULL, set_bq_project),
    OPT("bq-dataset", 0, REQ, "BigQuery", "ID", NULL, "dataset, must exist (alias --bq-dataset-id)",
	set_bq_dataset, .env_alias = {"DEVOURER_BQ_DATASET_ID", "DEVOURER_BIGQUERY_DATASET_ID"}),
    OPT("bq-dataset-id", 0, REQ, NULL, "ID", NULL, NULL, set_bq_dataset),
    OPT("bq-table", 0, REQ, "BigQuery", "NAME", NULL, "table, created on first run if missing",
	set_bq_table, LIB_DEFAULT(LIB_STR, const char *, bq_table)),
    OPT("bq-sa-key-file", 0, REQ, "BigQuery", "FILE", NULL, "service-account key JSON file",
	set_bq_sa_key_file, .env_alias = {"DEVOURER_BIGQUERY_SA_KEY_FILE"}),
    OPT("bq-sa-key-data", 0, REQ, "BigQuery", "JSON", NULL,
	"service-account key JSON itself (prefer the file or the environment)", set_bq_sa_key_data,
	.env_alias = {"DEVOURER_BIGQUERY_SA_KEY_DATA"}, .secret = 1),
    OPT("bq-auth", 0, REQ, "BigQuery", "auto|key|metadata|none", "auto",
	"key if given, else GOOGLE_APPLICATION_CREDENTIALS, else the metadata server", set_bq_auth),
    /* The library's default endpoint (private to lib/bq), in words. */
    OPT("bq-endpoint", 0, REQ, "BigQuery", "URL", NULL,
	"API root (BIGQUERY_EMULATOR_HOST sets it too)", set_bq_endpoint,
	WORDS("https://bigquery.googleapis.com")),
    OPT("bq-api", 0, REQ, "BigQuery", "insertall|storage", "storage",
	"how rows go: the Storage Write API (a committed stream with offsets: exactly once, "
	"billed by protobuf bytes), or tabledata.insertAll (the Go devourer's REST API)",
	set_bq_api),
    OPT("bq-storage-endpoint", 0, REQ, "BigQuery", "HOST:PORT", NULL,
	"Storage Write API endpoint for --bq-api storage (TLS always verified, with "
	"--bq-ca-file)",
	set_bq_storage_endpoint, WORDS("bigquerystorage.googleapis.com:443")),
    OPT("bq-token-uri", 0, REQ, "BigQuery", "URL", NULL, "OAuth token endpoint", set_bq_token_uri,
	WORDS("the key's token_uri")),
    OPT("bq-ca-file", 0, REQ, "BigQuery", "FILE", NULL,
	"extra trust anchor (TLS is always verified)", set_bq_ca_file, WORDS("system CAs")),
    OPT("bq-batch-rows", 0, REQ, "BigQuery", "N", NULL, "rows per insertAll request at most",
	set_bq_batch_rows, LIB_DEFAULT(LIB_U64, uint64_t, bq_batch_rows)),
    OPT("bq-flush-interval", 0, REQ, "BigQuery", "DUR", NULL,
	"a batch leaves after this long even if not full", set_bq_flush_interval,
	LIB_DEFAULT(LIB_DUR, uint64_t, bq_flush_interval_ns)),
    OPT("bq-max-inflight", 0, REQ, "BigQuery", "N", NULL, "concurrent insertAll requests",
	set_bq_max_inflight, LIB_DEFAULT(LIB_U64, uint64_t, bq_max_inflight)),

    OPT("spool-dir", 0, REQ, "Delivery", "DIR", NULL,
	"durable queue for rows not yet accepted by BigQuery", set_spool_dir,
	LIB_DEFAULT(LIB_STR, const char *, spool_dir)),
    /* Left unset: the library builds this path from the spool directory. */
    OPT("dead-letter", 0, REQ, "Delivery", "FILE", NULL,
	"rows BigQuery rejected as invalid, each with its error", set_dead_letter,
	WORDS("<spool-dir>/dead-letter.ndjson")),
    OPT("spool-max-bytes", 0, REQ, "Delivery", "SIZE", NULL, "spool size limit",
	set_spool_max_bytes, LIB_DEFAULT(LIB_SIZE, uint64_t, spool_max_bytes)),
    OPT("write-ahead", 0, REQ, "Delivery", "on|off", NULL,
	"spool every row before it is sent, so a crash loses at most one commit interval; "
	"off: spool only what cannot be delivered now",
	set_write_ahead, LIB_DEFAULT(LIB_ONOFF, int, write_ahead)),
    OPT("spool-commit-interval", 0, REQ, "Delivery", "DUR", NULL,
	"group commit (write + fdatasync) period of the spool: the crash-loss window",
	set_spool_commit_interval, LIB_DEFAULT(LIB_DUR, uint64_t, spool_commit_interval_ns)),
    OPT("shutdown-timeout", 0, REQ, "Delivery", "DUR", NULL,
	"on SIGINT/SIGTERM, how long uploads may take before the rest is spooled",
	set_shutdown_timeout, LIB_DEFAULT(LIB_DUR, uint64_t, shutdown_timeout_ns)),
    OPT("drain-spool", 0, NO, "Delivery", NULL, NULL,
	"send everything in the spool, then exit (no capture)", set_flag_drain),

    OPT("config", 0, REQ, "General", "FILE", NULL,
	"read 'key = value' lines (long option names without --; # comments)", set_config),
    OPT("help", 'h', NO, "General", NULL, NULL, "show this help", set_flag_help),
    OPT("version", 'V', NO, "General", NULL, NULL, "show the version and the DPDK version",
	set_flag_version),
};

#define N_DEFS (sizeof(defs) / sizeof(defs[0]))

/* Is word a secret option's name (whole or an abbreviation getopt would take,
 * without '=')? What follows it may be key data. */
static int names_secret(const char *word)
{
	size_t n = strlen(word);

	if (n < 3 || strncmp(word, "--", 2) != 0 || strchr(word, '='))
		return 0;
	for (size_t i = 0; i < N_DEFS; i++)
		if (defs[i].secret && strncmp(defs[i].name, word + 2, n - 2) == 0)
			return 1;
	return 0;
}

static const struct opt_def *find_def(const char *name)
{
	for (size_t i = 0; i < N_DEFS; i++)
		if (strcmp(defs[i].name, name) == 0)
			return &defs[i];
	return NULL;
}

/*
 * Defaults, the lowest layer: each option's own value from the table,
 * through its setter; delivery and BigQuery values from the library, whose
 * dv_bq_config_init_defaults is the one place they are set; the host name.
 * --dead-letter stays unset: the library builds <spool-dir>/dead-letter.ndjson.
 */
static void set_defaults(struct dv_options *o)
{
	static char host[256];
	struct dv_bq_config bq;
	char err[256];

	memset(o, 0, sizeof(*o));
	for (size_t i = 0; i < N_DEFS; i++) {
		if (defs[i].def != NULL && defs[i].set(o, defs[i].def, err, sizeof(err)) != 0) {
			fprintf(stderr, "dpdk-devourer: built-in default: %s\n", err);
			abort();
		}
	}
	dv_bq_config_init_defaults(&bq);
	o->bq_table = bq.table;
	o->bq_batch_rows = bq.batch_rows;
	o->bq_flush_interval_ns = bq.flush_interval_ns;
	o->bq_max_inflight = bq.max_inflight;
	o->spool_dir = bq.spool_dir;
	o->spool_max_bytes = bq.spool_max_bytes;
	o->write_ahead = bq.write_ahead;
	o->spool_commit_interval_ns = bq.commit_interval_ns;
	o->shutdown_timeout_ns = bq.shutdown_timeout_ns;
	if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
		strcpy(host, "unknown");
	o->sensor = host;
}

/* The default --help shows for d (dflt: as set_defaults left it), or NULL. */
static const char *default_text(const struct opt_def *d, const struct dv_options *dflt, char *buf,
				size_t len)
{
	const char *field = (const char *)dflt + d->field;

	switch (d->lib) {
	case LIB_NONE:
		return d->def ? d->def : d->def_words;
	case LIB_STR:
		return *(const char *const *)field;
	case LIB_U64:
		snprintf(buf, len, "%llu", (unsigned long long)*(const uint64_t *)field);
		return buf;
	case LIB_DUR:
		format_duration(*(const uint64_t *)field, buf, len);
		return buf;
	case LIB_SIZE:
		format_size(*(const uint64_t *)field, buf, len);
		return buf;
	case LIB_ONOFF:
		return *(const int *)field ? "on" : "off";
	}
	return NULL;
}

void dv_options_usage(const char *prog)
{
	static struct dv_options dflt; /* static: its strings stay reachable */
	const char *group = NULL;

	printf(
	    "Usage: %s [EAL options --] [capture|c] [options]\n"
	    "Log every network flow as one row in BigQuery or NDJSON.\n"
	    "Without EAL options devourer picks safe ones (--no-huge, no PCI, --workers lcores).\n"
	    "'capture' (or 'c'), the Go devourer's command word, may come first; it changes\n"
	    "nothing.\n",
	    prog);
	set_defaults(&dflt);
	for (size_t i = 0; i < N_DEFS; i++) {
		const struct opt_def *d = &defs[i];
		char left[64], buf[32];
		const char *def = default_text(d, &dflt, buf, sizeof(buf));

		if (d->group == NULL)
			continue;
		if (group == NULL || strcmp(group, d->group) != 0) {
			group = d->group;
			printf("\n%s:\n", group);
		}
		if (d->has_arg == OPTIONAL)
			snprintf(left, sizeof(left), "    --%s[=%s]", d->name, d->arg);
		else if (d->short_name)
			snprintf(left, sizeof(left), "-%c, --%s%s%s", d->short_name, d->name,
				 d->arg ? " " : "", d->arg ? d->arg : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", d->name, d->arg ? " " : "",
				 d->arg ? d->arg : "");
		/* Two spaces at least after a long left column: the description
		 * starts there (tests/ops/options_consistency.sh reads it so). */
		printf("  %-34s%s%s", left, strlen(left) >= 34 ? "  " : " ", d->help);
		if (def)
			printf(" [%s]", def);
		printf("\n");
	}
	printf("\nEvery option can also be set as DEVOURER_<NAME> in the environment (e.g.\n"
	       "DEVOURER_FLOW_TIMEOUT=60s) or in the --config file. Precedence: command line,\n"
	       "environment, config file, defaults. Durations: 500ms, 10s, 2m, 1h, or seconds.\n");
}

static void env_name(const char *opt, char *buf, size_t len)
{
	size_t n = (size_t)snprintf(buf, len, "DEVOURER_");

	for (const char *p = opt; *p && n + 1 < len; p++)
		buf[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
	buf[n] = '\0';
}

/* Could this text be (part of) a service-account key? Then a message does
 * not show it. */
static int may_be_key_data(const char *v)
{
	return strchr(v, '{') != NULL || strstr(v, "PRIVATE KEY") != NULL;
}

/* Apply one value; names the source in the error. A secret's value is never echoed. */
static int apply(struct dv_options *o, const struct opt_def *d, const char *v, const char *src,
		 char *err, size_t errlen)
{
	char inner[512];

	if (d->set(o, v, inner, sizeof(inner)) == 0)
		return 0;
	if (d->secret) {
		snprintf(inner, sizeof(inner), "--%s: invalid value", d->name);
	} else if (v[0] == '-' && strchr(v, '=')) {
		/* The value is the next option (this one's value is missing):
		 * that option's value is not echoed, it may be key data
		 * (-i --bq-sa-key-data=...). */
		snprintf(inner, sizeof(inner),
			 "--%s: '%.*s=...' is an option, not a value (is the value missing?)",
			 d->name, (int)(strchr(v, '=') - v), v);
	} else if (may_be_key_data(v)) {
		snprintf(inner, sizeof(inner),
			 "--%s: invalid value (not shown: it may be key data)", d->name);
	}
	if (src)
		snprintf(err, errlen, "%s: %s", src, inner);
	else
		snprintf(err, errlen, "%s", inner);
	return -1;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int load_config(struct dv_options *o, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[4096], src[600];
	int lineno = 0, read_seen = 0;

	if (f == NULL && path[0] == '-' && strchr(path, '='))
		/* The next option was taken for the file: its value is not
		 * echoed, it may be key data (--config --bq-sa-key-data=...). */
		return ERR("--config: '%.*s=...' is an option, not a file (is the file missing?)",
			   (int)(strchr(path, '=') - path), path);
	if (f == NULL && may_be_key_data(path))
		return ERR("--config: cannot open the file (not shown: it may be key data): %s",
			   strerror(errno));
	if (f == NULL)
		return ERR("--config: cannot open '%s': %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char *s, *eq, *key, *val;
		const struct opt_def *d;

		lineno++;
		snprintf(src, sizeof(src), "%s:%d", path, lineno);
		if (strchr(line, '\n') == NULL && !feof(f)) {
			fclose(f);
			return ERR("%s: line too long", src);
		}
		s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		eq = strchr(s, '=');
		if (eq == NULL) {
			fclose(f);
			return ERR("%s: expected 'key = value'", src);
		}
		*eq = '\0';
		key = trim(s);
		val = trim(eq + 1);
		/* A quoted value keeps its spaces and may hold '#'. */
		size_t vl = strlen(val);
		if (vl >= 2 && (val[0] == '"' || val[0] == '\'') && val[vl - 1] == val[0]) {
			val[vl - 1] = '\0';
			val++;
		} else {
			char *hash = strstr(val, " #");

			if (hash) {
				*hash = '\0';
				val = trim(val);
			}
		}
		d = find_def(key);
		if (d == NULL || strcmp(key, "config") == 0 || strcmp(key, "help") == 0 ||
		    strcmp(key, "version") == 0) {
			fclose(f);
			return ERR("%s: unknown option '%s'", src, key);
		}
		if (d->has_arg == NO) {
			if (strcmp(val, "true") && strcmp(val, "1") && strcmp(val, "yes")) {
				if (strcmp(val, "false") && strcmp(val, "0") && strcmp(val, "no")) {
					fclose(f);
					return ERR("%s: %s takes true or false", src, key);
				}
				continue;
			}
		}
		if (d->set == set_read && !read_seen) {
			read_seen = 1;
			o->n_read = 0;
		}
		if (apply(o, d, val, src, err, errlen)) {
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	return 0;
}

static int load_env(struct dv_options *o, char *err, size_t errlen)
{
	for (size_t i = 0; i < N_DEFS; i++) {
		const struct opt_def *d = &defs[i];
		const char *names[4] = {NULL};
		char primary[64], src[96];

		if (d->group == NULL || d->set == set_flag_help || d->set == set_flag_version ||
		    d->set == set_config)
			continue;
		env_name(d->name, primary, sizeof(primary));
		names[0] = primary;
		for (int a = 0; a < 3; a++)
			names[a + 1] = d->env_alias[a];
		/* The first name set wins: DEVOURER_<NAME> before the Go tool's aliases. */
		for (int a = 0; a < 4 && names[a]; a++) {
			const char *v = getenv(names[a]);

			if (v == NULL || *v == '\0')
				continue;
			if (d->has_arg == NO &&
			    (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no")))
				break;
			snprintf(src, sizeof(src), "environment %s", names[a]);
			if (d->set == set_read)
				o->n_read = 0; /* DEVOURER_READ names one file */
			if (apply(o, d, v, src, err, errlen))
				return -1;
			break;
		}
	}
	return 0;
}

/* Build the getopt tables from defs. */
static void build_getopt(struct option *longopts, char *shortopts)
{
	size_t s = 0;

	for (size_t i = 0; i < N_DEFS; i++) {
		longopts[i].name = defs[i].name;
		longopts[i].has_arg = defs[i].has_arg;
		longopts[i].flag = NULL;
		longopts[i].val = 256 + (int)i;
		if (defs[i].short_name) {
			shortopts[s++] = (char)defs[i].short_name;
			if (defs[i].has_arg == REQ)
				shortopts[s++] = ':';
			if (defs[i].bare) /* optional here; the parser may take the next word */
				shortopts[s++] = ':';
		}
	}
	memset(&longopts[N_DEFS], 0, sizeof(longopts[N_DEFS]));
	shortopts[s] = '\0';
}

static const struct opt_def *def_of(int c)
{
	if (c >= 256 && c < 256 + (int)N_DEFS)
		return &defs[c - 256];
	for (size_t i = 0; i < N_DEFS; i++)
		if (defs[i].short_name == c)
			return &defs[i];
	return NULL;
}

/* The command line as given, kept to be applied after the lower layers. */
struct cli_args {
	struct {
		const struct opt_def *d;
		const char *v;
	} opt[512];
	int n;
	const char *config; /* --config, read before everything else */
};

/*
 * Pass 1: collect the command line into cli, each option with its value,
 * without applying any. Then nothing may follow the options.
 */
static int collect_cli(struct cli_args *cli, int argc, char **argv, char *err, size_t errlen)
{
	struct option longopts[N_DEFS + 1];
	/* '+': stop at the first non-option (there are no operands), so "-s
	 * VALUE" stays in order; ':': report a missing value as ':'. */
	char shortopts[3 * N_DEFS + 3] = "+:";
	int c;

	build_getopt(longopts, shortopts + 2);
	opterr = 0;
	optind = 0; /* 0, not 1: glibc starts afresh (and reads the '+') on every call */
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		const struct opt_def *d;

		if (c == '?') {
			/* Not past its '=': a mistyped --bq-sa-key-data=KEY keeps the key. */
			const char *w = argv[optind - 1], *eq = strchr(w, '=');

			if (optopt)
				return ERR("unknown option '-%c' (see --help)", optopt);
			if (eq)
				return ERR("unknown option '%.*s=...' (see --help)", (int)(eq - w),
					   w);
			return ERR("unknown option '%s' (see --help)", w);
		}
		if (c == ':') {
			return ERR("option '%s' needs a value", argv[optind - 1]);
		}
		d = def_of(c);
		if (d == NULL)
			return ERR("unknown option (see --help)");
		if (cli->n >= (int)(sizeof(cli->opt) / sizeof(cli->opt[0])))
			return ERR("too many options");
		if (d->set == set_config)
			cli->config = optarg;
		cli->opt[cli->n].d = d;
		cli->opt[cli->n].v = optarg ? optarg : "";
		if (c < 256 && d->bare && optarg == NULL) {
			/* "-s 5s" or "-s": see the opening comment. */
			if (optind < argc && argv[optind][0] != '-')
				cli->opt[cli->n].v = argv[optind++];
			else
				cli->opt[cli->n].d = find_def(d->bare);
		}
		cli->n++;
	}
	if (optind < argc &&
	    (strcmp(argv[optind], "capture") == 0 || strcmp(argv[optind], "c") == 0))
		return ERR("unexpected argument '%s' (the Go tool's command word goes first, "
			   "before every option)",
			   argv[optind]);
	if (optind < argc) {
		const char *a = argv[optind], *eq = strchr(a, '=');

		/* Not echoed whole: after "--" an option's value is an unexpected
		 * argument, and it may be key data (--bq-sa-key-data=...). */
		if (a[0] == '-' && eq)
			return ERR("unexpected argument '%.*s=...' (options start with --, and "
				   "none comes after a lone --; see --help)",
				   (int)(eq - a), a);
		/* The secret option's value ended up here (an option before it
		 * took its name as a value: -r --bq-sa-key-data KEY). */
		if (may_be_key_data(a) || (optind > 1 && names_secret(argv[optind - 1])))
			return ERR(
			    "unexpected argument (not shown: it may be key data; see --help)");
		return ERR("unexpected argument '%s' (options start with --; see --help)", a);
	}
	return 0;
}

/* Pass 2: the layers above the defaults, lowest first: the config file
 * (--config, else DEVOURER_CONFIG), the environment, the command line. */
static int apply_layers(struct dv_options *o, const struct cli_args *cli, char *err, size_t errlen)
{
	const char *config = cli->config;
	int read_on_cli = 0;

	if (config == NULL)
		config = getenv("DEVOURER_CONFIG");
	if (config != NULL && *config) {
		o->config_file = config;
		if (load_config(o, config, err, errlen))
			return -1;
	}
	if (load_env(o, err, errlen))
		return -1;
	for (int i = 0; i < cli->n; i++) {
		if (cli->opt[i].d->set == set_config)
			continue;
		if (cli->opt[i].d->set == set_read && !read_on_cli) {
			read_on_cli = 1;
			o->n_read = 0;
		}
		if (apply(o, cli->opt[i].d, cli->opt[i].v, NULL, err, errlen))
			return -1;
	}
	return 0;
}

/* Cross-option checks: nothing starts half-configured. */
static int check_combination(struct dv_options *o, char *err, size_t errlen)
{
	if (o->outputs == 0)
		o->outputs = o->bq_project ? DV_OUT_BIGQUERY : DV_OUT_STDOUT;
	if ((o->outputs & DV_OUT_FILE) && o->write_file == NULL)
		return ERR("--output file needs --write-file PATH");
	if (o->write_file && !(o->outputs & DV_OUT_FILE))
		return ERR("--write-file is set but --output does not include 'file'");
	if ((o->outputs & DV_OUT_BIGQUERY) && (o->bq_project == NULL || o->bq_dataset == NULL))
		return ERR("--output bigquery needs --bq-project and --bq-dataset");
	if (o->n_read > 0 && o->interface)
		return ERR("--read and --interface cannot be used together");
	if (o->drain_spool && (o->n_read > 0 || o->interface))
		return ERR("--drain-spool sends the spool and exits; it takes no --read or "
			   "--interface");
	if (o->drain_spool && (o->bq_project == NULL || o->bq_dataset == NULL))
		return ERR("--drain-spool needs --bq-project and --bq-dataset");
	if (o->spool_commit_interval_ns == 0)
		return ERR("--spool-commit-interval: must be more than 0");
	if (o->bq_sa_key_file && o->bq_sa_key_data)
		return ERR("--bq-sa-key-file and --bq-sa-key-data are exclusive");
	if (o->flow_timeout_ns == 0)
		return ERR("--flow-timeout: must be more than 0");
	if (o->active_timeout_ns == 0)
		return ERR("--active-timeout: must be more than 0");
	if (o->tcp_close_timeout_ns == 0)
		return ERR("--tcp-close-timeout: must be more than 0");
	return 0;
}

int dv_options_parse(struct dv_options *o, int argc, char **argv, char *err, size_t errlen)
{
	struct cli_args cli = {.n = 0};
	int go_command = 0;

	/* The Go tool's "devourer capture ..." (alias "c"): only its first
	 * argument, as there; the word changes nothing. */
	if (argc > 1 && (strcmp(argv[1], "capture") == 0 || strcmp(argv[1], "c") == 0)) {
		argv[1] = argv[0];
		argv++;
		argc--;
		go_command = 1;
	}
	set_defaults(o);
	o->go_command = go_command;
	if (collect_cli(&cli, argc, argv, err, errlen))
		return -1;
	for (int i = 0; i < cli.n; i++) {
		if (cli.opt[i].d->set == set_flag_help)
			o->help = 1;
		if (cli.opt[i].d->set == set_flag_version)
			o->version = 1;
	}
	if (o->help || o->version)
		return 1;
	if (apply_layers(o, &cli, err, errlen))
		return -1;
	return check_combination(o, err, errlen);
}
