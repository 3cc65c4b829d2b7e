/* test_watch.c: the model-directory watcher with a real directory: a scan
 * at start, another one after a file appears (inotify), periodic scans
 * when polling, the next scan the scan function asks for, and ticks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "util.h"
#include "watch.h"

typedef struct counter {
	atomic_int scans, ticks;
	char dir[64];
	int64_t next_ms; /* what the scan answers */
} counter;

static void scan(void *ud, char ***dirs, int64_t *next_ms)
{
	counter *c = ud;

	atomic_fetch_add(&c->scans, 1);
	*dirs = glia_calloc(2, sizeof(char *));
	(*dirs)[0] = glia_strdup(c->dir);
	*next_ms = c->next_ms;
}

static void tick(void *ud)
{
	counter *c = ud;
	atomic_fetch_add(&c->ticks, 1);
}

/* Waits up to 20 s for *v >= want. */
static int wait_at_least(atomic_int *v, int want)
{
	for (int i = 0; i < 2000; i++) {
		if (atomic_load(v) >= want)
			return 1;
		usleep(10000);
	}
	return 0;
}

static void make_dir(counter *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->dir, "/tmp/glia-watch-XXXXXX");
	assert_non_null(mkdtemp(c->dir));
	c->next_ms = -1;
}

static void touch(const char *dir, const char *name)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("x", f);
	fclose(f);
}

static void remove_dir(const char *dir)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static void change_triggers_scan(void **state)
{
	counter c;
	make_dir(&c);
	glia_watch_opts o = {.scan = scan, .tick = tick, .ud = &c};
	glia_watch *w = glia_watch_start(&o);
	assert_non_null(w);
	assert_true(wait_at_least(&c.scans, 1));
	usleep(300000); /* no event, no scan: no polling either */
	assert_int_equal(atomic_load(&c.scans), 1);
	assert_false(glia_watch_polling(w));
	touch(c.dir, "model.bin");
	assert_true(wait_at_least(&c.scans, 2));
	assert_true(wait_at_least(&c.ticks, 1));
	glia_watch_stop(w);
	remove_dir(c.dir);
}

static void polling_scans_periodically(void **state)
{
	counter c;
	make_dir(&c);
	glia_watch_opts o = {.scan = scan, .ud = &c, .poll = 1, .poll_ms = 20};
	glia_watch *w = glia_watch_start(&o);
	assert_true(glia_watch_polling(w));
	assert_true(wait_at_least(&c.scans, 4));
	glia_watch_stop(w);
	remove_dir(c.dir);
}

static void next_scan_when_asked(void **state)
{
	counter c;
	make_dir(&c);
	c.next_ms = 30; /* e.g. files still settling */
	glia_watch_opts o = {.scan = scan, .ud = &c};
	glia_watch *w = glia_watch_start(&o);
	assert_true(wait_at_least(&c.scans, 3));
	glia_watch_stop(w);
	remove_dir(c.dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(change_triggers_scan),
	    cmocka_unit_test(polling_scans_periodically),
	    cmocka_unit_test(next_scan_when_asked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
