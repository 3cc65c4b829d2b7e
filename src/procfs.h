/* procfs.h: what the supervisor reads about processes from /proc where
 * cgroups are not available (cgroup.h): which processes belong to a
 * replica's worker or command server (to stop them and, for compute.mem,
 * to sum their resident memory). */
#ifndef GLIA_PROCFS_H
#define GLIA_PROCFS_H

#include <stddef.h>
#include <stdint.h>

/* Parses the text of /proc/<pid>/stat into its process group and resident
 * set (in pages). The command name (field 2) may hold spaces and
 * parentheses. 0, or -1 when malformed. Pure. */
int glia_procfs_parse_stat(const char *text, int *pgrp, long long *rss_pages);

typedef struct glia_procfs_stat {
	int ppid, pgrp, session;
	long long rss_pages;
} glia_procfs_stat;

/* The same, with the parent and the session. Pure. */
int glia_procfs_parse_stat_full(const char *text, glia_procfs_stat *st);

/* The value of NAME=... in the text of /proc/<pid>/environ (NUL-separated,
 * len bytes), or NULL. Pure. */
const char *glia_procfs_environ_get(const char *env, size_t len,
				    const char *name);

/* A process the daemon started: its pid (the leader of its own session
 * and process group; -1 once it is gone) and the value of GLIA_PROC_TAG it
 * was given, which whatever it starts inherits. */
typedef struct glia_procfs_owner {
	int pid;
	const char *tag;
} glia_procfs_owner;

typedef struct glia_procfs_member {
	int pid;
	size_t owner; /* index in the owners */
	int64_t rss;  /* resident bytes */
} glia_procfs_member;

/* Every process that belongs to one of the owners: in its process group or
 * session, started with its GLIA_PROC_TAG (a child that called setsid() or
 * forked twice keeps it), or descended from such a process. One pass over
 * /proc; *out (to free) holds the count returned. */
size_t glia_procfs_members(const glia_procfs_owner *owners, size_t n,
			   glia_procfs_member **out);

/* Processes an earlier daemon of the same home left behind (it was
 * killed, and no cgroup ended its replicas' escaped children): those
 * started with a GLIA_PROC_TAG ("DAEMONPID.N") whose daemon is not self,
 * and with a GLIA_CACHE_DIR under home's cache/. The caller holds home's
 * daemon.lock, so no other daemon of home runs. Their pids in *out (to
 * free); the count returned. */
size_t glia_procfs_orphans(const char *home, int self, int **out);

/* The same test on one process's environ text (NUL-separated, len bytes):
 * 1 when it belongs to a daemon of home other than self. Pure. */
int glia_procfs_is_orphan(const char *env, size_t len, const char *home,
			  int self);

#endif
