/*
 * dv_bq_auth: OAuth access tokens for BigQuery (the auth modes' names are
 * dv_bq_config.c's). A
 * service-account key signs an RS256 JWT (OpenSSL EVP) that the token URI
 * exchanges for an access token; on GCE the metadata server hands one out;
 * emulators need none.
 *
 * The module builds token requests and reads their answers but does not own
 * a transport: startup fetches synchronously (dv_bq_auth_fetch_sync), and the
 * sink refreshes in the background on its curl multi handle with
 * dv_bq_auth_prepare/dv_bq_auth_finish, so rows keep flowing with the old
 * token while the new one is on its way (refresh at 3/4 of the token's life
 * or 5 minutes before expiry, whichever is later).
 *
 * Secrets: the private key lives only in the EVP_PKEY; the JSON text that
 * carried it is cleansed after parsing; tokens are kept only in the
 * Authorization header string. No message built here contains either.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "dv_bq_int.h"
#include "dv_time.h"

#define DV_BQ_SCOPE	    "https://www.googleapis.com/auth/bigquery"
#define DV_BQ_TOKEN_URI	    "https://oauth2.googleapis.com/token"
#define DV_BQ_METADATA_HOST "metadata.google.internal"
#define DV_BQ_METADATA_PATH "/computeMetadata/v1/instance/service-accounts/default/token"
#define DV_BQ_JWT_LIFETIME  3600
#define DV_BQ_KEY_FILE_MAX  (64 * 1024)
#define DV_BQ_TOKEN_MAX	    4096

struct dv_bq_auth {
	enum dv_bq_auth_mode mode; /* resolved: KEY, METADATA or NONE */
	char *email;
	char *kid;
	char *token_url; /* token URI or metadata URL */
	EVP_PKEY *pkey;
	char *header;	       /* "Authorization: Bearer <token>", NULL until fetched */
	uint64_t expires_ns;   /* monotonic; the header is not used past this */
	uint64_t refresh_ns;   /* monotonic; a refresh starts from here */
	struct dv_bq_buf body; /* form body of the token request in flight */
	struct dv_bq_log *log;
};

static int dv_bq_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return 0; /* never prompt on a terminal for an encrypted key */
}

static char *dv_bq_read_small_file(const char *path, size_t max, char *err, size_t errlen)
{
	char *buf;
	ssize_t n;
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "cannot open key file %s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(max + 1);
	if (!buf) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	while (len < max && (n = read(fd, buf + len, max - len)) > 0)
		len += (size_t)n;
	close(fd);
	if (len == max) {
		OPENSSL_cleanse(buf, len);
		free(buf);
		snprintf(err, errlen, "key file %s is too large for a service-account key", path);
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}

static void dv_bq_check_key_mode(const char *path, struct dv_bq_log *log)
{
	struct stat st;

	if (stat(path, &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)))
		dv_bq_logf(log, DV_BQ_WARN,
			   "key file %s is accessible by group or others (mode %04o); "
			   "chmod 600 it",
			   path, (unsigned int)(st.st_mode & 07777));
}

/* Parse the key JSON (text is cleansed by the caller). */
static int dv_bq_load_key(struct dv_bq_auth *a, const char *text, const char *what,
			  const char *token_uri, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *k = json_loads(text, 0, &jerr);
	const char *type, *email, *pem, *kid, *uri;
	BIO *bio = NULL;
	int rc = -EINVAL;

	if (!k) {
		/* jerr.text can quote the input: report only the position. */
		snprintf(err, errlen, "%s is not valid JSON (line %d, column %d)", what, jerr.line,
			 jerr.column);
		return -EINVAL;
	}
	type = json_string_value(json_object_get(k, "type"));
	email = json_string_value(json_object_get(k, "client_email"));
	pem = json_string_value(json_object_get(k, "private_key"));
	kid = json_string_value(json_object_get(k, "private_key_id"));
	uri = json_string_value(json_object_get(k, "token_uri"));
	if (type && strcmp(type, "service_account")) {
		snprintf(err, errlen, "%s is not a service-account key (type \"%.40s\")", what,
			 type);
		goto out;
	}
	if (!email || !pem || !kid) {
		snprintf(err, errlen, "%s lacks %s", what,
			 !email ? "client_email"
			 : !pem ? "private_key"
				: "private_key_id");
		goto out;
	}
	bio = BIO_new_mem_buf(pem, -1);
	a->pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, dv_bq_no_passphrase, NULL) : NULL;
	if (!a->pkey || !EVP_PKEY_is_a(a->pkey, "RSA")) {
		snprintf(err, errlen, "%s: private_key is not an unencrypted RSA key in PEM", what);
		goto out;
	}
	a->email = strdup(email);
	a->kid = strdup(kid);
	a->token_url = strdup(token_uri ? token_uri : uri ? uri : DV_BQ_TOKEN_URI);
	if (!a->email || !a->kid || !a->token_url) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	rc = dv_bq_url_check(a->token_url, "token URI", err, errlen);
