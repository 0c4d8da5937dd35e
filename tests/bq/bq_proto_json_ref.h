/*
 * bq_proto_json_ref: the JSON row -> protobuf row encoder as it was before
 * the scanner (lib/bq/dv_bq_proto.c before session 11's rewrite), kept as the
 * tests' reference: jansson parses the text (JSON_REJECT_DUPLICATES unless
 * any_dup), each column of dv_columns.def is looked up by name, its value
 * written in column order; TIMESTAMP microseconds by timegm(), not by the
 * library's date arithmetic. Same contract as dv_bq_proto_row_json().
 */
#ifndef BQ_PROTO_JSON_REF_H
#define BQ_PROTO_JSON_REF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int bq_proto_json_ref(const char *json, size_t len, uint8_t *buf, size_t cap, const char **column,
		      bool any_dup);

/* 1 if the text parses (jansson, duplicates allowed) to an object holding a
 * member whose value is a real, an object or an array (what the scanner
 * refuses and jansson did not), 0 if not, -1 if it does not parse. */
int bq_proto_json_ref_unusual(const char *json, size_t len);

#endif
