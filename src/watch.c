/* watch.c: see watch.h. */
#include "watch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "util.h"

#define TICK_MS 1000

static void scan_now(uv_timer_t *t);

typedef struct dir_watch {
	uv_fs_event_t ev;
	char *path;
	struct glia_watch *w;
} dir_watch;

struct glia_watch {
	glia_watch_opts o;
	uv_loop_t loop;
	uv_async_t stop_async;
	uv_timer_t scan_timer;
	uv_timer_t tick_timer;
	dir_watch **dirs;
	size_t n_dirs;
	atomic_int polling;
	pthread_t tid;
};

void glia_watch_free_dirs(char **dirs)
{
	if (!dirs)
		return;
	for (char **d = dirs; *d; d++)
		free(*d);
	free(dirs);
}

static void free_dir_watch(uv_handle_t *h)
{
	dir_watch *dw = h->data;
	free(dw->path);
	free(dw);
}

static void close_dir_watch(dir_watch *dw)
{
	uv_fs_event_stop(&dw->ev);
	uv_close((uv_handle_t *)&dw->ev, free_dir_watch);
}

static void close_all_watches(glia_watch *w)
{
	for (size_t i = 0; i < w->n_dirs; i++)
		close_dir_watch(w->dirs[i]);
	free(w->dirs);
	w->dirs = NULL;
	w->n_dirs = 0;
}

/* Scans soon after a change: sooner than a later scan already due. */
static void on_fs_event(uv_fs_event_t *ev, const char *name, int events,
                        int status)
{
	dir_watch *dw = ev->data;
	glia_watch *w = dw->w;

	if (!uv_is_active((uv_handle_t *)&w->scan_timer) ||
	    uv_timer_get_due_in(&w->scan_timer) > (uint64_t)w->o.debounce_ms)
		uv_timer_start(&w->scan_timer, scan_now,
		               (uint64_t)w->o.debounce_ms, 0);
}

static int in_list(char **dirs, const char *path)
{
	for (char **d = dirs; *d; d++)
		if (strcmp(*d, path) == 0)
			return 1;
	return 0;
}

/* 0, or a libuv error when the directory cannot be watched. */
static int add_watch(glia_watch *w, const char *path, dir_watch ***out,
                     size_t *n_out)
{
	dir_watch *dw = glia_calloc(1, sizeof(*dw));
	int rc;

	dw->path = glia_strdup(path);
	dw->w = w;
	dw->ev.data = dw;
	uv_fs_event_init(&w->loop, &dw->ev);
	rc = uv_fs_event_start(&dw->ev, on_fs_event, path, 0);
	if (rc < 0) {
		uv_close((uv_handle_t *)&dw->ev, free_dir_watch);
		return rc == UV_ENOENT ? 0 : rc; /* gone already: no matter */
	}
	(*out)[(*n_out)++] = dw;
	return 0;
}

static void fall_back_to_polling(glia_watch *w, const char *path, int rc)
{
	fprintf(stderr,
	        "glia: models: cannot watch %s (%s); polling every %lld ms\n",
	        path, uv_strerror(rc), (long long)w->o.poll_ms);
	close_all_watches(w);
	atomic_store(&w->polling, 1);
}

/* Makes the set of watched directories equal to dirs. */
static void update_watches(glia_watch *w, char **dirs)
{
	size_t n = 0, cap = 0;
	dir_watch **next;

	for (char **d = dirs; *d; d++)
		cap++;
	next = glia_calloc(cap ? cap : 1, sizeof(*next));
	for (size_t i = 0; i < w->n_dirs; i++) {
		if (in_list(dirs, w->dirs[i]->path))
			next[n++] = w->dirs[i];
		else
			close_dir_watch(w->dirs[i]);
		w->dirs[i] = NULL;
	}
	free(w->dirs);
	w->dirs = next;
	w->n_dirs = n;
	for (char **d = dirs; *d; d++) {
		int found = 0;
		for (size_t i = 0; i < n && !found; i++)
			found = strcmp(next[i]->path, *d) == 0;
		if (found)
			continue;
		int rc = add_watch(w, *d, &w->dirs, &w->n_dirs);
		if (rc < 0) {
			fall_back_to_polling(w, *d, rc);
			return;
		}
	}
}

static void schedule_scan(glia_watch *w, int64_t next_ms)
{
	int64_t delay = next_ms;

	if (atomic_load(&w->polling) && (delay < 0 || delay > w->o.poll_ms))
		delay = w->o.poll_ms;
	if (delay < 0) {
		uv_timer_stop(&w->scan_timer);
		return;
	}
	uv_timer_start(&w->scan_timer, scan_now, (uint64_t)delay, 0);
}

static void scan_now(uv_timer_t *t)
{
	glia_watch *w = t->data;
	char **dirs = NULL;
	int64_t next_ms = -1;

	w->o.scan(w->o.ud, &dirs, &next_ms);
	if (dirs && !atomic_load(&w->polling))
		update_watches(w, dirs);
	glia_watch_free_dirs(dirs);
	schedule_scan(w, next_ms);
}

static void tick(uv_timer_t *t)
{
	glia_watch *w = t->data;
	if (w->o.tick)
		w->o.tick(w->o.ud);
}

static void close_handle(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, h->type == UV_FS_EVENT ? free_dir_watch : NULL);
}

static void on_stop(uv_async_t *a)
{
	glia_watch *w = a->data;

	for (size_t i = 0; i < w->n_dirs; i++)
		uv_fs_event_stop(&w->dirs[i]->ev);
	free(w->dirs);
	w->dirs = NULL;
	w->n_dirs = 0;
	uv_walk(&w->loop, close_handle, NULL);
}

static void *watch_main(void *arg)
{
	glia_watch *w = arg;

	scan_now(&w->scan_timer);
	tick(&w->tick_timer); /* what start-up loads did, without a delay */
	uv_run(&w->loop, UV_RUN_DEFAULT);
	return NULL;
}

glia_watch *glia_watch_start(const glia_watch_opts *opts)
{
	glia_watch *w = glia_calloc(1, sizeof(*w));

	w->o = *opts;
	if (w->o.poll_ms <= 0)
		w->o.poll_ms = 1000;
	if (w->o.debounce_ms <= 0)
		w->o.debounce_ms = 100;
	atomic_store(&w->polling, opts->poll ? 1 : 0);
	if (uv_loop_init(&w->loop) < 0) {
		free(w);
		return NULL;
	}
	uv_async_init(&w->loop, &w->stop_async, on_stop);
	w->stop_async.data = w;
	uv_timer_init(&w->loop, &w->scan_timer);
	w->scan_timer.data = w;
	uv_timer_init(&w->loop, &w->tick_timer);
	w->tick_timer.data = w;
	uv_timer_start(&w->tick_timer, tick, TICK_MS, TICK_MS);
	if (pthread_create(&w->tid, NULL, watch_main, w) != 0) {
		uv_walk(&w->loop, close_handle, NULL);
		uv_run(&w->loop, UV_RUN_DEFAULT);
		uv_loop_close(&w->loop);
		free(w);
		return NULL;
	}
	return w;
}

void glia_watch_stop(glia_watch *w)
{
	if (!w)
		return;
	uv_async_send(&w->stop_async);
	pthread_join(w->tid, NULL);
	uv_loop_close(&w->loop);
	free(w);
}

int glia_watch_polling(const glia_watch *w)
{
	return atomic_load(&w->polling);
}
