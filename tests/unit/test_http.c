/*
 * test_http: lib/dv_http.c, the Host of the first HTTP/1.x request
 * (server_name).
 *
 * Requests written here as RFC 9112 (message format) and RFC 9110 7.2
 * (Host) give them; the first is RFC 9110 6.1's example. What tshark 4.0.17
 * prints as http.host for some of them (a capture of them) is beside them:
 * it agrees on printable values, keeps whitespace after the value (RFC 9110
 * 5.5 says it is not part of it: trimmed here) and prints other bytes raw,
 * as U+FFFD or C escapes. Every request is also read cut at every length,
 * each copy ending where an inaccessible page begins.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "guarded.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dv_http.h"

/* dv_http_host() of the first len bytes of b, copied to the end of a page
 * that an inaccessible page follows. */
static int host_cut(const char *b, uint32_t len, char *out, uint32_t cap)
{
	struct guarded g = {0};
	int rc = dv_http_host(guarded_put(&g, 2, b, len), len, out, cap);

	guarded_free(&g);
	return rc;
}

struct req {
	const char *text;
	const char *line; /* the line that decides: FOUND or NONE once it is all there */
	int want;
	const char *host;
};

static const struct req reqs[] = {
    /* RFC 9110 6.1; tshark: www.example.com */
    {"GET /hello.txt HTTP/1.1\r\nUser-Agent: curl/7.64.1\r\nHost: www.example.com\r\n"
     "Accept-Language: en, mi\r\n\r\n",
     "Host: www.example.com\r\n", DV_CTX_FOUND, "www.example.com"},
    /* any case, no space, a port; tshark: example.org:8080 */
    {"POST /form HTTP/1.0\r\nhost:example.org:8080\r\nContent-Length: 0\r\n\r\n",
     "host:example.org:8080\r\n", DV_CTX_FOUND, "example.org:8080"},
    /* whitespace around the value, LF line ends; tshark: "a.example \t " */
    {"OPTIONS * HTTP/1.1\nHOST: \t a.example \t \nX: y\n\n", "HOST: \t a.example \t \n",
     DV_CTX_FOUND, "a.example"},
    /* a target in absolute form, other headers first that look alike */
    {"CONNECT b.example:443 HTTP/1.1\r\nX-Host: x\r\nHostname: y\r\n Host: folded\r\n"
     "Host: b.example:443\r\nHost: second\r\n\r\n",
     "Host: b.example:443\r\n", DV_CTX_FOUND, "b.example:443"},
    /* spaces in the target (WebattackRCE.pcap frame 535); tshark: 127.0.0.1 */
    {"GET /cgi-bin/x;cat /etc/passwd|?d=Download HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
     "Host: 127.0.0.1\r\n", DV_CTX_FOUND, "127.0.0.1"},
    /* IPv6 literal */
    {"GET / HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n\r\n", "Host: [2001:db8::1]:8080\r\n",
     DV_CTX_FOUND, "[2001:db8::1]:8080"},
    /* no Host (HTTP/1.0 allows it) */
    {"GET / HTTP/1.0\r\nAccept: */*\r\n\r\n", "\r\n", DV_CTX_NONE, NULL},
    /* an empty Host (RFC 9110 7.2: a target without authority) */
    {"GET / HTTP/1.1\r\nHost: \r\n\r\n", "Host: \r\n", DV_CTX_NONE, NULL},
    /* bytes that are not printable ASCII; tshark: x^Ay\z, caf<U+FFFD><U+FFFD> */
    {"GET / HTTP/1.1\r\nHost: x\001y\\z caf\303\251\r\n\r\n", "Host: x\001y\\z caf\303\251\r\n",
     DV_CTX_FOUND, "x\\001y\\\\z caf\\195\\169"},
};

/* Where the deciding line of r ends (its LF), +1. */
static uint32_t decided_at(const struct req *r)
{
	const char *at = strstr(r->text, r->line);

	/* the empty line of a request without Host is its last line */
	if (r->want == DV_CTX_NONE && strcmp(r->line, "\r\n") == 0)
		return (uint32_t)strlen(r->text);
	assert_non_null(at);
	return (uint32_t)(at - r->text + strlen(r->line));
}

