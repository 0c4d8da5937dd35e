/*
 * replay_main: the main() a harness gets in a plain (non-fuzz) test build.
 * Runs LLVMFuzzerTestOneInput() once for every file named, or every file
 * in a directory named, so the inputs that once crashed stay tests
 * (tests/fuzz/regressions/<target>/). All inputs are read before the
 * harness starts, as a harness may change its working directory.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_common.h"

struct input {
	char *name;
	uint8_t *data;
	size_t size;
};

static struct input *inputs;
static size_t n_inputs, cap_inputs;

static void add_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct input in = {.name = strdup(path)};
	long len;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "cannot read %s\n", path);
		exit(1);
	}
	in.size = (size_t)len;
	in.data = malloc(in.size ? in.size : 1);
	if (in.data == NULL || fread(in.data, 1, in.size, f) != in.size) {
		fprintf(stderr, "cannot read %s\n", path);
		exit(1);
	}
	fclose(f);
	if (n_inputs == cap_inputs) {
		cap_inputs = cap_inputs ? 2 * cap_inputs : 64;
		inputs = realloc(inputs, cap_inputs * sizeof(*inputs));
		if (inputs == NULL)
			exit(1);
	}
	inputs[n_inputs++] = in;
}

static void add_path(const char *path)
{
	struct stat st;
	struct dirent *e;
	DIR *d;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "no such input: %s\n", path);
		exit(1);
	}
	if (!S_ISDIR(st.st_mode)) {
		add_file(path);
		return;
	}
	d = opendir(path);
	if (d == NULL)
		exit(1);
	while ((e = readdir(d)) != NULL) {
		char p[4096];

		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
			add_file(p);
	}
	closedir(d);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		add_path(argv[i]);
	LLVMFuzzerInitialize(&argc, &argv);
	for (size_t i = 0; i < n_inputs; i++) {
		fprintf(stderr, "%s (%zu bytes)\n", inputs[i].name, inputs[i].size);
		LLVMFuzzerTestOneInput(inputs[i].data, inputs[i].size);
	}
	printf("%zu inputs replayed, no invariant broken\n", n_inputs);
	return 0;
}
