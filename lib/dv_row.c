/*
 * dv_row: export record -> one BigQuery row as JSON (the columns of
 * dv_columns.def; README.md "Rows" says what each means).
 *
 * The control lcore formats every row the appliance exports, so this file
 * uses no printf family, no allocation and no locale or time-zone calls:
 * numbers, UUIDs, addresses and timestamps are written digit by digit into
 * a bounded cursor. Every append checks the room left, so a short buffer
 * gives -ENOSPC instead of a truncated row. The columns, their order and
 * where each value comes from are dv_columns.def, the list the BigQuery
 * schema is made from too; here is one writer per kind of value.
 *
 * IPv6 text follows RFC 5952 exactly (glibc's inet_ntop does not: it prints
 * "::2" as "::0.0.0.2"), and dates come from a civil-from-days conversion
 * over the proleptic Gregorian calendar rather than gmtime_r().
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "dv_decap.h"
#include "dv_parse.h"
#include "dv_row.h"

/* Bounded output: p advances towards end; once anything did not fit, full
 * is set, end is moved to p (so that one test a piece is all it takes) and
 * the row is then abandoned with -ENOSPC. The writers a row takes every
 * time are always inlined (DV_ROW_INLINE), so that the cursor stays in
 * registers instead of memory between the pieces: 150-155 -> 120-124 ns
 * a row (bench_row, docs/benchmarks.md "Session 26"); the rare ones
 * (escaped strings, tunnels) are calls. */
#define DV_ROW_INLINE static inline __attribute__((always_inline))

struct dv_cursor {
	char *p;
	char *end;
	bool full;
};

DV_ROW_INLINE void put_mem(struct dv_cursor *c, const char *s, size_t n)
{
	if (__builtin_expect((size_t)(c->end - c->p) < n, 0)) {
		c->full = true;
		c->end = c->p; /* no room: every later piece fails the test above */
		return;
	}
	memcpy(c->p, s, n);
	c->p += n;
}

#define PUT_LIT(c, lit) put_mem((c), (lit), sizeof(lit) - 1)

static const char dv_hex[] = "0123456789abcdef";

/* "00" to "99", so numbers are written two digits per division. */
static const char dv_digit_pairs[] = "00010203040506070809101112131415161718192021222324"
				     "25262728293031323334353637383940414243444546474849"
				     "50515253545556575859606162636465666768697071727374"
				     "75767778798081828384858687888990919293949596979899";

/* 10^i for the digit count below; 0 in place of 1, so that 0 has one digit. */
static const uint64_t dv_pow10[20] = {0,
				      10ULL,
				      100ULL,
				      1000ULL,
				      10000ULL,
				      100000ULL,
				      1000000ULL,
				      10000000ULL,
				      100000000ULL,
				      1000000000ULL,
				      10000000000ULL,
				      100000000000ULL,
				      1000000000000ULL,
				      10000000000000ULL,
				      100000000000000ULL,
				      1000000000000000ULL,
				      10000000000000000ULL,
				      100000000000000000ULL,
				      1000000000000000000ULL,
				      10000000000000000000ULL};

/* Decimal digits of v: its bit length times log10(2) (1233 / 4096) is the
 * count or one more, and one comparison tells which (instead of a
 * division a digit). */
static inline int u64_len(uint64_t v)
{
	int t = ((64 - __builtin_clzll(v | 1)) * 1233) >> 12;

	return t + 1 - (v < dv_pow10[t]);
}

/* Decimal digits of v into out (at least 20 bytes); returns the length. */
static inline int u64_digits(uint64_t v, char *out)
{
	int len = u64_len(v);
	char *p;

	p = out + len;
	while (v >= 100) {
		unsigned int r = (unsigned int)(v % 100);

		v /= 100;
		p -= 2;
		memcpy(p, dv_digit_pairs + 2 * r, 2);
	}
	if (v >= 10) {
		p -= 2;
		memcpy(p, dv_digit_pairs + 2 * v, 2);
	} else {
		*--p = (char)('0' + v);
	}
	return len;
}

/* Where a piece of at most max bytes can be written in place, or NULL when
 * the room left is smaller (the piece then goes through a bounce buffer so
 * that -ENOSPC is exact to the byte). */
static inline char *room_for(struct dv_cursor *c, size_t max)
{
	return (size_t)(c->end - c->p) >= max ? c->p : NULL;
}

