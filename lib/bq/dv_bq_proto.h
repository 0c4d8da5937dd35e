/*
 * dv_bq_proto: rows as protocol buffers for the BigQuery Storage Write API
 * (issue 17). The row message has one field per column of dv_columns.def,
 * numbered by its position (id is 1); its DescriptorProto is the
 * writer_schema of the first AppendRowsRequest, and every row is serialized
 * by hand into the caller's buffer: the same values the JSON writer
 * (dv_row.c) puts in a row, with NULL columns left out and TIMESTAMP as
 * int64 microseconds since the epoch.
 *
 * The .proto subset of the API (lib/bq/proto/) is compiled by protoc-c into
 * the library; this header needs none of it, so its users (the sink, the
 * tests) need no generated header.
 */
#ifndef DV_BQ_PROTO_H
#define DV_BQ_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "dv_export.h"

/* The row message's name in the writer schema. */
#define DV_BQ_PROTO_MESSAGE "flow_row"

/*
 * Longest row dv_bq_proto_row() can produce with a sensor name of
 * DV_SENSOR_MAX (255) bytes: about 700 bytes with every column at its
 * longest, so this leaves room.
 */
#define DV_BQ_PROTO_ROW_MAX 1024

/*
 * Serialize the row message's google.protobuf.DescriptorProto (proto2:
 * REQUIRED columns are required fields, NULLABLE ones optional; STRING is a
 * string field, INTEGER and TIMESTAMP int64) into buf. Returns its length,
 * or -ENOSPC if cap is too small. Made once per stream, not per row.
 */
int dv_bq_proto_descriptor(uint8_t *buf, size_t cap);

/*
 * Serialize the record r with sensor as one row message into buf. No
 * allocation. Returns the length, -ENOSPC if cap is too small (buf then
 * holds garbage), or -EINVAL for a record whose family is neither 4 nor 6
 * (as dv_row_format).
 */
int dv_bq_proto_row(const struct dv_export_rec *r, const char *sensor, uint8_t *buf, size_t cap);

/*
 * The same row message from a JSON row as dv_row_format() writes it (a row
 * replayed from the spool has nothing else): each column of dv_columns.def
 * by name, a STRING from a JSON string, an INTEGER from a JSON integer, a
 * TIMESTAMP from dv_time_format()'s text; null or absent columns are left
 * out, members that are no column checked and ignored. For a row of
 * dv_row_format() the bytes are those of dv_bq_proto_row(). One pass over
 * the text (never past len), no allocation; RFC 8259 JSON, but only a flat
 * object whose values are strings, integers, true, false or null.
 * Returns the length, -ENOSPC, or -EINVAL for text that is not such a row:
 * *column then names the column whose value is not of its type, or is NULL
 * when the text itself is refused (not JSON, not a flat object, a number
 * with a fraction or an exponent, a column twice).
 */
int dv_bq_proto_row_json(const char *json, size_t len, uint8_t *buf, size_t cap,
			 const char **column);

#endif
