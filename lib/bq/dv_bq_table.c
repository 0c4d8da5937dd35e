/*
 * dv_bq_table: the flow_logs table. Makes the table schema from
 * dv_columns.def (the list the row writer uses too) for tables.insert, the
 * schema check and the installed flow_logs.schema.json, and holds the
 * startup dialogue:
 * datasets.get, tables.get, tables.insert on 404 (409: someone else won the
 * race, fine), tables.patch to add missing columns as NULLABLE. A column of
 * another type, or a mode that would reject our rows, is a startup error:
 * finding out from a stream of "invalid" rows would be far worse.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dv_bq_int.h"

struct dv_bq_column {
	const char *name;
	const char *type;
	int nullable; /* 1: devourer may write NULL (the column must not be REQUIRED) */
	const char *description;
};

#define DV_BQ_MODE_REQUIRED 0
#define DV_BQ_MODE_NULLABLE 1

/* The columns of dv_columns.def, the list the row writer uses too. */
static const struct dv_bq_column dv_bq_columns[] = {
#define DV_COLUMN(name, type, mode, description, ...)                                              \
	{#name, #type, DV_BQ_MODE_##mode, description},
#include "dv_columns.def"
};

#define DV_BQ_NCOLUMNS (sizeof(dv_bq_columns) / sizeof(dv_bq_columns[0]))

json_t *dv_bq_schema_json(void)
{
	json_t *fields = json_array();

	for (size_t i = 0; i < DV_BQ_NCOLUMNS; i++) {
		const struct dv_bq_column *c = &dv_bq_columns[i];

		json_array_append_new(fields, json_pack("{s:s, s:s, s:s, s:s}", "name", c->name,
							"type", c->type, "mode",
							c->nullable ? "NULLABLE" : "REQUIRED",
							"description", c->description));
	}
	return json_pack("{s:o}", "fields", fields);
}

/* Legacy and standard SQL names of one type compare equal. */
static const char *dv_bq_type_norm(const char *t)
{
	if (!t)
		return "";
	if (!strcmp(t, "INT64"))
		return "INTEGER";
	if (!strcmp(t, "FLOAT64"))
		return "FLOAT";
	if (!strcmp(t, "BOOL"))
		return "BOOLEAN";
	return t;
}

static const struct dv_bq_column *dv_bq_column_find(const char *name)
{
	for (size_t i = 0; i < DV_BQ_NCOLUMNS; i++)
		if (!strcmp(dv_bq_columns[i].name, name))
			return &dv_bq_columns[i];
	return NULL;
}

/* One line from a failed answer: "HTTP 403: accessDenied: Access Denied: ..." */
static void dv_bq_answer(long status, const struct dv_bq_buf *resp, char *out, size_t len)
{
	char msg[200], reason[64];

	dv_bq_google_error(resp->p ? resp->p : "", resp->len, msg, sizeof(msg), reason,
			   sizeof(reason));
	snprintf(out, len, "HTTP %ld%s%s%s%s", status, reason[0] ? ": " : "", reason,
		 msg[0] ? ": " : "", msg);
}

/*
 * The errno for a startup answer other than the one hoped for: a 403 that
 * only says "slow down" (rateLimitExceeded, quotaExceeded) is -EAGAIN, a
 * passing condition like 429 and 5xx (dv_bq_http_sync turns those into
 * -EAGAIN itself); anything else is the caller's definite errno.
 */
static int dv_bq_refusal(long status, const struct dv_bq_buf *resp, int definite)
{
	char msg[8], reason[64];

	if (status != 403)
		return definite;
	dv_bq_google_error(resp->p ? resp->p : "", resp->len, msg, sizeof(msg), reason,
			   sizeof(reason));
	return !strcmp(reason, "rateLimitExceeded") || !strcmp(reason, "quotaExceeded") ? -EAGAIN
											: definite;
}

/* The first conflict of the table's field f with ours (one line in err):
 * -EINVAL, or 0 when f is fine. */
static int dv_bq_field_conflict(json_t *f, const char *full, char *err, size_t errlen)
{
	const char *name = json_string_value(json_object_get(f, "name"));
	const char *type = json_string_value(json_object_get(f, "type"));
	const char *mode = json_string_value(json_object_get(f, "mode"));
	const struct dv_bq_column *c = name ? dv_bq_column_find(name) : NULL;

	if (!mode)
		mode = "NULLABLE";
	if (!c) {
		if (strcmp(mode, "REQUIRED"))
			return 0;
		snprintf(err, errlen,
			 "table %s has a REQUIRED column %s that devourer does not write", full,
			 name ? name : "?");
	} else if (strcmp(dv_bq_type_norm(type), c->type)) {
		snprintf(err, errlen, "table %s: column %s is %s, devourer writes %s", full, name,
			 type ? type : "?", c->type);
	} else if (!strcmp(mode, "REPEATED") || (c->nullable && !strcmp(mode, "REQUIRED"))) {
		snprintf(err, errlen, "table %s: column %s is %s, devourer needs %s", full, name,
			 mode, c->nullable ? "NULLABLE" : "NULLABLE or REQUIRED");
	} else {
		return 0;
	}
	dv_bq_one_line(err); /* the names and types are the table's */
	return -EINVAL;
}

int dv_bq_schema_reconcile(json_t *table, const char *full, json_t **patch, char *err,
			   size_t errlen)
{
	json_t *fields = json_object_get(json_object_get(table, "schema"), "fields");
	json_t *f, *copy;
	size_t i, added = 0;

	*patch = NULL;
	if (!json_is_array(fields)) {
		snprintf(err, errlen, "table %s has no schema", full);
		return -EINVAL;
	}
	json_array_foreach (fields, i, f)
		if (dv_bq_field_conflict(f, full, err, errlen))
			return -EINVAL;
	copy = json_deep_copy(fields);
	for (size_t k = 0; k < DV_BQ_NCOLUMNS; k++) {
		const struct dv_bq_column *c = &dv_bq_columns[k];
		int found = 0;

		json_array_foreach (fields, i, f) {
			const char *name = json_string_value(json_object_get(f, "name"));

			if (name && !strcmp(name, c->name))
				found = 1;
		}
		if (found)
			continue;
		json_array_append_new(copy, json_pack("{s:s, s:s, s:s, s:s}", "name", c->name,
						      "type", c->type, "mode", "NULLABLE",
						      "description", c->description));
		added++;
	}
	if (added)
		*patch = json_pack("{s:{s:o}}", "schema", "fields", copy);
	else
		json_decref(copy);
	return 0;
}

static int dv_bq_tables_insert(const struct dv_bq_http *h, const char *auth,
			       const struct dv_bq_config *c, const char *url, const char *full,
			       uint64_t deadline_ns, char *err, size_t errlen)
{
	struct dv_bq_buf resp = {0};
#define DV_PARTITION(column) #column
	static const char *const partition = {
#include "dv_columns.def"
	};
#define DV_CLUSTER(a, b, c, d) #a, #b, #c, #d
	static const char *const cluster[4] = {
#include "dv_columns.def"
	};
	json_t *t = json_pack("{s:{s:s, s:s, s:s}, s:o, s:{s:s, s:s}, s:{s:[s,s,s,s]}, s:s}",
			      "tableReference", "projectId", c->project, "datasetId", c->dataset,
			      "tableId", c->table, "schema", dv_bq_schema_json(),
			      "timePartitioning", "type", "DAY", "field", partition, "clustering",
			      "fields", cluster[0], cluster[1], cluster[2], cluster[3],
			      "description", "Network flows logged by dpdk-devourer");
	char *body = t ? json_dumps(t, JSON_COMPACT) : NULL;
	long status;
	int rc = 0;

	json_decref(t);
	if (!body) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	status = dv_bq_http_sync(h, "POST", url, auth, "application/json", body, strlen(body),
				 deadline_ns, &resp, err, errlen);
	free(body);
	if (status == 200) {
		dv_bq_logf(h->log, DV_BQ_INFO, "created table %s", full);
	} else if (status == 409) {
		rc = -EEXIST; /* created meanwhile by someone else: check its schema */
	} else if (status > 0) {
		char ans[400];

		dv_bq_answer(status, &resp, ans, sizeof(ans));
		snprintf(err, errlen, "cannot create table %s: %s", full, ans);
		rc = dv_bq_refusal(status, &resp, -EIO);
	} else {
		rc = (int)status;
	}
	dv_bq_buf_free(&resp);
	return rc;
}

int dv_bq_table_ref(const struct dv_bq_config *c, struct dv_bq_table_ref *r, char *err,
		    size_t errlen)
{
	if (dv_bq_path_escape(c->project, r->project, sizeof(r->project)) ||
	    dv_bq_path_escape(c->dataset, r->dataset, sizeof(r->dataset)) ||
	    dv_bq_path_escape(c->table, r->table, sizeof(r->table))) {
		snprintf(err, errlen, "project, dataset or table name too long");
		return -EINVAL;
	}
	snprintf(r->full, sizeof(r->full), "%s:%s.%s", c->project, c->dataset, c->table);
	return 0;
}

/* The requests of one startup check and what they share. */
struct dv_bq_prep {
	const struct dv_bq_http *h;
	const char *auth;
	const struct dv_bq_config *c;
	struct dv_bq_table_ref ref;
	uint64_t deadline_ns;
	struct dv_bq_buf resp;
	char url[2048];
	char *err;
	size_t errlen;
};

/* datasets.get: the dataset must exist (devourer never creates it). */
static int dv_bq_dataset_check(struct dv_bq_prep *q)
{
	const struct dv_bq_config *c = q->c;
	char ans[400];
	long status;

	snprintf(q->url, sizeof(q->url), "%s/bigquery/v2/projects/%s/datasets/%s", q->h->endpoint,
		 q->ref.project, q->ref.dataset);
	status = dv_bq_http_sync(q->h, "GET", q->url, q->auth, NULL, NULL, 0, q->deadline_ns,
				 &q->resp, q->err, q->errlen);
	if (status < 0)
		return (int)status;
	if (status == 200)
		return 0;
	dv_bq_answer(status, &q->resp, ans, sizeof(ans));
	if (status == 404)
		snprintf(q->err, q->errlen,
			 "dataset %s:%s not found (create it first, e.g. bq mk --dataset %s:%s)",
			 c->project, c->dataset, c->project, c->dataset);
	else if (status == 401 || status == 403)
		snprintf(q->err, q->errlen, "access to dataset %s:%s denied (%s)", c->project,
			 c->dataset, ans);
	else
		snprintf(q->err, q->errlen, "datasets.get %s:%s failed: %s", c->project, c->dataset,
			 ans);
	return dv_bq_refusal(status, &q->resp, status == 404 ? -ENOENT : -EACCES);
}

static void dv_bq_table_url(struct dv_bq_prep *q)
{
	snprintf(q->url, sizeof(q->url), "%s/bigquery/v2/projects/%s/datasets/%s/tables/%s",
		 q->h->endpoint, q->ref.project, q->ref.dataset, q->ref.table);
}

/*
 * tables.get, and tables.insert on 404 (a 409 there means someone else
 * created it meanwhile: read it again). 0 with the table in q->resp and its
 * URL in q->url; 1 when we created it with our schema (nothing to check); or
 * a negative errno with err.
 */
static int dv_bq_table_get(struct dv_bq_prep *q)
{
	char ans[400];
	long status = 0;
	int rc;

	dv_bq_table_url(q);
	for (int tries = 0; tries < 3; tries++) {
		q->resp.len = 0;
		status = dv_bq_http_sync(q->h, "GET", q->url, q->auth, NULL, NULL, 0,
					 q->deadline_ns, &q->resp, q->err, q->errlen);
		if (status < 0)
			return (int)status;
		if (status == 200)
			return 0;
		if (status != 404 || !q->c->create_table) {
			dv_bq_answer(status, &q->resp, ans, sizeof(ans));
			snprintf(q->err, q->errlen, "tables.get %s failed: %s", q->ref.full, ans);
			return dv_bq_refusal(status, &q->resp, status == 404 ? -ENOENT : -EIO);
		}
		snprintf(q->url, sizeof(q->url), "%s/bigquery/v2/projects/%s/datasets/%s/tables",
			 q->h->endpoint, q->ref.project, q->ref.dataset);
		rc = dv_bq_tables_insert(q->h, q->auth, q->c, q->url, q->ref.full, q->deadline_ns,
					 q->err, q->errlen);
		if (rc == 0)
			return 1;
		if (rc != -EEXIST)
			return rc;
		dv_bq_table_url(q);
	}
	snprintf(q->err, q->errlen, "table %s neither readable nor creatable", q->ref.full);
	return -EIO;
}

/* tables.patch: add the missing columns the reconcile put in patch. */
static int dv_bq_table_patch(struct dv_bq_prep *q, json_t *patch)
{
	char *body = json_dumps(patch, JSON_COMPACT);
	char ans[400];
	long status;

	if (!q->c->create_table) {
		snprintf(q->err, q->errlen, "table %s lacks columns devourer writes", q->ref.full);
		free(body);
		return -EINVAL;
	}
	q->resp.len = 0;
	status = body ? dv_bq_http_sync(q->h, "PATCH", q->url, q->auth, "application/json", body,
					strlen(body), q->deadline_ns, &q->resp, q->err, q->errlen)
		      : -ENOMEM;
	free(body);
	if (status == 200) {
		dv_bq_logf(q->h->log, DV_BQ_INFO, "added missing columns to table %s", q->ref.full);
		return 0;
	}
	if (status > 0) {
		dv_bq_answer(status, &q->resp, ans, sizeof(ans));
		snprintf(q->err, q->errlen, "cannot add missing columns to table %s: %s",
			 q->ref.full, ans);
		return dv_bq_refusal(status, &q->resp, -EIO);
	}
	return (int)status;
}

int dv_bq_table_prepare(const struct dv_bq_http *h, const char *auth, const struct dv_bq_config *c,
			uint64_t deadline_ns, char *err, size_t errlen)
{
	struct dv_bq_prep q = {
	    .h = h, .auth = auth, .c = c, .deadline_ns = deadline_ns, .err = err, .errlen = errlen};
	json_t *table = NULL, *patch = NULL;
	int rc;

	rc = dv_bq_table_ref(c, &q.ref, err, errlen);
	if (rc)
		return rc;
	rc = dv_bq_dataset_check(&q);
	if (rc == 0)
		rc = dv_bq_table_get(&q);
	if (rc) {
		dv_bq_buf_free(&q.resp);
		return rc > 0 ? 0 : rc;
	}
	table = json_loadb(q.resp.p, q.resp.len, 0, NULL);
	rc = dv_bq_schema_reconcile(table, q.ref.full, &patch, err, errlen);
	if (rc == 0 && !json_is_object(json_object_get(table, "timePartitioning")))
		dv_bq_logf(h->log, DV_BQ_WARN,
			   "table %s is not partitioned; queries will scan all of it", q.ref.full);
	if (rc == 0 && patch)
		rc = dv_bq_table_patch(&q, patch);
	json_decref(table);
	json_decref(patch);
	dv_bq_buf_free(&q.resp);
	return rc;
}