DV_ROW_INLINE void put_u64(struct dv_cursor *c, uint64_t v)
{
	char tmp[20], *d = room_for(c, sizeof(tmp));

	if (d != NULL)
		c->p += u64_digits(v, d);
	else
		put_mem(c, tmp, (size_t)u64_digits(v, tmp));
}

/* BigQuery INTEGER is INT64: a counter beyond it (only a corrupt record gets
 * there) is clamped so the row is still accepted rather than dead-lettered. */
DV_ROW_INLINE void put_counter(struct dv_cursor *c, uint64_t v)
{
	put_u64(c, v > INT64_MAX ? (uint64_t)INT64_MAX : v);
}

/* Exactly two (or four) zero-padded decimal digits. */
static inline char *two_digits(char *p, unsigned int v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
	return p + 2;
}

const char *dv_proto_name(uint8_t proto, uint8_t family, char tmp[16])
{
	/* Named by number alone: a record says which protocol it carried, and
	 * an ICMPv6 header in an IPv4 packet is still protocol 58. */
	(void)family;
	switch (proto) {
	case 1:
		return "icmp4";
	case 2:
		return "igmp";
	case 6:
		return "tcp";
	case 17:
		return "udp";
	case 47:
		return "gre";
	case 50:
		return "esp";
	case 51:
		return "ah";
	case 58:
		return "icmp6";
	case 89:
		return "ospf";
	case 103:
		return "pim";
	case 112:
		return "vrrp";
	case 132:
		return "sctp";
	default:
		break;
	}
	memcpy(tmp, "ip-", 3);
	tmp[3 + u64_digits(proto, tmp + 3)] = '\0';
	return tmp;
}

/* "0." to "255." as four bytes each and the length of the number: an
 * octet is one 4-byte copy and the dot comes with it. The two hex digits
 * of a byte: one 2-byte copy. Made once, by dv_row_tables_init(). */
static char dv_octets[256][4];
static uint8_t dv_octet_len[256];
static char dv_hex_pairs[256][2];

static void __attribute__((constructor)) dv_row_tables_init(void)
{
	for (unsigned int v = 0; v < 256; v++) {
		char *t = dv_octets[v];
		int n = 0;

		if (v >= 100)
			t[n++] = (char)('0' + v / 100);
		if (v >= 10)
			t[n++] = (char)('0' + v / 10 % 10);
		t[n++] = (char)('0' + v % 10);
		t[n] = '.';
		dv_octet_len[v] = (uint8_t)n;
		dv_hex_pairs[v][0] = dv_hex[v >> 4];
		dv_hex_pairs[v][1] = dv_hex[v & 0xf];
	}
}

/* a as a dotted quad at p: at most 15 characters, and the last copy may
 * write up to 3 bytes after them, never beyond p[15] (the last octet starts
 * at p[12] at the latest): INET_ADDRSTRLEN bytes are enough. */
static char *format_ipv4(const uint8_t a[4], char *p)
{
	for (int i = 0; i < 3; i++) {
		memcpy(p, dv_octets[a[i]], 4);
		p += dv_octet_len[a[i]] + 1;
	}
	memcpy(p, dv_octets[a[3]], 4);
	return p + dv_octet_len[a[3]];
}

/* One group in lowercase hex without leading zeros (RFC 5952 4.1, 4.3). */
static char *format_group(uint16_t g, char *p)
{
	int shift = 12;

	while (shift > 0 && ((g >> shift) & 0xf) == 0)
		shift -= 4;
	for (; shift >= 0; shift -= 4)
		*p++ = dv_hex[(g >> shift) & 0xf];
	return p;
}

static char *format_ipv6(const uint8_t a[16], char *p)
{
	static const uint8_t mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	uint16_t g[8];
	int best = -1, best_len = 0;

	/* RFC 5952 section 5: IPv4-mapped addresses keep the dotted quad. */
	if (memcmp(a, mapped_prefix, sizeof(mapped_prefix)) == 0) {
		memcpy(p, "::ffff:", 7);
		return format_ipv4(a + 12, p + 7);
	}
	for (int i = 0; i < 8; i++)
		g[i] = (uint16_t)(a[2 * i] << 8 | a[2 * i + 1]);

	/* Longest run of zero groups, the first on a tie, at least two long
	 * (RFC 5952 4.2.1 to 4.2.3). */
	for (int i = 0; i < 8;) {
		int j = i;

		while (j < 8 && g[j] == 0)
			j++;
		if (j - i > best_len) {
			best = i;
			best_len = j - i;
		}
		i = (j == i) ? i + 1 : j;
	}
	if (best_len < 2)
		best = -1;

	for (int i = 0; i < 8; i++) {
		if (i == best) {
			*p++ = ':';
			*p++ = ':';
			i += best_len - 1;
			continue;
		}
		/* A separator unless we are at the start or right after "::". */
		if (i > 0 && i != best + best_len)
			*p++ = ':';
		p = format_group(g[i], p);
	}
	return p;
}

