/*
 * dv_eal: rte_eal_cleanup() plus removal of a private runtime directory.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include <rte_eal.h>

#include "dv_eal.h"

int dv_eal_cleanup(int own_prefix)
{
	char dir[PATH_MAX];
	struct dirent *e;
	DIR *d;
	int rc;

	snprintf(dir, sizeof(dir), "%s", rte_eal_get_runtime_dir());
	rc = rte_eal_cleanup();
	if (!own_prefix || dir[0] == '\0' || (d = opendir(dir)) == NULL)
		return rc;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	rmdir(dir);
	return rc;
}
