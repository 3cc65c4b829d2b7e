/* watch.h: the model-directory watcher of `glia worker` (SPEC section 3,
 * "Models": live reloading). A thread of its own runs a libuv loop with
 * one inotify watch (uv_fs_event) per directory the scan function names;
 * any change there runs the scan again after a short debounce. Where a
 * watch cannot be set up (inotify limits, file systems without it), or
 * when asked to, it polls: the scan runs every poll interval.
 *
 * The scan function does the work (Python: glia._models.ModelStore.rescan)
 * and answers the directories to watch next and, optionally, when to scan
 * again even without an event (files still being copied settle). The tick
 * function runs every second (metrics flushing). Both run on the watcher's
 * thread, never at the same time. */
#ifndef GLIA_WATCH_H
#define GLIA_WATCH_H

#include <stdint.h>

/* Fills *dirs with a malloc'ed, NULL-terminated array of malloc'ed paths
 * (or NULL: keep the current set) and *next_ms with the delay before a
 * scan wanted regardless of events (-1: none). */
typedef void (*glia_watch_scan_fn)(void *ud, char ***dirs, int64_t *next_ms);
typedef void (*glia_watch_tick_fn)(void *ud);

typedef struct glia_watch_opts {
	glia_watch_scan_fn scan;
	glia_watch_tick_fn tick; /* may be NULL */
	void *ud;
	int poll;            /* 1: never use inotify */
	int64_t poll_ms;     /* scan period when polling (default 1000) */
	int64_t debounce_ms; /* after an event (default 100) */
} glia_watch_opts;

typedef struct glia_watch glia_watch;

/* Starts the thread; its first act is a scan. NULL when it cannot start. */
glia_watch *glia_watch_start(const glia_watch_opts *opts);
/* Stops the loop, joins the thread, frees everything. */
void glia_watch_stop(glia_watch *w);
/* 1 when the watcher fell back to (or was asked for) polling. */
int glia_watch_polling(const glia_watch *w);

void glia_watch_free_dirs(char **dirs);

#endif
