/*
 * fuzz_options: the command line, DEVOURER_* environment and --config file
 * through dv_options_parse() (app/options.c).
 *
 * Input: text in up to three parts separated by lines "%%":
 *     argument words, one per line
 *     %%
 *     environment, NAME=VALUE per line (DEVOURER_ is put in front of a
 *     name that lacks it)
 *     %%
 *     the config file's bytes (then "--config FILE" comes first on the
 *     command line)
 * The process works in its own scratch directory and any input naming a
 * path (a '/' in a word or value) is refused, so --config, given by the
 * input or not, can only reach the harness's own file: never a FIFO or
 * /dev/stdin that would block.
 *
 * Invariants: the result is 0, 1 (help, version) or -1 with one line in
 * err; a value given for --bq-sa-key-data never appears in err; a parse
 * that succeeds satisfies the cross-option rules; parsing the same input
 * again gives the same result and message (getopt's state is reset).
 *
 * The parser keeps its strings for the program's lifetime (strdup, never
 * freed): what it allocates is hidden from LeakSanitizer (__lsan_disable),
 * and scripts/fuzz turns libFuzzer's per-input leak check off for this
 * harness, as it would run on every input (malloc and free counts differ).
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "options.h"

#if defined(__SANITIZE_ADDRESS__)
#define DV_FUZZ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DV_FUZZ_ASAN 1
#endif
#endif
#ifdef DV_FUZZ_ASAN
#include <sanitizer/lsan_interface.h>
#else
static void __lsan_disable(void)
{
}
static void __lsan_enable(void)
{
}
#endif

#define MAX_WORDS 600
#define MAX_ENV	  64

extern char **environ;

static char config_path[PATH_MAX];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* Nothing from the fuzzer's own environment may take part. */
	for (int again = 1; again;) {
		again = 0;
		for (char **e = environ; *e; e++) {
			if (strncmp(*e, "DEVOURER_", 9) == 0) {
				char name[256];
				size_t n = strcspn(*e, "=");

				snprintf(name, sizeof(name), "%.*s", (int)n, *e);
				unsetenv(name);
				again = 1;
				break;
			}
		}
	}
	if (chdir(dv_fuzz_scratch_dir()) != 0)
		dv_fuzz_fail("cannot enter %s", dv_fuzz_scratch_dir());
	snprintf(config_path, sizeof(config_path), "config");
	return 0;
}

/* The input cut into its parts; words and values are NUL-terminated. */
struct parts {
	char *buf;
	char *words[MAX_WORDS + 4];
	int n_words;
	char *env[MAX_ENV];
	int n_env;
	const char *config;
	size_t config_len;
	int has_config;
};

/* Cut the input; 0 if it cannot be used (too many words, a path). */
static int cut(const uint8_t *data, size_t size, struct parts *p)
{
	char *s, *end;
	int part = 0;

	p->buf = malloc(size + 1);
	dv_fuzz_check(p->buf != NULL, "out of memory");
	memcpy(p->buf, data, size);
	p->buf[size] = '\0';
	s = p->buf;
	end = p->buf + size;
	while (s < end && part < 2) {
		char *nl = memchr(s, '\n', (size_t)(end - s));
		char *line_end = nl ? nl : end;

		*line_end = '\0';
		if (strcmp(s, "%%") == 0) {
			part++;
		} else if (strlen(s) != (size_t)(line_end - s) || strchr(s, '/')) {
			return 0; /* a NUL inside a word, or a path */
		} else if (part == 0) {
			if (p->n_words >= MAX_WORDS)
				return 0;
			p->words[p->n_words++] = s;
		} else if (p->n_env < MAX_ENV && strchr(s, '=') != NULL) {
			p->env[p->n_env++] = s;
		}
		s = line_end + 1;
	}
	if (part == 2) {
		p->has_config = 1;
		p->config = s < end ? s : end;
		p->config_len = s < end ? (size_t)(end - s) : 0;
	}
	return 1;
}

/* Set the input's environment; names[] gets what to unset afterwards. */
static int set_env(const struct parts *p, char names[][128])
{
	int n = 0;

	for (int i = 0; i < p->n_env; i++) {
		char *eq = strchr(p->env[i], '=');
		size_t nl = (size_t)(eq - p->env[i]);

		if (nl == 0 || nl > 100 || memchr(p->env[i], '\0', nl))
			continue;
		snprintf(names[n], 128, "%s%.*s",
			 strncmp(p->env[i], "DEVOURER_", 9) ? "DEVOURER_" : "", (int)nl, p->env[i]);
		if (setenv(names[n], eq + 1, 1) == 0)
			n++;
	}
	return n;
}

/* Does text[0..n) occur twice in data? */
static int twice(const uint8_t *data, size_t size, const char *text, size_t n)
{
	const uint8_t *first = n && size >= n ? memmem(data, size, text, n) : NULL;

	return first != NULL &&
	       memmem(first + 1, size - (size_t)(first + 1 - data), text, n) != NULL;
}

