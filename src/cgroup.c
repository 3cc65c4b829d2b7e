/* cgroup.c: see cgroup.h. */
#include "cgroup.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "procfs.h"
#include "util.h"

#define PROCS_MAX_BYTES ((size_t)4 << 20) /* cgroup.procs read at most */
#define KILL_ROUNDS     4 /* without cgroup.kill: read, kill, again */
#define MAX_PENDING     4096

struct glia_cgroups {
	char *dir;      /* <mount><own cgroup>/glia-<pid> */
	char **pending; /* leaves still busy with dying processes */
	size_t n_pending;
};

int glia_cgroup_parse_self(const char *text, char *out, size_t n)
{
	for (const char *line = text; line && *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		if (len >= 3 && memcmp(line, "0::", 3) == 0) {
			if (len - 3 >= n || len == 3)
				return -1;
			memcpy(out, line + 3, len - 3);
			out[len - 3] = '\0';
			return 0;
		}
		line = end ? end + 1 : NULL;
	}
	return -1;
}

/* Field k (from 0) of a mountinfo line, into out. */
static int field(const char *line, size_t len, int k, char *out, size_t n)
{
	size_t i = 0;
	for (int f = 0; i < len; f++) {
		while (i < len && line[i] == ' ')
			i++;
		size_t start = i;
		while (i < len && line[i] != ' ')
			i++;
		if (f == k) {
			if (i == start || i - start >= n)
				return -1;
			memcpy(out, line + start, i - start);
			out[i - start] = '\0';
			return 0;
		}
	}
	return -1;
}

/* The file system type of a mountinfo line: the field after " - ". */
static int is_cgroup2(const char *line, size_t len)
{
	for (size_t i = 0; i + 3 <= len; i++)
		if (memcmp(line + i, " - ", 3) == 0)
			return len - i - 3 >= 8 &&
			       memcmp(line + i + 3, "cgroup2 ", 8) == 0;
	return 0;
}

int glia_cgroup_parse_mountinfo(const char *text, char *mnt, size_t mlen,
				char *root, size_t rlen)
{
	for (const char *line = text; line && *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		if (is_cgroup2(line, len) &&
		    field(line, len, 3, root, rlen) == 0 &&
		    field(line, len, 4, mnt, mlen) == 0)
			return strchr(mnt, '\\') || strchr(root, '\\') ? -1 : 0;
		line = end ? end + 1 : NULL;
	}
	return -1;
}

/* ---- one cgroup ------------------------------------------------------ */

static char *cg_file(const char *dir, const char *name)
{
	return glia_sprintf("%s/%s", dir, name);
}

static int write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t w = write(fd, text, strlen(text));
	int e = errno;
	close(fd);
	errno = e;
	return w == (ssize_t)strlen(text) ? 0 : -1;
}

int glia_cgroup_add(const char *leaf, int pid)
{
	char num[32];
	snprintf(num, sizeof num, "%d\n", pid);
	char *path = cg_file(leaf, "cgroup.procs");
	int rc = write_text(path, num);
	int e = errno;
	free(path);
	errno = e;
	return rc;
}

/* The pids in leaf's cgroup.procs; *n of them. NULL when none. */
static int *read_pids(const char *leaf, size_t *n)
{
	char *path = cg_file(leaf, "cgroup.procs");
	char *text = glia_read_file(path, PROCS_MAX_BYTES, NULL);
	free(path);
	*n = 0;
	if (!text)
		return NULL;
	size_t cap = 0;
	int *pids = NULL;
	for (char *p = text; *p;) {
		char *end;
		long v = strtol(p, &end, 10);
		if (end == p) {
			p++;
			continue;
		}
		if (v > 0 && v <= INT_MAX) {
			if (*n == cap) {
				cap = cap ? cap * 2 : 16;
				pids = glia_realloc(pids, cap * sizeof *pids);
			}
			pids[(*n)++] = (int)v;
		}
		p = end;
	}
	free(text);
	return pids;
}