out:
	BIO_free(bio);
	if (pem)
		OPENSSL_cleanse((void *)pem, strlen(pem));
	json_decref(k);
	return rc;
}

struct dv_bq_auth *dv_bq_auth_create(const struct dv_bq_config *c, struct dv_bq_log *log, char *err,
				     size_t errlen)
{
	struct dv_bq_auth *a = calloc(1, sizeof(*a));
	const char *key_file = c->sa_key_file;
	const char *gac = getenv("GOOGLE_APPLICATION_CREDENTIALS");
	enum dv_bq_auth_mode mode = c->auth;
	int rc = 0;

	if (!a) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->log = log;
	if (mode == DV_BQ_AUTH_AUTO) {
		if (c->sa_key_data || key_file) {
			mode = DV_BQ_AUTH_KEY;
		} else if (gac && gac[0]) {
			mode = DV_BQ_AUTH_KEY;
			key_file = gac;
		} else if (getenv("BIGQUERY_EMULATOR_HOST")) {
			mode = DV_BQ_AUTH_NONE;
		} else {
			mode = DV_BQ_AUTH_METADATA;
		}
	} else if (mode == DV_BQ_AUTH_KEY && !c->sa_key_data && !key_file) {
		key_file = gac && gac[0] ? gac : NULL;
		if (!key_file) {
			snprintf(err, errlen, "auth mode %s needs a service-account key (%s)",
				 dv_bq_auth_mode_name(DV_BQ_AUTH_KEY),
				 dv_bq_name(c->names.sa_key, "sa_key_file or sa_key_data"));
			goto fail;
		}
	}
	a->mode = mode;

	if (mode == DV_BQ_AUTH_KEY) {
		char what[300];
		char *text;

		if (c->sa_key_data) {
			snprintf(what, sizeof(what), "service-account key data");
			text = strdup(c->sa_key_data);
		} else {
			snprintf(what, sizeof(what), "key file %s", key_file);
			text = dv_bq_read_small_file(key_file, DV_BQ_KEY_FILE_MAX, err, errlen);
			if (!text)
				goto fail;
			dv_bq_check_key_mode(key_file, log);
		}
		if (!text) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		rc = dv_bq_load_key(a, text, what, c->token_uri, err, errlen);
		OPENSSL_cleanse(text, strlen(text));
		free(text);
		if (rc)
			goto fail;
	} else if (mode == DV_BQ_AUTH_METADATA) {
		const char *host =
		    c->metadata_host ? c->metadata_host : getenv("GCE_METADATA_HOST");
		size_t n;

		if (!host || !host[0])
			host = DV_BQ_METADATA_HOST;
		n = strlen(host) + sizeof(DV_BQ_METADATA_PATH) + 16;
		a->token_url = malloc(n);
		if (!a->token_url) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		snprintf(a->token_url, n, "http://%s%s", host, DV_BQ_METADATA_PATH);
		if (dv_bq_url_check(a->token_url, "metadata server URL", err, errlen))
			goto fail;
	}
	return a;
fail:
	dv_bq_auth_destroy(a);
	return NULL;
}

void dv_bq_auth_destroy(struct dv_bq_auth *a)
{
	if (!a)
		return;
	EVP_PKEY_free(a->pkey);
	if (a->header)
		OPENSSL_cleanse(a->header, strlen(a->header));
	free(a->header);
	free(a->email);
	free(a->kid);
	free(a->token_url);
	if (a->body.p)
		OPENSSL_cleanse(a->body.p, a->body.cap);
	dv_bq_buf_free(&a->body);
	free(a);
}

int dv_bq_auth_is_none(const struct dv_bq_auth *a)
{
	return a->mode == DV_BQ_AUTH_NONE;
}

const char *dv_bq_auth_url(const struct dv_bq_auth *a)
{
	return a->token_url ? a->token_url : "(none)";
}

const char *dv_bq_auth_header(const struct dv_bq_auth *a, uint64_t now_ns)
{
	if (a->mode == DV_BQ_AUTH_NONE || !a->header || now_ns >= a->expires_ns)
		return NULL;
	return a->header;
}