/* Values the input gives --bq-sa-key-data, each once in the whole input. */
static void check_secret(const char *value, const uint8_t *data, size_t size, const char *err)
{
	size_t vl = value ? strlen(value) : 0, cl;
	const char *core;

	if (vl < 8 || size < vl || memmem(data, size, value, vl) == NULL)
		return;
	/* Given to another option too, it may be echoed there; and so may its
	 * text without the quotes at its ends, which a message supplies when
	 * it quotes a word (an unclosed quote stays in a value: "'--read x"
	 * is in "unknown option '--read x'" when line 1 is --read x). */
	core = value + strspn(value, "'\"");
	cl = strlen(core);
	while (cl > 0 && (core[cl - 1] == '\'' || core[cl - 1] == '"'))
		cl--;
	if (twice(data, size, value, vl) || twice(data, size, core, cl))
		return;
	dv_fuzz_check(strstr(err, value) == NULL, "the secret key data is in the message: %s", err);
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\v' || *s == '\f')
		s++;
	e = s + strlen(s);
	while (e > s &&
	       (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\v' || e[-1] == '\f'))
		*--e = '\0';
	return s;
}

/* The value of each "bq-sa-key-data = VALUE" line of the config file, cut
 * as the parser cuts it: spaces around, quotes, a " #" comment. */
static void check_config_secrets(const struct parts *p, const uint8_t *data, size_t size,
				 const char *err)
{
	const char *s = p->config, *end = p->config + p->config_len;

	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *le = nl ? nl : end;
		char line[4096], *key, *val, *eq, *c;
		size_t n = (size_t)(le - s), vl;

		s = le + 1;
		if (n >= sizeof(line))
			continue;
		memcpy(line, le - n, n);
		line[n] = '\0';
		eq = strchr(line, '=');
		if (eq == NULL)
			continue;
		*eq = '\0';
		key = trim(line);
		if (strcmp(key, "bq-sa-key-data") != 0)
			continue;
		val = trim(eq + 1);
		vl = strlen(val);
		if (vl >= 2 && (val[0] == '"' || val[0] == '\'') && val[vl - 1] == val[0]) {
			val[vl - 1] = '\0';
			val++;
		} else if ((c = strstr(val, " #")) != NULL) {
			*c = '\0';
			val = trim(val);
		}
		check_secret(val, data, size, err);
	}
}

static void check_secrets(const struct parts *p, const uint8_t *data, size_t size, const char *err)
{
	for (int i = 0; i < p->n_words; i++) {
		if (strncmp(p->words[i], "--bq-sa-key-data=", 17) == 0)
			check_secret(p->words[i] + 17, data, size, err);
		else if (strcmp(p->words[i], "--bq-sa-key-data") == 0 && i + 1 < p->n_words &&
			 p->words[i + 1][0] != '-')
			/* (A next word starting with '-' is an option, taken as one
			 * when an option before took "--bq-sa-key-data" as its value:
			 * naming it in "unknown option" shows no key.) */
			check_secret(p->words[i + 1], data, size, err);
	}
	static const char *const env_names[] = {"DEVOURER_BQ_SA_KEY_DATA",
						"DEVOURER_BIGQUERY_SA_KEY_DATA"};

	for (size_t i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++) {
		const char *v = getenv(env_names[i]);

		if (v)
			check_secret(v, data, size, err);
	}
	if (p->has_config)
		check_config_secrets(p, data, size, err);
}

static int parse(const struct parts *p, struct dv_options *o, char *err, size_t errlen)
{
	char *argv[MAX_WORDS + 4];
	int argc = 0;

	argv[argc++] = "dpdk-devourer";
	if (p->has_config) {
		argv[argc++] = "--config";
		argv[argc++] = config_path;
	}
	for (int i = 0; i < p->n_words; i++)
		argv[argc++] = p->words[i];
	argv[argc] = NULL;
	int rc;

	err[0] = '\0';
	__lsan_disable(); /* the strings it keeps live as long as the program */
	rc = dv_options_parse(o, argc, argv, err, errlen);
	__lsan_enable();
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct parts p = {0};
	struct dv_options o, again;
	char names[MAX_ENV][128];
	char err[1024], err2[1024];
	int n_set, rc, rc2;

	if (!cut(data, size, &p)) {
		free(p.buf);
		return 0;
	}
	if (p.has_config)
		dv_fuzz_write_file(config_path, (const uint8_t *)p.config, p.config_len);
	n_set = set_env(&p, names);

	rc = parse(&p, &o, err, sizeof(err));
	dv_fuzz_check(rc == 0 || rc == 1 || rc == -1, "dv_options_parse returned %d", rc);
	if (rc == -1) {
		dv_fuzz_check(err[0] != '\0', "failed without a message");
		dv_fuzz_check(strchr(err, '\n') == NULL, "message of more than one line: %s", err);
		check_secrets(&p, data, size, err);
	} else if (rc == 0) {
		dv_fuzz_check(o.outputs != 0, "no output");
		dv_fuzz_check(!(o.outputs & DV_OUT_FILE) || o.write_file, "file output, no file");
		dv_fuzz_check(!(o.outputs & DV_OUT_BIGQUERY) || (o.bq_project && o.bq_dataset),
			      "bigquery output without project and dataset");
		dv_fuzz_check(o.n_read <= DV_MAX_READ_FILES, "%u read files", o.n_read);
		dv_fuzz_check(o.n_read == 0 || o.interface == NULL, "--read and --interface");
		dv_fuzz_check(o.flow_timeout_ns && o.active_timeout_ns && o.tcp_close_timeout_ns,
			      "a timeout of 0");
		dv_fuzz_check(!(o.bq_sa_key_file && o.bq_sa_key_data), "both key file and data");
	}

	rc2 = parse(&p, &again, err2, sizeof(err2));
	dv_fuzz_check(rc2 == rc, "parsed twice: %d, then %d", rc, rc2);
	if (rc == -1)
		dv_fuzz_check(strcmp(err, err2) == 0, "parsed twice: '%s', then '%s'", err, err2);

	for (int i = 0; i < n_set; i++)
		unsetenv(names[i]);
	if (p.has_config)
		unlink(config_path);
	free(p.buf);
	return 0;
}
