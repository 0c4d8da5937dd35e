/*
 * dv_row: formats an export record as one BigQuery row in JSON, the same
 * text for an NDJSON line and for the "json" member of an insertAll row.
 * Hand-written formatting (no printf, no allocation) because the control
 * lcore formats every row of the appliance: 123 ns a row on one thread of
 * this VM, 207 with community_id, whose SHA-1 is OpenSSL's
 * (tests/bench/bench_row, docs/benchmarks.md).
 */
#ifndef DV_ROW_H
#define DV_ROW_H

#include <stddef.h>
#include <stdint.h>

#include "dv_community_id.h"
#include "dv_export.h"

/* Longest row dv_row_format() can produce with a sensor name of DV_SENSOR_MAX. */
#define DV_SENSOR_MAX 255
/* (1344 without the flow-context names; each adds at most 255 characters
 * JSON-escaped to two each, and its member's name.) */
#define DV_ROW_MAX 2432
/* "<36-char uuid>:<segment>" plus NUL */
#define DV_INSERT_ID_MAX 48

/*
 * Write the row as a JSON object (no trailing newline) into buf.
 * Returns its length, or -ENOSPC if cap is too small (buf then holds garbage).
 * sensor must already be valid UTF-8; it is JSON-escaped here.
 */
int dv_row_format(const struct dv_export_rec *r, const char *sensor, char *buf, size_t cap);

/* What a row is formatted with besides its record. */
struct dv_row_opts {
	const char *sensor; /* as dv_row_format()'s */
	/* dv_row_plain_len(sensor) if the caller has it (the sensor is then
	 * copied as it is), else 0 (it is escaped at every row). */
	size_t sensor_plain;
	const struct dv_community_cfg *community; /* seed of community_id; NULL: seed 0 */
};

/* The length of s if JSON needs no escape in it, else 0 (dv_row_opts). */
size_t dv_row_plain_len(const char *s);

/* dv_row_format() with opts (dv_row_format() is this with community NULL). */
int dv_row_format_opts(const struct dv_export_rec *r, const struct dv_row_opts *opts, char *buf,
		       size_t cap);

/* Write "<uuid>:<segment>" into buf (DV_INSERT_ID_MAX bytes). Returns length. */
int dv_row_insert_id(const struct dv_export_rec *r, char *buf);

/* "tcp", "udp", "icmp4", ..., else "ip-<n>" written into tmp (16 bytes). */
const char *dv_proto_name(uint8_t proto, uint8_t family, char tmp[16]);

/* Format a 16-byte address (family 4 or 6; IPv6 per RFC 5952) into buf (46 bytes). */
int dv_addr_format(const uint8_t addr[16], uint8_t family, char *buf);

/* A flow id as canonical 8-4-4-4-12 lowercase text into buf (36 bytes, no NUL); returns 36. */
int dv_uuid_format(const uint8_t id[16], char *buf);

/* "init" or "established" for an enum dv_flow_status; "unknown" if out of range. */
const char *dv_status_name(uint8_t status);

/* Format ns since epoch as "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" (28 bytes with NUL). */
int dv_time_format(uint64_t ns, char *buf);

#endif