int dv_bq_auth_wants_refresh(const struct dv_bq_auth *a, uint64_t now_ns)
{
	return a->mode != DV_BQ_AUTH_NONE && (!a->header || now_ns >= a->refresh_ns);
}

void dv_bq_auth_invalidate(struct dv_bq_auth *a)
{
	if (a->header)
		OPENSSL_cleanse(a->header, strlen(a->header));
	free(a->header);
	a->header = NULL;
}

/* base64url without padding (RFC 7515 section 2). */
static int dv_bq_b64url(struct dv_bq_buf *out, const unsigned char *in, size_t n)
{
	size_t max = 4 * ((n + 2) / 3);
	int len;

	if (dv_bq_buf_reserve(out, max + 1))
		return -ENOMEM;
	len = EVP_EncodeBlock((unsigned char *)out->p + out->len, in, (int)n);
	for (int i = 0; i < len; i++) {
		char *ch = out->p + out->len + i;

		if (*ch == '+')
			*ch = '-';
		else if (*ch == '/')
			*ch = '_';
	}
	while (len > 0 && out->p[out->len + len - 1] == '=')
		len--;
	out->len += (size_t)len;
	out->p[out->len] = '\0';
	return 0;
}

static int dv_bq_b64url_json(struct dv_bq_buf *out, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	int rc;

	json_decref(j);
	if (!s)
		return -ENOMEM;
	rc = dv_bq_b64url(out, (const unsigned char *)s, strlen(s));
	free(s);
	return rc;
}

/* Append "<header>.<claims>.<signature>" to out. */
static int dv_bq_jwt(struct dv_bq_auth *a, uint64_t wall_ns, struct dv_bq_buf *out, char *err,
		     size_t errlen)
{
	json_int_t iat = (json_int_t)(wall_ns / DV_NS_PER_SEC);
	size_t start = out->len, siglen = 0;
	unsigned char *sig = NULL;
	EVP_MD_CTX *md = NULL;
	int rc = -ENOMEM;

	if (dv_bq_b64url_json(
		out, json_pack("{s:s, s:s, s:s}", "alg", "RS256", "typ", "JWT", "kid", a->kid)) ||
	    dv_bq_buf_adds(out, ".") ||
	    dv_bq_b64url_json(out, json_pack("{s:s, s:s, s:s, s:I, s:I}", "iss", a->email, "scope",
					     DV_BQ_SCOPE, "aud", a->token_url, "iat", iat, "exp",
					     iat + DV_BQ_JWT_LIFETIME)))
		goto out;
	md = EVP_MD_CTX_new();
	if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, a->pkey) != 1 ||
	    EVP_DigestSign(md, NULL, &siglen, (unsigned char *)out->p + start, out->len - start) !=
		1 ||
	    !(sig = malloc(siglen)) ||
	    EVP_DigestSign(md, sig, &siglen, (unsigned char *)out->p + start, out->len - start) !=
		1) {
		snprintf(err, errlen, "signing the JWT with the service-account key failed");
		rc = -EIO;
		goto out;
	}
	rc = dv_bq_buf_adds(out, ".") || dv_bq_b64url(out, sig, siglen) ? -ENOMEM : 0;
out:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	free(sig);
	EVP_MD_CTX_free(md);
	return rc;
}

/* What a token request looks like, for both transports. */
struct dv_bq_token_req {
	const char *method;
	const char *header; /* one extra header line */
	const char *ctype;
	const char *body; /* NULL for GET */
	size_t body_len;
};

static int dv_bq_token_req(struct dv_bq_auth *a, uint64_t wall_ns, struct dv_bq_token_req *r,
			   char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	if (a->mode == DV_BQ_AUTH_METADATA) {
		r->method = "GET";
		r->header = "Metadata-Flavor: Google";
		return 0;
	}
	if (a->body.p)
		OPENSSL_cleanse(a->body.p, a->body.cap);
	a->body.len = 0;
	if (dv_bq_buf_adds(&a->body, "grant_type=urn%3Aietf%3Aparams%3Aoauth%3A"
				     "grant-type%3Ajwt-bearer&assertion=")) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* base64url and '.' need no form escaping. */
	if (dv_bq_jwt(a, wall_ns, &a->body, err, errlen))
		return -EIO;
	r->method = "POST";
	r->ctype = "application/x-www-form-urlencoded";
	r->body = a->body.p;
	r->body_len = a->body.len;
	return 0;
}