static int signal_members(const char *leaf, int sig)
{
	size_t n;
	int *pids = read_pids(leaf, &n);
	int sent = 0;
	for (size_t i = 0; i < n; i++)
		sent += kill(pids[i], sig) == 0;
	free(pids);
	return sent;
}

int glia_cgroup_signal(const char *leaf, int sig)
{
	if (sig != SIGKILL)
		return signal_members(leaf, sig);
	char *path = cg_file(leaf, "cgroup.kill");
	int rc = write_text(path, "1");
	free(path);
	if (rc == 0)
		return 1;
	/* before Linux 5.14: a member may fork meanwhile, so go again */
	int sent = 0;
	for (int round = 0; round < KILL_ROUNDS; round++) {
		int k = signal_members(leaf, SIGKILL);
		if (k == 0)
			break;
		sent += k;
	}
	return sent;
}

int64_t glia_cgroup_rss(const char *leaf)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t n;
	int *pids = read_pids(leaf, &n);
	int64_t total = 0;
	for (size_t i = 0; i < n; i++) {
		char path[64];
		snprintf(path, sizeof path, "/proc/%d/stat", pids[i]);
		char *text = glia_read_file(path, 4096, NULL);
		int pgrp;
		long long pages;
		if (text && glia_procfs_parse_stat(text, &pgrp, &pages) == 0)
			total += (int64_t)pages * page;
		free(text);
	}
	free(pids);
	return total;
}

void glia_cgroup_join_from_env(void)
{
	const char *leaf = getenv("GLIA_CGROUP");
	if (leaf && *leaf)
		(void)glia_cgroup_add(leaf, 0); /* the daemon adds us too */
	unsetenv("GLIA_CGROUP");
}

/* ---- the daemon's subtree ---------------------------------------------- */

/* <mount><own cgroup>, where the daemon's subtree goes. */
static char *own_cgroup_dir(char *why, size_t n)
{
	char mnt[PATH_MAX], root[PATH_MAX], self[PATH_MAX];
	char *info = glia_read_file("/proc/self/mountinfo", 1 << 22, NULL);
	int found = info && glia_cgroup_parse_mountinfo(info, mnt, sizeof mnt,
							root, sizeof root) == 0;
	free(info);
	if (!found) {
		snprintf(why, n, "no cgroup2 file system is mounted");
		return NULL;
	}
	char *text = glia_read_file("/proc/self/cgroup", 1 << 16, NULL);
	found = text && glia_cgroup_parse_self(text, self, sizeof self) == 0;
	free(text);
	if (!found) {
		snprintf(why, n, "/proc/self/cgroup names no cgroup v2 path");
		return NULL;
	}
	/* a mount of a subtree (a container's): the path below its root */
	size_t rl = strcmp(root, "/") == 0 ? 0 : strlen(root);
	if (rl && (strncmp(self, root, rl) != 0 ||
		   (self[rl] != '/' && self[rl] != '\0'))) {
		snprintf(why, n, "the daemon's cgroup %s is outside the "
				 "cgroup2 mount %s",
			 self, mnt);
		return NULL;
	}
	const char *rest = self + rl;
	return glia_sprintf("%s%s", mnt, strcmp(rest, "/") == 0 ? "" : rest);
}

/* Kills and removes every leaf of a subtree, then the subtree. */
static int remove_subtree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		char *leaf = glia_sprintf("%s/%s", dir, e->d_name);
		glia_cgroup_signal(leaf, SIGKILL);
		for (int i = 0; i < 200 && rmdir(leaf) < 0 && errno == EBUSY;
		     i++)
			nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
		free(leaf);
	}
	if (d)
		closedir(d);
	return rmdir(dir);
}

