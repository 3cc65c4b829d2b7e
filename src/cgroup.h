/* cgroup.h: a cgroup (v2) of its own for each replica process, so that
 * everything the process starts is found when it is stopped and counted
 * for compute.mem, even a child that called setsid() or forked twice: such
 * a child leaves the process group and the parent chain, never the cgroup.
 *
 * The daemon's subtree is glia-<pid> under the daemon's own cgroup
 * (<cgroup2 mount><path in /proc/self/cgroup>/glia-<pid>); each process it
 * starts gets a leaf there, which the process joins itself before it runs
 * any user code (GLIA_CGROUP, glia_cgroup_join_from_env) and the daemon
 * writes it into right after the spawn as well. No controller is enabled:
 * glia uses the membership only (memory is the resident memory of the
 * members, as before). Where cgroup v2 is missing, read-only or not ours
 * to write, or GLIA_CGROUPS=off, glia_cgroups_open says why and the
 * supervisor finds the processes through /proc (procfs.h). */
#ifndef GLIA_CGROUP_H
#define GLIA_CGROUP_H

#include <stddef.h>
#include <stdint.h>

typedef struct glia_cgroups glia_cgroups;

/* The cgroup v2 path of the "0::" line of /proc/<pid>/cgroup's text, into
 * out. 0, or -1 when there is none or it does not fit. Pure. */
int glia_cgroup_parse_self(const char *text, char *out, size_t n);

/* The mount point and the mount's root of the first cgroup2 file system
 * in /proc/<pid>/mountinfo's text. 0, or -1 when none (or one whose path
 * needs unescaping). Pure. */
int glia_cgroup_parse_mountinfo(const char *text, char *mnt, size_t mlen,
				char *root, size_t rlen);

/* Creates the daemon's subtree and removes those of daemons that are gone
 * (killing what is left in them). NULL, with the reason in why, when
 * cgroups cannot be used. */
glia_cgroups *glia_cgroups_open(char *why, size_t n);
const char *glia_cgroups_dir(const glia_cgroups *c);

/* mkdir <subtree>/<name>: the leaf's path (to free), or NULL. */
char *glia_cgroups_new_leaf(glia_cgroups *c, const char *name);

/* Kills every process left in leaf and removes it, now or, while dying
 * processes keep it busy, at a later glia_cgroups_sweep. Takes leaf. */
void glia_cgroups_release(glia_cgroups *c, char *leaf);
void glia_cgroups_sweep(glia_cgroups *c);

/* Releases every leaf left, waits up to wait_s for them to empty, removes
 * the subtree and frees c. NULL is fine. */
void glia_cgroups_close(glia_cgroups *c, double wait_s);

/* Moves pid into leaf. 0, or -1 with errno. */
int glia_cgroup_add(const char *leaf, int pid);

/* Sends sig to every process in leaf (SIGKILL: cgroup.kill where the
 * kernel has it). How many were signalled (for SIGKILL through
 * cgroup.kill: 1 when the write succeeded). */
int glia_cgroup_signal(const char *leaf, int sig);

/* The resident memory of every process in leaf, in bytes. */
int64_t glia_cgroup_rss(const char *leaf);

/* In a process the daemon started: joins the leaf named by GLIA_CGROUP
 * (then unset) before anything else runs. */
void glia_cgroup_join_from_env(void);

#endif
