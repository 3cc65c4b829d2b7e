/* procfs.c: see procfs.h. */
#include "procfs.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#define STAT_MAX 4096

int glia_procfs_parse_stat(const char *text, int *pgrp, long long *rss_pages)
{
	/* after ")": state(3) ppid(4) pgrp(5) ... vsize(23) rss(24) */
	const char *p = strrchr(text, ')');
	long long fields[25] = {0};
	int field = 2;

	if (!p)
		return -1;
	p++;
	while (*p && field < 24) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		field++;
		char *end;
		long long v = strtoll(p, &end, 10);
		if (end == p) { /* the state letter */
			if (field != 3)
				return -1;
			while (*p && *p != ' ')
				p++;
			continue;
		}
		fields[field] = v;
		p = end;
	}
	if (field < 24)
		return -1;
	*pgrp = (int)fields[5];
	*rss_pages = fields[24];
	return 0;
}

static int all_digits(const char *s)
{
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

void glia_procfs_group_rss(const int *groups, size_t n, int64_t *bytes)
{
	long page = sysconf(_SC_PAGESIZE);
	DIR *d = opendir("/proc");
	struct dirent *e;
	char path[300], text[STAT_MAX];

	memset(bytes, 0, n * sizeof(*bytes));
	while (d && (e = readdir(d)) != NULL) {
		if (!all_digits(e->d_name))
			continue;
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		FILE *f = fopen(path, "re");
		if (!f)
			continue; /* gone meanwhile */
		size_t len = fread(text, 1, sizeof text - 1, f);
		fclose(f);
		text[len] = '\0';
		int pgrp;
		long long pages;
		if (glia_procfs_parse_stat(text, &pgrp, &pages) < 0)
			continue;
		for (size_t i = 0; i < n; i++)
			if (groups[i] == pgrp)
				bytes[i] += (int64_t)pages * page;
	}
	if (d)
		closedir(d);
}
