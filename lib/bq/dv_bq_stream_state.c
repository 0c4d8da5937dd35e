/*
 * dv_bq_stream_state: the Storage Write API's streams and request journal,
 * kept beside the spool (the file format and its rules are in
 * dv_bq_stream_state.h). Memory holds the file's bytes (for the rewrite)
 * and, for the rows of earlier runs, a hash table from insertId to stream
 * and offset, asked once per row the spool gives back.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dv_bq_stream_state.h"
#include "dv_spool.h"

#define DV_BQ_SS_UNKNOWN INT64_MIN /* a stream of an earlier run not finalized yet */
#define DV_BQ_SS_HDR	 8	   /* length, CRC */

struct dv_bq_ss_stream {
	uint32_t id;
	int old;       /* created by an earlier run */
	int64_t rows;  /* row count once finalized, -1 gone, DV_BQ_SS_UNKNOWN */
	uint64_t live; /* rows of earlier runs still to be met */
	char name[DV_BQ_SS_NAME_MAX];
};

/* A row of an earlier run. */
struct dv_bq_ss_row {
	const uint8_t *id; /* NULL: empty slot; in ss->loaded */
	uint8_t len;
	uint8_t live;
	uint32_t stream; /* index in ss->streams */
	int64_t off;
};

struct dv_bq_ss {
	struct dv_bq_log *log;
	char *path, *tmp, *dir;
	int fd;
	struct dv_bq_buf buf; /* the file's bytes */
	uint8_t *loaded;      /* the file as found at open: the old rows' ids point here */
	struct dv_bq_ss_stream *streams;
	uint32_t nstreams, streams_cap, next_id;
	struct dv_bq_ss_row *rows; /* open addressing */
	size_t rows_cap;	   /* a power of two, or 0 */
	uint64_t live;		   /* old rows not met yet */
	struct dv_bq_ss_stats st;
};

/* ---- little endian and the hash ------------------------------------------------- */

static void dv_bq_ss_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void dv_bq_ss_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t dv_bq_ss_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t dv_bq_ss_get64(const uint8_t *p)
{
	return (uint64_t)dv_bq_ss_get32(p) | (uint64_t)dv_bq_ss_get32(p + 4) << 32;
}

static uint64_t dv_bq_ss_hash(const void *p, size_t n) /* FNV-1a */
{
	const uint8_t *b = p;
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h;
}

/* ---- streams --------------------------------------------------------------------- */

static struct dv_bq_ss_stream *dv_bq_ss_find(struct dv_bq_ss *ss, uint32_t id)
{
	for (uint32_t i = 0; i < ss->nstreams; i++)
		if (ss->streams[i].id == id)
			return &ss->streams[i];
	return NULL;
}

static struct dv_bq_ss_stream *dv_bq_ss_add_stream(struct dv_bq_ss *ss, uint32_t id,
						   const char *name, size_t len)
{
	struct dv_bq_ss_stream *s;

	if (ss->nstreams == ss->streams_cap) {
		uint32_t cap = ss->streams_cap ? 2 * ss->streams_cap : 8;
		void *p = realloc(ss->streams, cap * sizeof(*ss->streams));

		if (!p)
			return NULL;
		ss->streams = p;
		ss->streams_cap = cap;
	}
	s = &ss->streams[ss->nstreams++];
	memset(s, 0, sizeof(*s));
	s->id = id;
	s->rows = DV_BQ_SS_UNKNOWN;
	if (len >= sizeof(s->name))
		len = sizeof(s->name) - 1;
	memcpy(s->name, name, len);
	if (id >= ss->next_id)
		ss->next_id = id + 1;
	return s;
}

/* ---- the rows of earlier runs ------------------------------------------------------- */

static struct dv_bq_ss_row *dv_bq_ss_slot(struct dv_bq_ss *ss, const void *id, size_t len)
{
	size_t mask = ss->rows_cap - 1;

	for (size_t i = dv_bq_ss_hash(id, len) & mask;; i = (i + 1) & mask) {
		struct dv_bq_ss_row *r = &ss->rows[i];

		if (!r->id || (r->len == len && !memcmp(r->id, id, len)))
			return r;
	}
}

/*
 * One 'R' record of the file into the table, the records read newest first:
 * a row already there was sent again by a later record and keeps that; rows
 * at or past *min_later (a later record's offset on the same stream: the
 * offset was taken again, so they were not stored) are left out.
 */