/* glia-<pid> beside ours whose daemon is gone. */
static void remove_stale(const char *parent)
{
	DIR *d = opendir(parent);
	struct dirent *e;
	int removed = 0;
	while (d && (e = readdir(d)) != NULL) {
		char *end;
		if (strncmp(e->d_name, "glia-", 5) != 0 ||
		    !isdigit((unsigned char)e->d_name[5]))
			continue;
		long pid = strtol(e->d_name + 5, &end, 10);
		if (*end || pid <= 0 || pid > INT_MAX || pid == getpid() ||
		    kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		char *dir = glia_sprintf("%s/%s", parent, e->d_name);
		removed += remove_subtree(dir) == 0;
		free(dir);
	}
	if (d)
		closedir(d);
	if (removed)
		glia_log(GLIA_LOG_INFO,
			 "removed %d cgroup subtree(s) of glia daemons that "
			 "are gone, with their processes",
			 removed);
}

glia_cgroups *glia_cgroups_open(char *why, size_t n)
{
	const char *mode = getenv("GLIA_CGROUPS");
	if (mode && strcmp(mode, "off") == 0) {
		snprintf(why, n, "GLIA_CGROUPS=off");
		return NULL;
	}
	char *parent = own_cgroup_dir(why, n);
	if (!parent)
		return NULL;
	char *procs = cg_file(parent, "cgroup.procs");
	int writable = access(procs, W_OK) == 0;
	free(procs);
	if (!writable) {
		snprintf(why, n, "%s/cgroup.procs is not writable (%s)",
			 parent, strerror(errno));
		free(parent);
		return NULL;
	}
	remove_stale(parent);
	char *dir = glia_sprintf("%s/glia-%d", parent, (int)getpid());
	free(parent);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		snprintf(why, n, "cannot create %s: %s", dir, strerror(errno));
		free(dir);
		return NULL;
	}
	glia_cgroups *c = glia_calloc(1, sizeof *c);
	c->dir = dir;
	return c;
}

const char *glia_cgroups_dir(const glia_cgroups *c)
{
	return c->dir;
}

char *glia_cgroups_new_leaf(glia_cgroups *c, const char *name)
{
	char *leaf = glia_sprintf("%s/%s", c->dir, name);
	if (mkdir(leaf, 0755) == 0 || errno == EEXIST)
		return leaf;
	free(leaf);
	return NULL;
}

void glia_cgroups_release(glia_cgroups *c, char *leaf)
{
	if (!leaf)
		return;
	glia_cgroup_signal(leaf, SIGKILL);
	if (rmdir(leaf) == 0 || errno != EBUSY ||
	    c->n_pending >= MAX_PENDING) {
		free(leaf);
		return;
	}
	c->pending = glia_realloc(c->pending,
				  (c->n_pending + 1) * sizeof *c->pending);
	c->pending[c->n_pending++] = leaf;
}

void glia_cgroups_sweep(glia_cgroups *c)
{
	size_t k = 0;
	if (!c)
		return;
	for (size_t i = 0; i < c->n_pending; i++) {
		char *leaf = c->pending[i];
		if (rmdir(leaf) < 0 && errno == EBUSY) {
			glia_cgroup_signal(leaf, SIGKILL);
			c->pending[k++] = leaf;
		} else {
			free(leaf);
		}
	}
	c->n_pending = k;
}

void glia_cgroups_close(glia_cgroups *c, double wait_s)
{
	if (!c)
		return;
	double until = glia_now() + wait_s;
	while (c->n_pending > 0 && glia_now() < until) {
		glia_cgroups_sweep(c);
		if (c->n_pending > 0)
			nanosleep(&(struct timespec){0, 10 * 1000 * 1000},
				  NULL);
	}
	for (size_t i = 0; i < c->n_pending; i++)
		free(c->pending[i]);
	free(c->pending);
	if (remove_subtree(c->dir) < 0 && errno != ENOENT)
		glia_log(GLIA_LOG_ERROR, "cannot remove cgroup %s: %s", c->dir,
			 strerror(errno));
	free(c->dir);
	free(c);
}
