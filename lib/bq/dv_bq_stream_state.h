/*
 * dv_bq_stream_state: what the Storage Write API path (dv_bq_storage_api.c)
 * keeps on disk beside the spool so that a restart, even after kill -9,
 * stores no row twice (issue 17): the committed streams it wrote to and a
 * journal of the requests sent on them, in <spool dir>/storage-streams.
 *
 * The file is a sequence of records, each
 *     u32 payload length | u32 CRC32C(payload) | payload
 * (little endian), the payload one of
 *     'S' u32 stream | name                      a stream was created
 *     'R' u32 stream | i64 offset | u32 n | n x (u8 len | insertId)
 *                                                n rows go at offset..offset+n-1
 *     'F' u32 stream | i64 rows                  the stream was finalized by a
 *                                                later run: its row count (-1: gone)
 * An 'R' record is written and fdatasync'ed before its request goes on the
 * wire. A request sent again at the same offset (its answer was lost) is not
 * written again: it carries the same rows. A new 'R' at an offset already in
 * the journal means the rows recorded there earlier were not stored (row
 * errors: the offset is taken again), so the later record wins.
 *
 * A restart reads the file (a torn tail is cut off) and keeps every row of
 * an 'R' record by its insertId. Each stream with such rows is finalized
 * (FinalizeWriteStream answers its row count) and the count recorded ('F');
 * a row the spool gives back is then stored already when its offset is below
 * that count (delivered without being sent), not stored when it is not (sent
 * to the new stream like any row), and may repeat when the stream is gone.
 * Finalizing rather than sending the rows again at their offsets is exact
 * even when the spool gives back only some rows of a request (its other rows
 * were in a segment already deleted, or in the commit interval a kill -9
 * lost) or in another order.
 *
 * The file is rewritten (a temporary file, fdatasync, rename) when it passes
 * DV_BQ_SS_MAX_BYTES, keeping the 'R' records of the newest
 * DV_BQ_SS_KEEP_ROWS rows and the streams they name: rows sent earlier are
 * in spool segments long deleted (a segment is sealed after 10 s or 16 MiB
 * and deleted once every row in it is accepted).
 *
 * Not thread-safe; the control lcore owns it.
 */
#ifndef DV_BQ_STREAM_STATE_H
#define DV_BQ_STREAM_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "dv_bq_int.h"

#define DV_BQ_SS_FILE	   "storage-streams"
#define DV_BQ_SS_MAX_BYTES (32u << 20)
#define DV_BQ_SS_KEEP_ROWS (256u << 10)
#define DV_BQ_SS_NAME_MAX  512

struct dv_bq_ss;

/* What an earlier run did with a row the spool gave back. */
enum dv_bq_ss_fate {
	DV_BQ_SS_NEW = 0,    /* never sent, or sent and not stored: send it */
	DV_BQ_SS_STORED,     /* stored by an earlier run: delivered */
	DV_BQ_SS_MAY_REPEAT, /* sent to a stream that is gone: may be stored */
	DV_BQ_SS_UNRESOLVED, /* its stream is not finalized yet */
};

/* Open (create) dir/DV_BQ_SS_FILE and read what earlier runs left. 0 and
 * *out, or a negative errno with one line in err. */
int dv_bq_ss_open(const char *dir, struct dv_bq_log *log, struct dv_bq_ss **out, char *err,
		  size_t errlen);
void dv_bq_ss_close(struct dv_bq_ss *ss);

/* A stream of an earlier run that has rows to account for and no row count
 * yet: 1 with its id and name, or 0 when there is none. */
int dv_bq_ss_unresolved(const struct dv_bq_ss *ss, uint32_t *stream, const char **name);

/* Its row count (FinalizeWriteStream's), or -1: the stream is gone. 0 or a
 * negative errno (the file could not be written; the count is kept in
 * memory all the same). */
int dv_bq_ss_resolve(struct dv_bq_ss *ss, uint32_t stream, int64_t rows);

/* What became of the row with this insertId in an earlier run; the answer
 * is given once (the row is forgotten), but DV_BQ_SS_UNRESOLVED. */
enum dv_bq_ss_fate dv_bq_ss_take(struct dv_bq_ss *ss, const char *id);

/* 1 while rows of earlier runs are still to be met. */
int dv_bq_ss_recovering(const struct dv_bq_ss *ss);

/* This run created stream name: its id in *stream. 0 or negative errno. */
int dv_bq_ss_stream(struct dv_bq_ss *ss, const char *name, uint32_t *stream);

/* n rows (their insertIds) are about to be sent at offset of stream: on
 * disk (write + fdatasync) when this returns 0; a negative errno: send
 * nothing. */
int dv_bq_ss_sending(struct dv_bq_ss *ss, uint32_t stream, int64_t offset, const char *const *ids,
		     uint32_t n);

/* Counters for messages and tests. */
struct dv_bq_ss_stats {
	uint64_t loaded_rows; /* rows of earlier runs found in the file */
	uint64_t cut_bytes;   /* torn tail cut off at open */
	uint64_t records;     /* 'R' records written by this run */
	uint64_t compactions; /* rewrites */
	uint64_t file_bytes;  /* the file's size now */
};
void dv_bq_ss_get_stats(const struct dv_bq_ss *ss, struct dv_bq_ss_stats *st);

#endif