static void dv_bq_ss_index(struct dv_bq_ss *ss, const uint8_t *p, size_t len, int64_t *min_later)
{
	uint32_t stream = dv_bq_ss_get32(p + 1);
	int64_t off = (int64_t)dv_bq_ss_get64(p + 5);
	uint32_t n = dv_bq_ss_get32(p + 13);
	struct dv_bq_ss_stream *s = dv_bq_ss_find(ss, stream);
	size_t at = 17;

	for (uint32_t k = 0; k < n && at < len && s; k++) {
		uint8_t il = p[at];
		struct dv_bq_ss_row *r;

		if (at + 1 + il > len)
			break;
		r = dv_bq_ss_slot(ss, p + at + 1, il);
		if (!r->id && off + k < *min_later) {
			*r = (struct dv_bq_ss_row){.id = p + at + 1,
						   .len = il,
						   .live = 1,
						   .stream = (uint32_t)(s - ss->streams),
						   .off = off + k};
			s->live++;
			ss->live++;
		}
		at += 1 + (size_t)il;
	}
	if (off < *min_later)
		*min_later = off;
}

/* ---- reading the file ---------------------------------------------------------------- */

/* Length of the valid records at the start of b[0..n). */
static size_t dv_bq_ss_valid(const uint8_t *b, size_t n)
{
	size_t at = 0;

	while (n - at >= DV_BQ_SS_HDR) {
		uint32_t len = dv_bq_ss_get32(b + at);

		if (len == 0 || len > n - at - DV_BQ_SS_HDR ||
		    dv_bq_ss_get32(b + at + 4) != dv_spool_crc32c(b + at + DV_BQ_SS_HDR, len))
			break;
		at += DV_BQ_SS_HDR + len;
	}
	return at;
}

/* Streams and row counts of the records in ss->loaded[0..n), and how many
 * 'R' records there are. */
static size_t dv_bq_ss_streams(struct dv_bq_ss *ss, size_t n)
{
	size_t nr = 0;

	for (size_t at = 0; at < n; at += DV_BQ_SS_HDR + dv_bq_ss_get32(ss->loaded + at)) {
		const uint8_t *p = ss->loaded + at + DV_BQ_SS_HDR;
		uint32_t len = dv_bq_ss_get32(ss->loaded + at);
		struct dv_bq_ss_stream *s;

		if (len < 5)
			continue;
		if (p[0] == 'S' && (s = dv_bq_ss_add_stream(ss, dv_bq_ss_get32(p + 1),
							    (const char *)p + 5, len - 5)))
			s->old = 1;
		else if (p[0] == 'F' && len >= 13 && (s = dv_bq_ss_find(ss, dv_bq_ss_get32(p + 1))))
			s->rows = (int64_t)dv_bq_ss_get64(p + 5);
		else if (p[0] == 'R' && len >= 17)
			nr++;
	}
	return nr;
}

/* The rows of earlier runs, newest record first. 0 or -ENOMEM. */
static int dv_bq_ss_load_rows(struct dv_bq_ss *ss, size_t n)
{
	size_t nr = dv_bq_ss_streams(ss, n), i = 0, rows = 0;
	const uint8_t **recs = calloc(nr ? nr : 1, sizeof(*recs));
	int64_t *min_later = calloc(ss->nstreams ? ss->nstreams : 1, sizeof(*min_later));

	if (!recs || !min_later) {
		free(recs);
		free(min_later);
		return -ENOMEM;
	}
	for (size_t at = 0; at < n; at += DV_BQ_SS_HDR + dv_bq_ss_get32(ss->loaded + at)) {
		const uint8_t *p = ss->loaded + at + DV_BQ_SS_HDR;

		if (dv_bq_ss_get32(ss->loaded + at) >= 17 && p[0] == 'R') {
			recs[i++] = ss->loaded + at;
			rows += dv_bq_ss_get32(p + 13);
		}
	}
	for (ss->rows_cap = 16; ss->rows_cap < 2 * rows;)
		ss->rows_cap *= 2;
	ss->rows = calloc(ss->rows_cap, sizeof(*ss->rows));
	for (uint32_t k = 0; ss->rows && k < ss->nstreams; k++)
		min_later[k] = INT64_MAX;
	while (ss->rows && i-- > 0) {
		struct dv_bq_ss_stream *s = dv_bq_ss_find(ss, dv_bq_ss_get32(recs[i] + 9));

		if (s)
			dv_bq_ss_index(ss, recs[i] + DV_BQ_SS_HDR, dv_bq_ss_get32(recs[i]),
				       &min_later[s - ss->streams]);
	}
	free(recs);
	free(min_later);
	ss->st.loaded_rows = ss->live;
	return ss->rows ? 0 : -ENOMEM;
}

