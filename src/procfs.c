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

int glia_procfs_parse_stat_full(const char *text, glia_procfs_stat *st)
{
	/* after ")": state(3) ppid(4) pgrp(5) session(6) ... rss(24) */
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
	st->ppid = (int)fields[4];
	st->pgrp = (int)fields[5];
	st->session = (int)fields[6];
	st->rss_pages = fields[24];
	return 0;
}

int glia_procfs_parse_stat(const char *text, int *pgrp, long long *rss_pages)
{
	glia_procfs_stat st;
	if (glia_procfs_parse_stat_full(text, &st) < 0)
		return -1;
	*pgrp = st.pgrp;
	*rss_pages = st.rss_pages;
	return 0;
}

const char *glia_procfs_environ_get(const char *env, size_t len,
				    const char *name)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i < len;) {
		const char *e = env + i;
		size_t el = strnlen(e, len - i);
		if (el > nl && memcmp(e, name, nl) == 0 && e[nl] == '=' &&
		    i + el < len) /* NUL-terminated inside the text */
			return e + nl + 1;
		i += el + 1;
	}
	return NULL;
}

static int all_digits(const char *s)
{
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

/* A process seen in /proc; owner: index, or NONE / UNKNOWN. */
#define UNKNOWN ((size_t)-1)
#define NONE    ((size_t)-2)
#define MAX_DEPTH 64
typedef struct seen {
	int pid;
	glia_procfs_stat st;
	size_t owner;
} seen;

static size_t owner_by_group(const glia_procfs_owner *o, size_t n,
			     const seen *p)
{
	for (size_t i = 0; i < n; i++)
		if (o[i].pid > 0 && (p->st.pgrp == o[i].pid ||
				     p->st.session == o[i].pid))
			return i;
	return UNKNOWN;
}

static size_t owner_by_tag(const glia_procfs_owner *o, size_t n, int pid)
{
	char path[64];
	size_t len = 0;
	snprintf(path, sizeof path, "/proc/%d/environ", pid);
	char *env = glia_read_file(path, (size_t)4 << 20, &len);
	const char *tag = env ? glia_procfs_environ_get(env, len,
							"GLIA_PROC_TAG")
			      : NULL;
	size_t found = UNKNOWN;
	for (size_t i = 0; tag && i < n && found == UNKNOWN; i++)
		if (o[i].tag && strcmp(o[i].tag, tag) == 0)
			found = i;
	free(env);
	return found;
}

static int by_pid(const void *a, const void *b)
{
	int x = ((const seen *)a)->pid, y = ((const seen *)b)->pid;
	return (x > y) - (x < y);
}

/* Every process in /proc, sorted by pid; owners found by group/session or
 * tag. */
static seen *scan(const glia_procfs_owner *o, size_t n, size_t *count)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	char path[300], text[STAT_MAX];
	seen *all = NULL;
	size_t cap = 0;

	*count = 0;
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
		seen s = {.pid = atoi(e->d_name)};
		if (glia_procfs_parse_stat_full(text, &s.st) < 0)
			continue;
		s.owner = owner_by_group(o, n, &s);
		if (s.owner == UNKNOWN)
			s.owner = owner_by_tag(o, n, s.pid);
		if (*count == cap) {
			cap = cap ? cap * 2 : 256;
			all = glia_realloc(all, cap * sizeof *all);
		}
		all[(*count)++] = s;
	}
	if (d)
		closedir(d);
	if (all)
		qsort(all, *count, sizeof *all, by_pid);
	return all;
}

/* The owner of p's nearest ancestor that has one (a setsid() child of a
 * member, its parent still alive), or NONE. */
static size_t owner_by_parent(seen *all, size_t count, seen *p)
{
	seen *cur = p;
	for (int depth = 0; depth < MAX_DEPTH; depth++) {
		if (cur->owner != UNKNOWN)
			return cur->owner == NONE ? NONE : cur->owner;
		seen key = {.pid = cur->st.ppid};
		cur = key.pid > 1 ? bsearch(&key, all, count, sizeof *all,
					    by_pid)
				  : NULL;
		if (!cur)
			return NONE;
	}
	return NONE;
}

size_t glia_procfs_members(const glia_procfs_owner *owners, size_t n,
			   glia_procfs_member **out)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t count, k = 0;
	seen *all = scan(owners, n, &count);

	*out = glia_calloc(count ? count : 1, sizeof **out);
	for (size_t i = 0; i < count; i++) {
		if (all[i].owner == UNKNOWN)
			all[i].owner = owner_by_parent(all, count, &all[i]);
		if (all[i].owner == NONE)
			continue;
		(*out)[k].pid = all[i].pid;
		(*out)[k].owner = all[i].owner;
		(*out)[k].rss = (int64_t)all[i].st.rss_pages * page;
		k++;
	}
	free(all);
	return k;
}

int glia_procfs_is_orphan(const char *env, size_t len, const char *home,
			  int self)
{
	const char *tag = glia_procfs_environ_get(env, len, "GLIA_PROC_TAG");
	const char *cache = glia_procfs_environ_get(env, len,
						    "GLIA_CACHE_DIR");
	size_t n = strlen(home);
	if (!tag || !cache || !isdigit((unsigned char)*tag) ||
	    strncmp(cache, home, n) != 0 || strncmp(cache + n, "/cache/", 7))
		return 0;
	return atoi(tag) != self;
}

size_t glia_procfs_orphans(const char *home, int self, int **out)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	size_t k = 0, cap = 0;

	*out = NULL;
	while (d && (e = readdir(d)) != NULL) {
		if (!all_digits(e->d_name) || atoi(e->d_name) == self)
			continue;
		char path[300];
		size_t len = 0;
		snprintf(path, sizeof path, "/proc/%s/environ", e->d_name);
		char *env = glia_read_file(path, (size_t)4 << 20, &len);
		if (env && glia_procfs_is_orphan(env, len, home, self)) {
			if (k == cap) {
				cap = cap ? cap * 2 : 16;
				*out = glia_realloc(*out, cap * sizeof **out);
			}
			(*out)[k++] = atoi(e->d_name);
		}
		free(env);
	}
	if (d)
		closedir(d);
	return k;
}
