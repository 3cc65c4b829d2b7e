/* test_procfs.c: /proc/<pid>/stat and environ parsing (command names with
 * spaces and parentheses, malformed lines) and, over the real /proc, the
 * processes found for an owner: its process group, a child that left it
 * with the owner's GLIA_PROC_TAG, and one that left it without (by its
 * parent). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "procfs.h"

#define TAIL                                                                   \
	" 1 1 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 2 0 12345 1000000 250 "      \
	"18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0"

static void parses_plain_and_odd_names(void **state)
{
	static const char *lines[] = {
	    "4242 (glia) S 1" TAIL,
	    "4242 (my worker) S 1" TAIL,
	    "4242 (a) b (c)) R 1" TAIL,
	};
	for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
		int pgrp = -1;
		long long rss = -1;
		assert_int_equal(glia_procfs_parse_stat(lines[i], &pgrp, &rss),
		                 0);
		assert_int_equal(pgrp, 1);
		assert_int_equal(rss, 250);
	}
}

static void refuses_malformed(void **state)
{
	int pgrp;
	long long rss;
	assert_int_equal(glia_procfs_parse_stat("4242 glia S 1 1", &pgrp, &rss),
	                 -1);
	assert_int_equal(
	    glia_procfs_parse_stat("4242 (glia) S 1 2 3", &pgrp, &rss), -1);
	assert_int_equal(glia_procfs_parse_stat("", &pgrp, &rss), -1);
}

static void reads_environ_entries(void **state)
{
	static const char env[] = "A=1\0GLIA_PROC_TAG=7.3\0GLIA_PROC_TAGX=9\0";
	const char *v = glia_procfs_environ_get(env, sizeof env - 1,
	                                        "GLIA_PROC_TAG");
	assert_non_null(v);
	assert_string_equal(v, "7.3");
	assert_null(glia_procfs_environ_get(env, sizeof env - 1, "B"));
	/* an entry cut off at the end is not read past it */
	assert_null(glia_procfs_environ_get("X=1", 3, "X"));
}

static void parses_parent_and_session(void **state)
{
	glia_procfs_stat st;
	assert_int_equal(
	    glia_procfs_parse_stat_full("9 (a b) S 7 8 6" TAIL, &st), 0);
	assert_int_equal(st.ppid, 7);
	assert_int_equal(st.pgrp, 8);
	assert_int_equal(st.session, 6);
}

/* Starts `sleep 60` in a session of its own, with env. */
static pid_t start_escapee(char **env)
{
	pid_t pid = fork();
	if (pid == 0) {
		setsid();
		execle("/bin/sleep", "sleep", "60", (char *)NULL, env);
		_exit(127);
	}
	return pid;
}

static int64_t rss_of(const glia_procfs_owner *o, size_t n, int pid,
                      size_t *owner)
{
	glia_procfs_member *m;
	size_t k = glia_procfs_members(o, n, &m);
	int64_t rss = -1;
	for (size_t i = 0; i < k; i++)
		if (m[i].pid == pid) {
			rss = m[i].rss;
			*owner = m[i].owner;
		}
	free(m);
	return rss;
}

/* Polls (up to 10 s) until pid is found as a member of owners[want]. */
static int found_within(const glia_procfs_owner *o, size_t n, int pid,
                        size_t want)
{
	for (int i = 0; i < 1000; i++) {
		size_t owner = (size_t)-1;
		if (rss_of(o, n, pid, &owner) >= 0 && owner == want)
			return 1;
		usleep(10000);
	}
	return 0;
}

static void finds_group_tag_and_children(void **state)
{
	char tag[64];
	snprintf(tag, sizeof tag, "GLIA_PROC_TAG=unit-%d", (int)getpid());
	char *tagged_env[] = {tag, NULL}, *no_env[] = {NULL};
	glia_procfs_owner o[2] = {{-1, tag + 14}, {(int)getpgrp(), NULL}};
	size_t owner = 9;

	/* this process, by its process group, with its resident memory */
	assert_true(rss_of(o, 2, (int)getpid(), &owner) > 1024 * 1024);
	assert_int_equal(owner, 1);
	/* left the group and the session: by the tag it inherited */
	pid_t tagged = start_escapee(tagged_env);
	/* left them without the tag: by its parent, this process */
	pid_t child = start_escapee(no_env);
	assert_true(found_within(o, 2, tagged, 0));
	assert_true(found_within(o, 2, child, 1));
	/* neither once the owners are others */
	glia_procfs_owner none[1] = {{-1, "unit-none"}};
	assert_int_equal(rss_of(none, 1, tagged, &owner), -1);
	kill(tagged, SIGKILL);
	kill(child, SIGKILL);
	waitpid(tagged, NULL, 0);
	waitpid(child, NULL, 0);
}

/* An orphan: tagged by another daemon of the same home. Not one: this
 * daemon's, another home's (a prefix of it included), untagged. */
static void tells_orphans_by_tag_and_home(void **state)
{
	(void)state;
	static const char a[] = "PATH=/bin\0GLIA_PROC_TAG=41.3\0"
				"GLIA_CACHE_DIR=/h/g/cache/iris\0";
	static const char b[] = "GLIA_PROC_TAG=41.3\0"
				"GLIA_CACHE_DIR=/h/g2/cache/iris\0";
	static const char c[] = "GLIA_CACHE_DIR=/h/g/cache/iris\0";
	static const char d[] = "GLIA_PROC_TAG=x\0"
				"GLIA_CACHE_DIR=/h/g/cache/iris\0";

	assert_int_equal(glia_procfs_is_orphan(a, sizeof a - 1, "/h/g", 7), 1);
	assert_int_equal(glia_procfs_is_orphan(a, sizeof a - 1, "/h/g", 41), 0);
	assert_int_equal(glia_procfs_is_orphan(b, sizeof b - 1, "/h/g", 7), 0);
	assert_int_equal(glia_procfs_is_orphan(c, sizeof c - 1, "/h/g", 7), 0);
	assert_int_equal(glia_procfs_is_orphan(d, sizeof d - 1, "/h/g", 7), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(parses_plain_and_odd_names),
	    cmocka_unit_test(refuses_malformed),
	    cmocka_unit_test(reads_environ_entries),
	    cmocka_unit_test(parses_parent_and_session),
	    cmocka_unit_test(finds_group_tag_and_children),
	    cmocka_unit_test(tells_orphans_by_tag_and_home),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