int dv_addr_format(const uint8_t addr[16], uint8_t family, char *buf)
{
	char *end;

	if (family == 4)
		end = format_ipv4(addr, buf);
	else if (family == 6)
		end = format_ipv6(addr, buf);
	else
		return -EINVAL;
	*end = '\0';
	return (int)(end - buf);
}

/*
 * Days since 1970-01-01 to a proleptic Gregorian date. The count is shifted
 * to start on 0000-03-01 so that the leap day is the last day of a
 * "year", and then split into 400-year eras of 146097 days, years of the
 * era, and March-based months of 153 days per five.
 */
static void civil_from_days(uint64_t days, unsigned int *year, unsigned int *month,
			    unsigned int *day)
{
	uint64_t z = days + 719468; /* days from 0000-03-01 to 1970-01-01 */
	uint64_t era = z / 146097;
	unsigned int doe = (unsigned int)(z - era * 146097);			  /* [0, 146096] */
	unsigned int yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
	unsigned int doy = doe - (365 * yoe + yoe / 4 - yoe / 100);		  /* [0, 365] */
	unsigned int mp = (5 * doy + 2) / 153;					  /* Mar = 0 */
	unsigned int m = mp < 10 ? mp + 3 : mp - 9;

	*day = doy - (153 * mp + 2) / 5 + 1;
	*month = m;
	*year = (unsigned int)(era * 400 + yoe) + (m <= 2);
}

/* "YYYY-MM-DDT" of the last day formatted by this thread: rows come in
 * time order, mostly from one day, so the calendar is worked out once a
 * day rather than twice a row. */
static __thread struct {
	uint64_t day; /* days since 1970 + 1: 0 is none yet */
	char text[11];
} dv_last_day;

int dv_time_format(uint64_t ns, char *buf)
{
	uint64_t secs = ns / 1000000000ULL;
	unsigned int usec = (unsigned int)(ns % 1000000000ULL / 1000); /* truncated */
	unsigned int sod = (unsigned int)(secs % 86400);
	uint64_t days = secs / 86400;
	char *p = buf;

	if (dv_last_day.day != days + 1) {
		unsigned int year, month, day;
		char *d = dv_last_day.text;

		civil_from_days(days, &year, &month, &day);
		/* uint64_t ns ends in 2554, so the year always has four digits. */
		d = two_digits(d, year / 100);
		d = two_digits(d, year % 100);
		*d++ = '-';
		d = two_digits(d, month);
		*d++ = '-';
		d = two_digits(d, day);
		*d = 'T';
		dv_last_day.day = days + 1;
	}
	memcpy(p, dv_last_day.text, sizeof(dv_last_day.text));
	p += sizeof(dv_last_day.text);
	memcpy(p, dv_digit_pairs + 2 * (sod / 3600), 2);
	p[2] = ':';
	memcpy(p + 3, dv_digit_pairs + 2 * (sod / 60 % 60), 2);
	p[5] = ':';
	memcpy(p + 6, dv_digit_pairs + 2 * (sod % 60), 2);
	p[8] = '.';
	memcpy(p + 9, dv_digit_pairs + 2 * (usec / 10000), 2);
	memcpy(p + 11, dv_digit_pairs + 2 * (usec / 100 % 100), 2);
	memcpy(p + 13, dv_digit_pairs + 2 * (usec % 100), 2);
	p[15] = 'Z';
	p[16] = '\0';
	return (int)(p + 16 - buf);
}

int dv_uuid_format(const uint8_t id[16], char *p)
{
	/* Where each byte's digits go in 8-4-4-4-12. */
	static const uint8_t at[16] = {0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34};

	for (int i = 0; i < 16; i++)
		memcpy(p + at[i], dv_hex_pairs[id[i]], 2);
	p[8] = p[13] = p[18] = p[23] = '-';
	return 36;
}

