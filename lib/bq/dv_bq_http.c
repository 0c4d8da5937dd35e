/*
 * dv_bq_http: the HTTP plumbing every BigQuery request shares: logging,
 * libcurl easy-handle setup (TLS, timeouts, keep-alive), one synchronous
 * request with bounded retries for startup work, and reading Google's error
 * envelope. The asynchronous insertAll path (dv_bq_insertall.c) uses
 * the same setup, so every request is verified the same way.
 *
 * Trust anchors. CURLOPT_CAINFO replaces libcurl's default bundle, so with
 * ca_file alone the system CAs would stop being trusted. libcurl 7.88
 * with OpenSSL loads CURLOPT_CAINFO and CURLOPT_CAPATH into one X509 store
 * (X509_STORE_load_file + X509_STORE_load_path), so we set CAINFO to the
 * extra CA and CAPATH to the system's hashed directory (/etc/ssl/certs on
 * Debian): both are trusted. (CURLOPT_CAINFO_BLOB would instead need the
 * system bundle concatenated into the blob of every handle.) The test
 * "ca_file_and_ca_path_both_trusted" checks this with two test CAs.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <rte_log.h>

#include "dv_bq_int.h"
#include "dv_time.h"

RTE_LOG_REGISTER(dv_bq_logtype, devourer.bq, INFO);

#define DV_BQ_RESP_MAX (64u << 20) /* answers larger than this are cut (and fail to parse) */

void dv_bq_logf(const struct dv_bq_log *l, int level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (l && l->fn)
		l->fn(l->arg, level, msg);
	else
		rte_log((uint32_t)level, (uint32_t)dv_bq_logtype, "devourer.bq: %s\n", msg);
}

int dv_bq_buf_reserve(struct dv_bq_buf *b, size_t extra)
{
	size_t cap;
	char *p;

	if (b->len + extra + 1 <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + extra + 1)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

int dv_bq_buf_add(struct dv_bq_buf *b, const void *p, size_t n)
{
	if (dv_bq_buf_reserve(b, n))
		return -ENOMEM;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

void dv_bq_buf_free(struct dv_bq_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

static size_t dv_bq_write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct dv_bq_buf *b = arg;
	size_t len = size * n;

	if (b->len + len > DV_BQ_RESP_MAX || dv_bq_buf_add(b, p, len))
		return 0; /* makes the transfer fail with CURLE_WRITE_ERROR */
	return len;
}

void dv_bq_http_setup(const struct dv_bq_http *h, CURL *e, struct dv_bq_buf *resp, char *errbuf)
{
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (h->ca_file) {
		curl_easy_setopt(e, CURLOPT_CAINFO, h->ca_file);
		if (h->ca_path && h->ca_path[0])
			curl_easy_setopt(e, CURLOPT_CAPATH, h->ca_path);
	}
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, h->request_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, h->user_agent);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, dv_bq_write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
}

int dv_bq_url_check(const char *url, const char *what, char *err, size_t errlen)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	int rc = 0;

	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		snprintf(err, errlen, "%s '%s' is not a valid URL", what, url);
		rc = -EINVAL;
	} else if (strcmp(scheme, "https") && strcmp(scheme, "http")) {
		snprintf(err, errlen, "%s '%s': scheme must be https (or http for an emulator)",
			 what, url);
		rc = -EINVAL;
	}
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

void dv_bq_curl_strerror(const struct dv_bq_http *h, CURLcode rc, const char *errbuf,
			 const char *url, char *err, size_t errlen)
{
	const char *detail = errbuf && errbuf[0] ? errbuf : curl_easy_strerror(rc);

	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		snprintf(err, errlen, "TLS certificate of %s not trusted (%s); add its CA with %s",
			 url, detail,
			 dv_bq_name(h->names ? h->names->ca_file : NULL, "the ca_file setting"));
		break;
	case CURLE_SSL_CONNECT_ERROR:
		snprintf(err, errlen, "TLS handshake with %s failed (%s)", url, detail);
		break;
	default:
		snprintf(err, errlen, "request to %s failed: %s", url, detail);
	}
}

void dv_bq_google_error(const char *body, size_t len, char *msg, size_t msglen, char *reason,
			size_t reasonlen)
{
	json_t *root = json_loadb(body, len, 0, NULL);
	json_t *e = json_object_get(root, "error");
	const char *m = NULL, *r = NULL;

	if (json_is_object(e)) {
		m = json_string_value(json_object_get(e, "message"));
		r = json_string_value(
		    json_object_get(json_array_get(json_object_get(e, "errors"), 0), "reason"));
	} else if (json_is_string(e)) { /* OAuth: {"error":"invalid_grant",...} */
		r = json_string_value(e);
		m = json_string_value(json_object_get(root, "error_description"));
	}
	snprintf(msg, msglen, "%s", m ? m : "");
	snprintf(reason, reasonlen, "%s", r ? r : "");
	/* Keep both on one line whatever the server sent (the reason too: it
	 * goes into the same log line). */
	dv_bq_one_line(msg);
	dv_bq_one_line(reason);
	json_decref(root);
}

void dv_bq_one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

int dv_bq_path_escape(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';

		if (o + 4 > cap)
			return -ENOSPC;
		if (plain) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return 0;
}

uint64_t dv_bq_jitter(uint64_t n)
{
	uint64_t x;

	if (n == 0)
		return 0;
	if (getrandom(&x, sizeof(x), GRND_NONBLOCK) != sizeof(x))
		x = dv_monotonic_ns() * 6364136223846793005ULL;
	return x % n;
}

