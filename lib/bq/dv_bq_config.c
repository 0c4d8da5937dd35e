/*
 * dv_bq_config: what the program knows of BigQuery without loading the
 * BigQuery module (app/bq.c): the settings' defaults, the auth modes'
 * names and the streaming API's partition window. The options are parsed
 * and checked with these on every run; the module (libcurl, gRPC,
 * protobuf-c and what they load) only when rows go to BigQuery.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dv_bq.h"
#include "dv_spool.h"
#include "dv_time.h"

/* The library's defaults, the only place they are written (the spool's own
 * come from dv_spool_config_init). */
void dv_bq_config_init_defaults(struct dv_bq_config *c)
{
	struct dv_spool_config sc;

	dv_spool_config_init(&sc);
	memset(c, 0, sizeof(*c));
	c->table = "flow_logs";
	c->auth = DV_BQ_AUTH_AUTO;
	c->ca_path = "/etc/ssl/certs";
	c->connect_timeout_ns = 10 * DV_NS_PER_SEC;
	c->request_timeout_ns = 60 * DV_NS_PER_SEC;
	c->startup_timeout_ns = 30 * DV_NS_PER_SEC;
	c->batch_rows = 500;
	c->flush_interval_ns = DV_NS_PER_SEC;
	c->batch_max_bytes = 9 * 1000 * 1000;
	c->max_inflight = 4;
	c->mem_max_bytes = 512u << 20;
	c->backoff_min_ns = DV_NS_PER_SEC;
	c->backoff_max_ns = 60 * DV_NS_PER_SEC;
	c->spool_dir = "/var/lib/devourer/spool";
	c->spool_max_bytes = sc.max_bytes;
	c->shutdown_timeout_ns = 10 * DV_NS_PER_SEC;
	c->write_ahead = 1;
	c->commit_interval_ns = sc.commit_interval_ns;
	c->create_table = 1;
}

void dv_spool_config_init(struct dv_spool_config *c)
{
	memset(c, 0, sizeof(*c));
	c->max_bytes = DV_SPOOL_MAX_BYTES;
	c->segment_bytes = DV_SPOOL_SEGMENT_BYTES;
	c->commit_interval_ns = DV_SPOOL_COMMIT_NS;
	c->commit_bytes = DV_SPOOL_COMMIT_BYTES;
}

/* The modes' names, the one list of them. */
static const char *const dv_bq_auth_modes[] = {
    [DV_BQ_AUTH_AUTO] = "auto",
    [DV_BQ_AUTH_KEY] = "key",
    [DV_BQ_AUTH_METADATA] = "metadata",
    [DV_BQ_AUTH_NONE] = "none",
};

#define DV_BQ_NMODES (sizeof(dv_bq_auth_modes) / sizeof(dv_bq_auth_modes[0]))

int dv_bq_auth_mode_parse(const char *s, enum dv_bq_auth_mode *m)
{
	for (unsigned int i = 0; s && i < DV_BQ_NMODES; i++) {
		if (!strcmp(s, dv_bq_auth_modes[i])) {
			*m = (enum dv_bq_auth_mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *dv_bq_auth_mode_name(enum dv_bq_auth_mode m)
{
	return (unsigned int)m < DV_BQ_NMODES ? dv_bq_auth_modes[m] : "?";
}

const char *dv_bq_auth_mode_names(char *buf, size_t len)
{
	size_t off = 0;

	if (len > 0)
		buf[0] = '\0';
	for (unsigned int i = 0; i < DV_BQ_NMODES && off < len; i++) {
		int n = snprintf(buf + off, len - off, "%s%s", i ? ", " : "", dv_bq_auth_modes[i]);

		off += n > 0 ? (size_t)n : 0;
	}
	return buf;
}

int dv_bq_partition_ok(uint64_t ts_ns, uint64_t now_ns)
{
	int64_t day = (int64_t)(ts_ns / (86400 * DV_NS_PER_SEC));
	int64_t today = (int64_t)(now_ns / (86400 * DV_NS_PER_SEC));

	return today - day <= 1825 && day - today <= 366;
}
