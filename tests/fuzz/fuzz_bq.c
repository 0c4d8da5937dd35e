/*
 * fuzz_bq: the answers the BigQuery client parses (lib/bq), one per mode.
 *
 * Input: one mode byte, then for the token answer one status byte, then the
 * answer's body. Mode (byte % 2):
 *   0  a token answer (OAuth token endpoint or metadata server) through
 *      dv_bq_auth_finish() with the HTTP status the status byte picks (200,
 *      400, 401, 403, 429, 500, 503, 200 again for the rest);
 *   1  a Google error body through dv_bq_google_error().
 *
 * Invariants: the token answer gives 0 (a usable token), -EACCES (a
 * definite refusal: 400/401/403), -EAGAIN (try again) or -EPROTO (no usable
 * token); with 0 the Authorization header is one line of a bounded length
 * holding the token the body gave; otherwise there is no header and the
 * error is one line. Never a secret in a message: a 200 answer without a
 * usable token gives a fixed message, with nothing of the body in it.
 * The error body's message and reason are NUL-terminated within their
 * buffers and one line (both go into one log line).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dv_bq_int.h"
#include "fuzz_common.h"

static void quiet(void *arg, int level, const char *msg)
{
	(void)arg;
	(void)level;
	(void)msg;
}

static struct dv_bq_log quiet_log = {.fn = quiet};

static const long statuses[] = {200, 400, 401, 403, 429, 500, 503};

/* The access_token the body gives, if it is JSON with a string one. */
static char *body_token(const char *body, size_t len)
{
	json_t *root = json_loadb(body, len, 0, NULL);
	const char *t = json_string_value(json_object_get(root, "access_token"));
	char *copy = t ? strdup(t) : NULL;

	json_decref(root);
	return copy;
}

static void one_line(const char *s, size_t cap, const char *what)
{
	size_t n = strnlen(s, cap);

	dv_fuzz_check(n < cap, "%s not terminated", what);
	dv_fuzz_check(strpbrk(s, "\r\n") == NULL, "%s on more than one line: %s", what, s);
}

static void fuzz_token(const uint8_t *data, size_t size)
{
	struct dv_bq_config c;
	struct dv_bq_auth *a;
	char err[512], *tok;
	const char *hdr;
	long status;
	int rc;

	if (size < 1)
		return;
	status = statuses[data[0] < sizeof(statuses) / sizeof(statuses[0]) ? data[0] : 0];
	data++, size--;
	dv_bq_config_init_defaults(&c);
	c.auth = DV_BQ_AUTH_METADATA; /* no key, no I/O: a token URL only */
	err[0] = '\0';
	a = dv_bq_auth_create(&c, &quiet_log, err, sizeof(err));
	dv_fuzz_check(a != NULL, "auth: %s", err);
	memset(err, 0, sizeof(err));
	rc = dv_bq_auth_finish(a, status, (const char *)data, size, 1000, err, sizeof(err));
	hdr = dv_bq_auth_header(a, 1000);
	tok = body_token((const char *)data, size);
	if (rc == 0) {
		dv_fuzz_check(status == 200, "a token from HTTP %ld", status);
		dv_fuzz_check(hdr != NULL && strncmp(hdr, "Authorization: Bearer ", 22) == 0,
			      "header %s", hdr ? hdr : "(none)");
		dv_fuzz_check(strpbrk(hdr, "\r\n") == NULL && strlen(hdr) < 22 + 8192,
			      "header of %zu bytes or on two lines", strlen(hdr));
		dv_fuzz_check(tok != NULL && strcmp(hdr + 22, tok) == 0,
			      "the header is not the body's token");
	} else {
		dv_fuzz_check(rc == -EACCES || rc == -EAGAIN || rc == -EPROTO || rc == -ENOMEM,
			      "rc %d", rc);
		dv_fuzz_check(rc != -EACCES || status == 400 || status == 401 || status == 403,
			      "a definite refusal from HTTP %ld", status);
		dv_fuzz_check(hdr == NULL, "a header after a failed answer");
		one_line(err, sizeof(err), "error");
		dv_fuzz_check(err[0] != '\0', "a failure without a message");
		/* A 200 answer without a usable token: a fixed message, nothing
		 * of the body in it (never a token, even a malformed one). */
		if (status == 200 && rc == -EPROTO) {
			char want[512];

			snprintf(want, sizeof(want),
				 "metadata server %s gave no usable access_token",
				 dv_bq_auth_url(a));
			dv_fuzz_check(strcmp(err, want) == 0, "error %s", err);
		}
	}
	free(tok);
	dv_bq_auth_destroy(a);
}

static void fuzz_google_error(const uint8_t *data, size_t size)
{
	char msg[200], reason[64];

	memset(msg, 0x5a, sizeof(msg));
	memset(reason, 0x5a, sizeof(reason));
	dv_bq_google_error((const char *)data, size, msg, sizeof(msg), reason, sizeof(reason));
	one_line(msg, sizeof(msg), "message");
	one_line(reason, sizeof(reason), "reason");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;

	if (size < 1)
		return 0;
	/* Exactly the body's bytes on the heap: ASan sees a read past them. */
	copy = malloc(size - 1 ? size - 1 : 1);
	dv_fuzz_check(copy != NULL, "out of memory");
	memcpy(copy, data + 1, size - 1);
	if (data[0] % 2 == 0)
		fuzz_token(copy, size - 1);
	else
		fuzz_google_error(copy, size - 1);
	free(copy);
	return 0;
}
