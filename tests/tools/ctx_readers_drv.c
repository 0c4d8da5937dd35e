/*
 * ctx_readers_drv: the payload readers of issue 19 on bytes given as hex,
 * for tests/integration/ctx_readers.py (which compares them with tshark).
 *
 * Input, one payload a line: a letter naming the reader, a space, the
 * payload in hex: T (dv_tls_sni), H (dv_http_host), Q (dv_quic_sni).
 * Output, one line each: the status (dv_tls.h's numbers), a tab, *need
 * (T's MORE, else 0), a tab, the name (FOUND). Each payload is copied to a buffer of exactly its
 * length (a read past it shows under ASan).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dv_http.h"
#include "dv_quic.h"
#include "dv_tls.h"

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void run(struct dv_quic *q, char kind, const uint8_t *p, uint32_t n)
{
	char name[DV_CTX_NAME_MAX] = "";
	uint32_t need = 0;
	int rc = DV_CTX_BAD;

	switch (kind) {
	case 'T':
		rc = dv_tls_sni(p, n, name, sizeof(name), &need);
		if (rc != DV_CTX_MORE)
			need = 0;
		break;
	case 'H':
		rc = dv_http_host(p, n, name, sizeof(name));
		break;
	case 'Q':
		rc = dv_quic_sni(q, p, n, name, sizeof(name));
		break;
	}
	printf("%d\t%u\t%s\n", rc, need, rc == DV_CTX_FOUND ? name : "");
}

int main(void)
{
	struct dv_quic *q = dv_quic_create();
	char *line = NULL;
	size_t cap = 0;
	ssize_t l;

	if (q == NULL) {
		fprintf(stderr, "ctx_readers_drv: dv_quic_create failed\n");
		return 1;
	}
	while ((l = getline(&line, &cap, stdin)) > 0) {
		uint32_t n = 0;
		uint8_t *p;

		while (l > 0 && (line[l - 1] == '\n' || line[l - 1] == '\r'))
			line[--l] = '\0';
		if (l < 2 || line[1] != ' ') {
			fprintf(stderr, "ctx_readers_drv: bad line\n");
			return 1;
		}
		p = malloc((size_t)(l - 2) / 2 + 1);
		if (p == NULL)
			return 1;
		for (ssize_t i = 2; i + 1 < l; i += 2) {
			int a = hexval(line[i]), b = hexval(line[i + 1]);

			if (a < 0 || b < 0) {
				fprintf(stderr, "ctx_readers_drv: bad hex\n");
				return 1;
			}
			p[n++] = (uint8_t)(a << 4 | b);
		}
		/* exactly n bytes: move them to a buffer of that size */
		{
			uint8_t *exact = malloc(n ? n : 1);

			if (exact == NULL)
				return 1;
			memcpy(exact, p, n);
			free(p);
			run(q, line[0], exact, n);
			free(exact);
		}
	}
	free(line);
	dv_quic_destroy(q);
	return 0;
}
