/* procfs.h: what the supervisor reads about processes from /proc: the
 * resident memory of whole process groups (a replica's worker or command
 * server and everything it started), for compute.mem. */
#ifndef GLIA_PROCFS_H
#define GLIA_PROCFS_H

#include <stddef.h>
#include <stdint.h>

/* Parses the text of /proc/<pid>/stat into its process group and resident
 * set (in pages). The command name (field 2) may hold spaces and
 * parentheses. 0, or -1 when malformed. Pure. */
int glia_procfs_parse_stat(const char *text, int *pgrp, long long *rss_pages);

/* bytes[i] = resident memory of every process in process group
 * groups[i] (0 when none is left). One pass over /proc. */
void glia_procfs_group_rss(const int *groups, size_t n, int64_t *bytes);

#endif