static void test_requests(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		uint32_t n = (uint32_t)strlen(reqs[i].text), at = decided_at(&reqs[i]);
		char out[DV_CTX_NAME_MAX];

		for (uint32_t cut = 0; cut <= n; cut++) {
			int rc = host_cut(reqs[i].text, cut, out, sizeof(out));

			if (cut < at) {
				assert_int_equal(rc, DV_CTX_BAD);
				continue;
			}
			assert_int_equal(rc, reqs[i].want);
			if (rc == DV_CTX_FOUND)
				assert_string_equal(out, reqs[i].host);
		}
	}
}

/* Not a request line of HTTP/1.x: no name, whatever follows. */
static void test_not_http(void **state)
{
	static const char *const bad[] = {
	    "get / HTTP/1.1\r\nHost: a\r\n\r\n",		       /* lower-case method */
	    "GET HTTP/1.1\r\nHost: a\r\n\r\n",			       /* no target */
	    "GET  HTTP/1.1\r\nHost: a\r\n\r\n",			       /* an empty target */
	    "GET / HTTP/2.0\r\nHost: a\r\n\r\n",		       /* not 1.x */
	    "GET / HTTP/1.x\r\nHost: a\r\n\r\n",		       /* not a digit */
	    "GET / HTTP/1.1 \r\nHost: a\r\n\r\n",		       /* more after the version */
	    "GET / HTTP/1.1\rHost: a\r\n\r\n",			       /* a CR alone */
	    "GET /HTTP/1.1\r\nHost: a\r\n\r\n",			       /* no second SP */
	    "HTTP/1.1 200 OK\r\nHost: a\r\n\r\n",		       /* a response */
	    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",			       /* HTTP/2's preface */
	    "GE\x01 / HTTP/1.1\r\nHost: a\r\n\r\n",		       /* not a token */
	    "GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n",		       /* DEL in the target */
	    "GET /\t HTTP/1.1\r\nHost: a\r\n\r\n",		       /* HTAB in the target */
	    "ABCDEFGHIJKLMNOPQRSTUVWXY / HTTP/1.1\r\nHost: a\r\n\r\n", /* 25 letters */
	    "\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00",		       /* TLS */
	};
	char out[DV_CTX_NAME_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(host_cut(bad[i], (uint32_t)strlen(bad[i]), out, sizeof(out)),
				 DV_CTX_BAD);
	/* 24 letters is a method still */
	assert_int_equal(host_cut("ABCDEFGHIJKLMNOPQRSTUVWX / HTTP/1.1\r\nHost: a\r\n\r\n", 47, out,
				  sizeof(out)),
			 DV_CTX_FOUND);
	assert_string_equal(out, "a");
}

/* A value whose text does not fit: no name, never a cut one. */
static void test_long_value(void **state)
{
	char req[600], out[DV_CTX_NAME_MAX];
	uint32_t n;

	(void)state;
	for (uint32_t l = 254; l <= 256; l++) {
		n = (uint32_t)snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: %0*d\r\n\r\n",
				       (int)l, 7);
		assert_int_equal(host_cut(req, n, out, sizeof(out)),
				 l < 256 ? DV_CTX_FOUND : DV_CTX_BAD);
		if (l < 256)
			assert_int_equal(strlen(out), l);
	}
	/* 64 bytes that each need \DDD: 256 characters */
	n = (uint32_t)snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: ");
	memset(req + n, 0x01, 64);
	memcpy(req + n + 64, "\r\n\r\n", 4);
	assert_int_equal(host_cut(req, n + 68, out, sizeof(out)), DV_CTX_BAD);
	memcpy(req + n + 63, "\r\n\r\n", 4);
	assert_int_equal(host_cut(req, n + 67, out, sizeof(out)), DV_CTX_FOUND);
	assert_int_equal(strlen(out), 63 * 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_requests),
	    cmocka_unit_test(test_not_http),
	    cmocka_unit_test(test_long_value),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