DV_ROW_INLINE void put_uuid(struct dv_cursor *c, const uint8_t id[16])
{
	char tmp[36], *d = room_for(c, sizeof(tmp));

	if (d != NULL)
		c->p += dv_uuid_format(id, d);
	else
		put_mem(c, tmp, (size_t)dv_uuid_format(id, tmp));
}

/* family is 4 or 6 (checked by the caller); the formatter's NUL is not kept. */
DV_ROW_INLINE void put_addr(struct dv_cursor *c, const uint8_t addr[16], uint8_t family)
{
	char tmp[46], *d = room_for(c, sizeof(tmp));

	if (d != NULL)
		c->p += dv_addr_format(addr, family, d);
	else
		put_mem(c, tmp, (size_t)dv_addr_format(addr, family, tmp));
}

DV_ROW_INLINE void put_time(struct dv_cursor *c, uint64_t ns)
{
	char tmp[28], *d = room_for(c, sizeof(tmp));

	if (d != NULL)
		c->p += dv_time_format(ns, d);
	else
		put_mem(c, tmp, (size_t)dv_time_format(ns, tmp));
}

int dv_row_insert_id(const struct dv_export_rec *r, char *buf)
{
	int n = dv_uuid_format(r->id, buf);

	buf[n++] = ':';
	n += u64_digits(r->segment, buf + n);
	buf[n] = '\0';
	return n;
}

/* A byte JSON takes as it is in a string: not '"', '\\' or a control
 * character (UTF-8 is taken as it is). */
static inline bool json_plain(unsigned char ch)
{
	return ch >= 0x20 && ch != '"' && ch != '\\';
}

/* The sensor as a JSON string body: '"', '\\' and control characters are
 * escaped, everything else (UTF-8 included) is copied in runs. */
static void put_json_string(struct dv_cursor *c, const char *s)
{
	const char *run = s;

	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		char esc[6];

		if (json_plain(ch))
			continue;
		put_mem(c, run, (size_t)(s - run));
		run = s + 1;
		if (ch == '"' || ch == '\\') {
			esc[0] = '\\';
			esc[1] = (char)ch;
			put_mem(c, esc, 2);
		} else {
			memcpy(esc, "\\u00", 4);
			esc[4] = dv_hex[ch >> 4];
			esc[5] = dv_hex[ch & 0xf];
			put_mem(c, esc, 6);
		}
	}
	put_mem(c, run, (size_t)(s - run));
}

DV_ROW_INLINE void put_nullable_u64(struct dv_cursor *c, bool valid, uint64_t v)
{
	if (valid)
		put_u64(c, v);
	else
		PUT_LIT(c, "null");
}

const char *dv_status_name(uint8_t status)
{
	switch (status) {
	case DV_STATUS_INIT:
		return "init";
	case DV_STATUS_ESTABLISHED:
		return "established";
	default:
		return "unknown"; /* as dv_end_reason_name(): a row beats no row */
	}
}

DV_ROW_INLINE void put_str(struct dv_cursor *c, const char *s)
{
	put_mem(c, s, strlen(s));
}

/* ---- one writer per kind of column (dv_columns.def) ---------------------- */

DV_ROW_INLINE void put_col_uuid(struct dv_cursor *c, const uint8_t id[16])
{
	PUT_LIT(c, "\"");
	put_uuid(c, id);
	PUT_LIT(c, "\"");
}

DV_ROW_INLINE void put_col_proto(struct dv_cursor *c, uint8_t proto, uint8_t family)
{
	char tmp[16];

	PUT_LIT(c, "\"");
	put_str(c, dv_proto_name(proto, family, tmp));
	PUT_LIT(c, "\"");
}

DV_ROW_INLINE void put_col_addr(struct dv_cursor *c, const uint8_t addr[16], uint8_t family)
{
	PUT_LIT(c, "\"");
	put_addr(c, addr, family);
	PUT_LIT(c, "\"");
}

DV_ROW_INLINE void put_col_time(struct dv_cursor *c, uint64_t ns)
{
	PUT_LIT(c, "\"");
	put_time(c, ns);
	PUT_LIT(c, "\"");
}

DV_ROW_INLINE void put_col_u64(struct dv_cursor *c, uint64_t v)
{
	put_u64(c, v);
}

DV_ROW_INLINE void put_col_counter(struct dv_cursor *c, uint64_t v)
{
	put_counter(c, v);
}