/* Read the file, cut a torn tail, keep its bytes. */
static int dv_bq_ss_read(struct dv_bq_ss *ss, char *err, size_t errlen)
{
	struct stat sb;
	size_t n = 0, good;

	if (fstat(ss->fd, &sb)) {
		snprintf(err, errlen, "%s: %s", ss->path, strerror(errno));
		return -errno;
	}
	ss->loaded = malloc(sb.st_size ? (size_t)sb.st_size : 1);
	if (!ss->loaded) {
		snprintf(err, errlen, "%s: out of memory", ss->path);
		return -ENOMEM;
	}
	while (n < (size_t)sb.st_size) {
		ssize_t r = pread(ss->fd, ss->loaded + n, (size_t)sb.st_size - n, (off_t)n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(err, errlen, "%s: %s", ss->path,
				 r ? strerror(errno) : "short read");
			return r ? -errno : -EIO;
		}
		n += (size_t)r;
	}
	good = dv_bq_ss_valid(ss->loaded, n);
	if (good < n) {
		ss->st.cut_bytes = n - good;
		dv_bq_logf(
		    ss->log, DV_BQ_WARN,
		    "%s: the last %zu bytes are not a whole record (cut by a crash): cut off",
		    ss->path, n - good);
		if (ftruncate(ss->fd, (off_t)good) || fdatasync(ss->fd)) {
			snprintf(err, errlen, "%s: %s", ss->path, strerror(errno));
			return -errno;
		}
	}
	ss->st.file_bytes = good;
	if (dv_bq_buf_add(&ss->buf, ss->loaded, good) || dv_bq_ss_load_rows(ss, good)) {
		snprintf(err, errlen, "%s: out of memory", ss->path);
		return -ENOMEM;
	}
	return 0;
}