static int dv_bq_curl_retryable(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST: /* DNS down is an outage too */
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
		return 1;
	default:
		return 0;
	}
}

/* Abort a transfer in progress once the owner asks (CURLOPT_XFERINFOFUNCTION). */
static int dv_bq_http_cancelled(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
				curl_off_t ulnow)
{
	const int *cancel = arg;

	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return __atomic_load_n(cancel, __ATOMIC_ACQUIRE) != 0;
}

/* A synchronous request as dv_bq_http_sync tries it, again and again. */
struct dv_bq_sync_req {
	const char *method;
	const char *url;
	struct curl_slist *headers;
	const char *body; /* NULL: none */
	size_t body_len;
};

/* One attempt on e, given at most left_ms; the answer in resp. */
static CURLcode dv_bq_http_try(const struct dv_bq_http *h, CURL *e, const struct dv_bq_sync_req *rq,
			       long left_ms, struct dv_bq_buf *resp, char *errbuf)
{
	CURLcode rc;

	curl_easy_reset(e);
	resp->len = 0;
	errbuf[0] = '\0';
	dv_bq_http_setup(h, e, resp, errbuf);
	if (left_ms < h->request_timeout_ms)
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, left_ms);
	if (left_ms < h->connect_timeout_ms)
		curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, left_ms);
	curl_easy_setopt(e, CURLOPT_URL, rq->url);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, rq->method);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, rq->headers);
	if (h->cancel) {
		curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, dv_bq_http_cancelled);
		curl_easy_setopt(e, CURLOPT_XFERINFODATA, (void *)h->cancel);
	}
	if (rq->body) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, rq->body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
	}
	rc = curl_easy_perform(e);
	if (dv_bq_buf_reserve(resp, 0) == 0)
		resp->p[resp->len] = '\0';
	return rc;
}

static long dv_bq_http_cancel(const char *url, char *err, size_t errlen)
{
	snprintf(err, errlen, "request to %s cancelled", url);
	return -ECANCELED;
}

/*
 * What an attempt's outcome means for the loop: 1 when it is final (*status
 * the HTTP status, -ECANCELED, or -EIO for a failure retrying will not fix:
 * TLS trust, URL), 0 when it is worth another try (*status 429/5xx, or
 * -EHOSTUNREACH: not reachable now), with the reason in err either way.
 */
static int dv_bq_http_final(const struct dv_bq_http *h, CURL *e, CURLcode rc, const char *url,
			    const char *errbuf, long *status, char *err, size_t errlen)
{
	if (rc == CURLE_OK) {
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
		if (*status != 429 && *status < 500)
			return 1;
		snprintf(err, errlen, "%s answered HTTP %ld", url, *status);
		return 0;
	}
	if (rc == CURLE_ABORTED_BY_CALLBACK && h->cancel) {
		*status = dv_bq_http_cancel(url, err, errlen);
		return 1;
	}
	dv_bq_curl_strerror(h, rc, errbuf, url, err, errlen);
	*status = dv_bq_curl_retryable(rc) ? -EHOSTUNREACH : -EIO;
	return *status == -EIO;
}

long dv_bq_http_sync(const struct dv_bq_http *h, const char *method, const char *url,
		     const char *auth_header, const char *ctype, const char *body, size_t body_len,
		     uint64_t deadline_ns, struct dv_bq_buf *resp, char *err, size_t errlen)
{
	struct dv_bq_sync_req rq = {method, url, NULL, body, body_len};
	char errbuf[CURL_ERROR_SIZE];
	char hdr[128];
	uint64_t delay = 0; /* startup retries: 250 ms doubling to 4 s */
	long status = -EIO;
	CURL *e;

	e = curl_easy_init();
	if (!e) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (auth_header)
		rq.headers = curl_slist_append(rq.headers, auth_header);
	if (body) {
		snprintf(hdr, sizeof(hdr), "Content-Type: %s", ctype ? ctype : "application/json");
		rq.headers = curl_slist_append(rq.headers, hdr);
	}
	rq.headers = curl_slist_append(rq.headers, "Expect:");

	for (;;) {
		uint64_t now = dv_monotonic_ns(), wait;
		long left_ms = now < deadline_ns ? (long)((deadline_ns - now) / 1000000) : 0;
		CURLcode rc;

		if (h->cancel && __atomic_load_n(h->cancel, __ATOMIC_ACQUIRE)) {
			status = dv_bq_http_cancel(url, err, errlen);
			break;
		}
		if (left_ms <= 0) {
			if (status == -EIO) { /* never tried: no time was left */
				snprintf(err, errlen, "request to %s timed out", url);
				status = -ETIMEDOUT;
			}
			break;
		}
		rc = dv_bq_http_try(h, e, &rq, left_ms, resp, errbuf);
		if (dv_bq_http_final(h, e, rc, url, errbuf, &status, err, errlen))
			break;
		dv_bq_logf(h->log, h->quiet_retries ? DV_BQ_DEBUG : DV_BQ_WARN, "%s; retrying",
			   err);
		wait = dv_bq_backoff_step(&delay, DV_NS_PER_SEC / 4, 4 * DV_NS_PER_SEC);
		if (dv_monotonic_ns() + delay >= deadline_ns)
			break;
		nanosleep(&(struct timespec){.tv_sec = (time_t)(wait / DV_NS_PER_SEC),
					     .tv_nsec = (long)(wait % DV_NS_PER_SEC)},
			  NULL);
	}
	curl_slist_free_all(rq.headers);
	curl_easy_cleanup(e);
	if (status >= 500 || status == 429)
		return -EAGAIN; /* err says which answer; the service is not ready */
	return status;
}
