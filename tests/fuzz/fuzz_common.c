/*
 * fuzz_common: scratch files and the EAL for the harnesses (fuzz_common.h).
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_eal.h>

#include "dv_eal.h"
#include "fuzz_common.h"

static char scratch[PATH_MAX];

static void remove_tree(const char *dir, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[PATH_MAX];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (unlink(p) != 0 && depth > 0) {
			remove_tree(p, depth - 1);
			rmdir(p);
		}
	}
	closedir(d);
}

void dv_fuzz_empty_dir(const char *dir)
{
	remove_tree(dir, 1);
}

static void remove_scratch(void)
{
	if (scratch[0]) {
		remove_tree(scratch, 2);
		rmdir(scratch);
	}
}

const char *dv_fuzz_scratch_dir(void)
{
	const char *bases[] = {getenv("DV_FUZZ_SCRATCH"), "/dev/shm", getenv("TMPDIR"), "/tmp"};

	if (scratch[0])
		return scratch;
	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		if (bases[i] == NULL || access(bases[i], W_OK) != 0)
			continue;
		snprintf(scratch, sizeof(scratch), "%s/dv-fuzz.XXXXXX", bases[i]);
		if (mkdtemp(scratch) != NULL) {
			atexit(remove_scratch);
			return scratch;
		}
	}
	dv_fuzz_fail("no writable directory for scratch files");
}

void dv_fuzz_write_file(const char *path, const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t done = 0;

	dv_fuzz_check(fd >= 0, "cannot create %s", path);
	while (done < size) {
		ssize_t n = write(fd, data + done, size - done);

		dv_fuzz_check(n > 0, "cannot write %s", path);
		done += (size_t)n;
	}
	close(fd);
}

/* At exit: the EAL's runtime directory (its own --file-prefix) goes too. */
static void eal_cleanup(void)
{
	dv_eal_cleanup(1);
}

void dv_fuzz_eal_init(void)
{
	static int done;
	char prefix[64];
	char *argv[] = {"dv_fuzz",
			"-l",
			"0",
			"--no-huge",
			"-m",
			"128",
			"--no-pci",
			"--no-shconf",
			"--file-prefix",
			prefix,
			"--no-telemetry",
			"--log-level=*:error",
			NULL};

	if (done)
		return;
	snprintf(prefix, sizeof(prefix), "dv_fuzz_%d", (int)getpid());
	if (rte_eal_init((int)(sizeof(argv) / sizeof(argv[0])) - 1, argv) < 0)
		dv_fuzz_fail("EAL init failed");
	done = 1;
	atexit(eal_cleanup);
}