int dv_bq_auth_prepare(struct dv_bq_auth *a, CURL *e, struct curl_slist **headers, uint64_t wall_ns,
		       char *err, size_t errlen)
{
	struct dv_bq_token_req r;
	char ct[96];

	if (dv_bq_token_req(a, wall_ns, &r, err, errlen))
		return -EIO;
	*headers = curl_slist_append(NULL, r.header ? r.header : "Expect:");
	if (r.ctype) {
		snprintf(ct, sizeof(ct), "Content-Type: %s", r.ctype);
		*headers = curl_slist_append(*headers, ct);
	}
	curl_easy_setopt(e, CURLOPT_URL, a->token_url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, *headers);
	if (r.body) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, r.body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r.body_len);
	} else {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	}
	return 0;
}

int dv_bq_auth_finish(struct dv_bq_auth *a, long status, const char *body, size_t len,
		      uint64_t now_ns, char *err, size_t errlen)
{
	const char *what = a->mode == DV_BQ_AUTH_METADATA ? "metadata server" : "token endpoint";
	json_t *root = NULL;
	const char *tok;
	json_int_t ttl = 3600;
	size_t n;

	if (a->body.p) /* the JWT is a bearer credential for an hour: wipe it */
		OPENSSL_cleanse(a->body.p, a->body.cap);
	if (status != 200) {
		char msg[200], reason[64];

		dv_bq_google_error(body, len, msg, sizeof(msg), reason, sizeof(reason));
		snprintf(err, errlen, "%s %s answered HTTP %ld%s%s%s%s", what, a->token_url, status,
			 reason[0] ? ": " : "", reason, msg[0] ? ": " : "", msg);
		return status == 400 || status == 401 || status == 403 ? -EACCES : -EAGAIN;
	}
	root = json_loadb(body, len, 0, NULL);
	tok = json_string_value(json_object_get(root, "access_token"));
	if (json_is_integer(json_object_get(root, "expires_in")))
		ttl = json_integer_value(json_object_get(root, "expires_in"));
	n = tok ? strlen(tok) : 0;
	if (!tok || n == 0 || n > DV_BQ_TOKEN_MAX || strcspn(tok, "\r\n \t") != n || ttl <= 0) {
		snprintf(err, errlen, "%s %s gave no usable access_token", what, a->token_url);
		json_decref(root);
		return -EPROTO;
	}
	dv_bq_auth_invalidate(a);
	a->header = malloc(n + 32);
	if (!a->header) {
		json_decref(root);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	snprintf(a->header, n + 32, "Authorization: Bearer %s", tok);
	OPENSSL_cleanse((void *)tok, n);
	json_decref(root);
	{
		uint64_t life = (uint64_t)ttl * DV_NS_PER_SEC;
		uint64_t three_q = life / 4 * 3;
		uint64_t early = life > 300 * DV_NS_PER_SEC ? life - 300 * DV_NS_PER_SEC : 0;
		uint64_t margin = life > 20 * DV_NS_PER_SEC ? 10 * DV_NS_PER_SEC : life / 10;

		a->refresh_ns = now_ns + (three_q > early ? three_q : early);
		a->expires_ns = now_ns + life - margin;
	}
	dv_bq_logf(a->log, DV_BQ_DEBUG, "new access token from %s, valid %lld s", a->token_url,
		   (long long)ttl);
	return 0;
}

int dv_bq_auth_fetch_sync(struct dv_bq_auth *a, const struct dv_bq_http *h, uint64_t deadline_ns,
			  char *err, size_t errlen)
{
	struct dv_bq_buf resp = {0};
	struct dv_bq_token_req r;
	long status;
	int rc;

	if (a->mode == DV_BQ_AUTH_NONE)
		return 0;
	if (dv_bq_token_req(a, dv_realtime_ns(), &r, err, errlen))
		return -EIO;
	status = dv_bq_http_sync(h, r.method, a->token_url, r.header, r.ctype, r.body, r.body_len,
				 deadline_ns, &resp, err, errlen);
	if (status < 0) {
		if (a->body.p)
			OPENSSL_cleanse(a->body.p, a->body.cap);
		dv_bq_buf_free(&resp);
		return (int)status;
	}
	rc = dv_bq_auth_finish(a, status, resp.p, resp.len, dv_monotonic_ns(), err, errlen);
	if (resp.p)
		OPENSSL_cleanse(resp.p, resp.len);
	dv_bq_buf_free(&resp);
	return rc;
}