DV_ROW_INLINE void put_col_status(struct dv_cursor *c, uint8_t status)
{
	PUT_LIT(c, "\"");
	put_str(c, dv_status_name(status));
	PUT_LIT(c, "\"");
}

DV_ROW_INLINE void put_col_end_reason(struct dv_cursor *c, uint8_t reason)
{
	PUT_LIT(c, "\"");
	put_str(c, dv_end_reason_name(reason));
	PUT_LIT(c, "\"");
}

DV_ROW_INLINE void put_col_nullable(struct dv_cursor *c, bool valid, uint64_t v)
{
	put_nullable_u64(c, valid, v);
}

/* The tunnel column: the kinds outermost first, comma separated; null for a plain flow. */
static void put_col_tunnel(struct dv_cursor *c, uint8_t n, const uint8_t *kinds)
{
	if (n == 0) {
		PUT_LIT(c, "null");
		return;
	}
	PUT_LIT(c, "\"");
	for (uint8_t i = 0; i < n && i < DV_TUN_MAX_DEPTH; i++) {
		if (i > 0)
			PUT_LIT(c, ",");
		put_str(c, dv_tunnel_name((enum dv_tunnel_kind)kinds[i]));
	}
	PUT_LIT(c, "\"");
}

/* An address that may be absent (family 0): null. */
DV_ROW_INLINE void put_col_nullable_addr(struct dv_cursor *c, const uint8_t addr[16],
					 uint8_t family)
{
	if (family != 4 && family != 6) {
		PUT_LIT(c, "null");
		return;
	}
	put_col_addr(c, addr, family);
}

/* A string of our own making that JSON needs no escape for (community_id:
 * "1:" and base64), or NULL. */
DV_ROW_INLINE void put_col_token(struct dv_cursor *c, const char *s)
{
	if (s == NULL) {
		PUT_LIT(c, "null");
		return;
	}
	PUT_LIT(c, "\"");
	put_str(c, s);
	PUT_LIT(c, "\"");
}

static void put_col_sensor(struct dv_cursor *c, const char *sensor)
{
	if (sensor == NULL) {
		PUT_LIT(c, "null");
		return;
	}
	PUT_LIT(c, "\"");
	put_json_string(c, sensor);
	PUT_LIT(c, "\"");
}

/* A string of the configuration (the sensor): copied as it is when plain
 * (its dv_row_plain_len(), worked out once by the caller), else escaped. */
DV_ROW_INLINE void put_col_own_text(struct dv_cursor *c, const char *s, size_t plain)
{
	if (s == NULL || plain == 0) {
		put_col_sensor(c, s);
		return;
	}
	PUT_LIT(c, "\"");
	put_mem(c, s, plain);
	PUT_LIT(c, "\"");
}

size_t dv_row_plain_len(const char *s)
{
	size_t n = 0;

	for (; s != NULL && s[n] != '\0'; n++)
		if (!json_plain((unsigned char)s[n]))
			return 0;
	return n;
}

/*
 * The row ends with a NUL after the closing brace, so the text is also a C
 * string; the NUL is not counted in the length but must fit in cap. Every
 * column is written as ,"name":value; the first comma becomes the '{'.
 */
int dv_row_format_opts(const struct dv_export_rec *r, const struct dv_row_opts *opts, char *buf,
		       size_t cap)
{
	struct dv_cursor c = {.p = buf, .end = buf + cap, .full = false};
	const char *sensor = opts->sensor;

	if (r->family != 4 && r->family != 6)
		return -EINVAL;
#define DV_ROW_COMMUNITY    opts->community
#define DV_ROW_SENSOR_PLAIN opts->sensor_plain
#define DV_COLUMN(name, type, mode, description, kind, ...)                                        \
	PUT_LIT(&c, ",\"" #name "\":");                                                            \
	put_col_##kind(&c, __VA_ARGS__);
#include "dv_columns.def"
	PUT_LIT(&c, "}");
	put_mem(&c, "", 1); /* the terminating NUL */
	if (c.full)
		return -ENOSPC;
	buf[0] = '{';
	return (int)(c.p - buf - 1);
}

int dv_row_format(const struct dv_export_rec *r, const char *sensor, char *buf, size_t cap)
{
	const struct dv_row_opts opts = {.sensor = sensor, .community = NULL};

	return dv_row_format_opts(r, &opts, buf, cap);
}