int dv_bq_ss_open(const char *dir, struct dv_bq_log *log, struct dv_bq_ss **out, char *err,
		  size_t errlen)
{
	struct dv_bq_ss *ss = calloc(1, sizeof(*ss));
	size_t n = strlen(dir) + sizeof(DV_BQ_SS_FILE) + 8;
	int rc;

	*out = NULL;
	if (ss)
		ss->fd = -1;
	if (!ss || !(ss->path = malloc(n)) || !(ss->tmp = malloc(n)) || !(ss->dir = strdup(dir))) {
		dv_bq_ss_close(ss);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ss->log = log;
	ss->fd = -1;
	snprintf(ss->path, n, "%s/%s", dir, DV_BQ_SS_FILE);
	snprintf(ss->tmp, n, "%s/%s.tmp", dir, DV_BQ_SS_FILE);
	ss->fd = open(ss->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (ss->fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot open %s: %s", ss->path, strerror(errno));
		dv_bq_ss_close(ss);
		return rc;
	}
	rc = dv_bq_ss_read(ss, err, errlen);
	if (rc) {
		dv_bq_ss_close(ss);
		return rc;
	}
	if (ss->live)
		dv_bq_logf(log, DV_BQ_INFO,
			   "%s: %" PRIu64 " rows sent by an earlier run on %u streams; each is "
			   "checked against its stream's row count when the spool gives it back",
			   ss->path, ss->live, ss->nstreams);
	*out = ss;
	return 0;
}

void dv_bq_ss_close(struct dv_bq_ss *ss)
{
	if (!ss)
		return;
	if (ss->fd >= 0)
		close(ss->fd);
	dv_bq_buf_free(&ss->buf);
	free(ss->loaded);
	free(ss->streams);
	free(ss->rows);
	free(ss->path);
	free(ss->tmp);
	free(ss->dir);
	free(ss);
}

/* ---- writing ----------------------------------------------------------------------- */

/* Append one record (payload p[0..len)) to the file, synced. On failure the
 * file is cut back, so a later record is never behind a torn one. */
static int dv_bq_ss_append(struct dv_bq_ss *ss, const uint8_t *p, size_t len)
{
	uint8_t hdr[DV_BQ_SS_HDR];
	size_t at = ss->buf.len, off = 0, total;
	int rc = 0;

	dv_bq_ss_put32(hdr, (uint32_t)len);
	dv_bq_ss_put32(hdr + 4, dv_spool_crc32c(p, len));
	if (dv_bq_buf_add(&ss->buf, hdr, sizeof(hdr)) || dv_bq_buf_add(&ss->buf, p, len)) {
		ss->buf.len = at;
		return -ENOMEM;
	}
	total = ss->buf.len - at;
	while (off < total) {
		ssize_t n = write(ss->fd, ss->buf.p + at + off, total - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			break;
		}
		off += (size_t)n;
	}
	if (rc == 0 && fdatasync(ss->fd))
		rc = -errno;
	if (rc) {
		dv_bq_logf(ss->log, DV_BQ_ERR, "cannot write %s: %s", ss->path, strerror(-rc));
		ss->buf.len = at;
		if (ftruncate(ss->fd, (off_t)at))
			dv_bq_logf(ss->log, DV_BQ_ERR, "cannot cut %s back: %s", ss->path,
				   strerror(errno));
		return rc;
	}
	ss->st.file_bytes = ss->buf.len;
	return 0;
}

/* Whether the record at p (header included) is kept by a rewrite whose
 * 'R' records start at cut; keep[] marks the streams kept. */
static int dv_bq_ss_keeps(const struct dv_bq_ss *ss, const uint8_t *p, size_t at, size_t cut,
			  const uint8_t *keep)
{
	const uint8_t *q = p + DV_BQ_SS_HDR;
	uint32_t len = dv_bq_ss_get32(p);

	for (uint32_t i = 0; len >= 5 && i < ss->nstreams; i++)
		if (ss->streams[i].id == dv_bq_ss_get32(q + 1))
			return q[0] == 'R' ? at >= cut : keep[i];
	return 0;
}

/* Where the 'R' records of the newest DV_BQ_SS_KEEP_ROWS rows start; the
 * streams they (or the newest stream) name marked in keep[]. */
static size_t dv_bq_ss_cut(const struct dv_bq_ss *ss, uint8_t *keep)
{
	const uint8_t *b = (const uint8_t *)ss->buf.p;
	size_t cut = ss->buf.len, rows = 0, total = 0;
	int found = 0;

	for (size_t at = 0; at < ss->buf.len; at += DV_BQ_SS_HDR + dv_bq_ss_get32(b + at))
		if (b[at + DV_BQ_SS_HDR] == 'R')
			total += dv_bq_ss_get32(b + at + DV_BQ_SS_HDR + 13);
	for (size_t at = 0; at < ss->buf.len; at += DV_BQ_SS_HDR + dv_bq_ss_get32(b + at)) {
		const uint8_t *q = b + at + DV_BQ_SS_HDR;

		if (q[0] != 'R')
			continue;
		if (total - rows <= DV_BQ_SS_KEEP_ROWS) {
			if (!found)
				cut = at;
			found = 1;
			for (uint32_t i = 0; i < ss->nstreams; i++)
				keep[i] |= ss->streams[i].id == dv_bq_ss_get32(q + 1);
		}
		rows += dv_bq_ss_get32(q + 13);
	}
	if (ss->nstreams)
		keep[ss->nstreams - 1] = 1;
	return cut;
}

/* Rewrite the file with the newest rows only (temporary file, sync,
 * rename). A failure leaves the old file, which stays correct. */
static void dv_bq_ss_compact(struct dv_bq_ss *ss)
{
	uint8_t *keep = calloc(ss->nstreams ? ss->nstreams : 1, 1);
	struct dv_bq_buf nb = {0};
	size_t cut;
	int fd = -1, dfd;

	if (!keep)
		return;
	cut = dv_bq_ss_cut(ss, keep);
	for (size_t at = 0; at < ss->buf.len;) {
		size_t n = DV_BQ_SS_HDR + dv_bq_ss_get32((const uint8_t *)ss->buf.p + at);

		if (dv_bq_ss_keeps(ss, (const uint8_t *)ss->buf.p + at, at, cut, keep) &&
		    dv_bq_buf_add(&nb, ss->buf.p + at, n))
			goto out;
		at += n;
	}
	fd = open(ss->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0 || write(fd, nb.p, nb.len) != (ssize_t)nb.len || fdatasync(fd) ||
	    rename(ss->tmp, ss->path)) {
		dv_bq_logf(ss->log, DV_BQ_WARN, "cannot rewrite %s: %s", ss->path, strerror(errno));
		goto out;
	}
	dfd = open(ss->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	close(ss->fd);
	ss->fd = open(ss->path, O_RDWR | O_APPEND | O_CLOEXEC);
	dv_bq_buf_free(&ss->buf);
	ss->buf = nb;
	nb = (struct dv_bq_buf){0};
	ss->st.compactions++;
	ss->st.file_bytes = ss->buf.len;
out:
	if (fd >= 0)
		close(fd);
	dv_bq_buf_free(&nb);
	free(keep);
}

/* ---- the interface ------------------------------------------------------------------- */

int dv_bq_ss_unresolved(const struct dv_bq_ss *ss, uint32_t *stream, const char **name)
{
	for (uint32_t i = 0; i < ss->nstreams; i++) {
		const struct dv_bq_ss_stream *s = &ss->streams[i];

		if (s->old && s->live && s->rows == DV_BQ_SS_UNKNOWN) {
			*stream = s->id;
			*name = s->name;
			return 1;
		}
	}
	return 0;
}

int dv_bq_ss_resolve(struct dv_bq_ss *ss, uint32_t stream, int64_t rows)
{
	struct dv_bq_ss_stream *s = dv_bq_ss_find(ss, stream);
	uint8_t p[13];

	if (!s)
		return -ENOENT;
	s->rows = rows < 0 ? -1 : rows;
	p[0] = 'F';
	dv_bq_ss_put32(p + 1, stream);
	dv_bq_ss_put64(p + 5, (uint64_t)s->rows);
	return dv_bq_ss_append(ss, p, sizeof(p));
}

enum dv_bq_ss_fate dv_bq_ss_take(struct dv_bq_ss *ss, const char *id)
{
	size_t len = strlen(id);
	struct dv_bq_ss_row *r;
	struct dv_bq_ss_stream *s;

	if (!ss->live || len > UINT8_MAX)
		return DV_BQ_SS_NEW;
	r = dv_bq_ss_slot(ss, id, len);
	if (!r->id || !r->live)
		return DV_BQ_SS_NEW;
	s = &ss->streams[r->stream];
	if (s->rows == DV_BQ_SS_UNKNOWN)
		return DV_BQ_SS_UNRESOLVED;
	r->live = 0;
	s->live--;
	ss->live--;
	if (s->rows < 0)
		return DV_BQ_SS_MAY_REPEAT;
	return r->off < s->rows ? DV_BQ_SS_STORED : DV_BQ_SS_NEW;
}

int dv_bq_ss_recovering(const struct dv_bq_ss *ss)
{
	return ss->live > 0;
}

int dv_bq_ss_stream(struct dv_bq_ss *ss, const char *name, uint32_t *stream)
{
	size_t len = strlen(name);
	uint8_t p[5 + DV_BQ_SS_NAME_MAX];
	struct dv_bq_ss_stream *s;

	if (len >= DV_BQ_SS_NAME_MAX)
		return -ENAMETOOLONG;
	s = dv_bq_ss_add_stream(ss, ss->next_id, name, len);
	if (!s)
		return -ENOMEM;
	*stream = s->id;
	p[0] = 'S';
	dv_bq_ss_put32(p + 1, s->id);
	memcpy(p + 5, name, len);
	return dv_bq_ss_append(ss, p, 5 + len);
}

int dv_bq_ss_sending(struct dv_bq_ss *ss, uint32_t stream, int64_t offset, const char *const *ids,
		     uint32_t n)
{
	size_t len = 17;
	uint8_t *p;
	int rc;

	for (uint32_t k = 0; k < n; k++)
		len += 1 + strnlen(ids[k], UINT8_MAX);
	p = malloc(len);
	if (!p)
		return -ENOMEM;
	p[0] = 'R';
	dv_bq_ss_put32(p + 1, stream);
	dv_bq_ss_put64(p + 5, (uint64_t)offset);
	dv_bq_ss_put32(p + 13, n);
	len = 17;
	for (uint32_t k = 0; k < n; k++) {
		size_t il = strnlen(ids[k], UINT8_MAX);

		p[len] = (uint8_t)il;
		memcpy(p + len + 1, ids[k], il);
		len += 1 + il;
	}
	if (ss->buf.len + len > DV_BQ_SS_MAX_BYTES)
		dv_bq_ss_compact(ss);
	rc = dv_bq_ss_append(ss, p, len);
	free(p);
	if (rc == 0)
		ss->st.records++;
	return rc;
}

void dv_bq_ss_get_stats(const struct dv_bq_ss *ss, struct dv_bq_ss_stats *st)
{
	*st = ss->st;
}
