/* pyhost.h: the embedded CPython interpreter that runs a Python predictor
 * inside `glia worker` (SPEC section 4). The only module that includes
 * Python.h; its Python half is python/glia/_runtime.py.
 *
 * Threading: glia_pyhost_start runs on the main thread and returns with it
 * holding the GIL; glia_pyhost_detach hands the GIL back. After that, any
 * number of serving threads may call glia_pyhost_thread_enter once and then
 * glia_pyhost_handle/glia_pyhost_finish, each of which holds the GIL only
 * while Python runs. */
#ifndef GLIA_PYHOST_H
#define GLIA_PYHOST_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

typedef struct glia_pyhost_opts {
	const char *python_dir; /* directory holding the glia package */
	const char *spec_json;  /* the canonical spec (docs/spec-json.md) */
	const char *replica_id;
	int status_fd; /* the daemon's status pipe (-1: none): the runtime
	                  sends model metrics lines there */
} glia_pyhost_opts;

/* Initializes CPython (site imported, environment variables such as
 * PYTHONPATH ignored, no Python signal handlers), puts python_dir first on
 * sys.path and builds the predictor. 0, or -1 with a one-line reason in err
 * (any traceback is already on stderr). Main thread, once. */
int glia_pyhost_start(const glia_pyhost_opts *opts, char *err, size_t errlen);
/* Releases the GIL the main thread got from glia_pyhost_start. */
void glia_pyhost_detach(void);
/* Flushes Python's stdout and stderr (main thread, after detach). */
void glia_pyhost_flush(void);

/* Gives the calling thread its Python thread state, kept for the thread's
 * life. Call once per serving thread before glia_pyhost_handle. */
void glia_pyhost_thread_enter(void);

typedef struct glia_pyhost_req {
	const char *method;
	const char *path;                /* "/<rest>" */
	const char *query;               /* after '?', "" when none */
	const char *const *header_names; /* n_headers of each */
	const char *const *header_values;
	size_t n_headers;
	const char *body;
	size_t body_len;
	const char *content_type; /* NULL when absent */
	const char *request_id;   /* NULL when absent */
} glia_pyhost_req;

/* The answer to one request. The caller owns the three buffers (reused
 * across requests; glia_pyhost_handle resets them). */
typedef struct glia_pyhost_resp {
	int status;
	int has_content_type; /* 0: send no Content-Type */
	glia_buf content_type;
	glia_buf extra_headers; /* "Name: value\r\n" lines from glia.Response */
	glia_buf body;
	void *post; /* post_predict state; NULL when there is none */
} glia_pyhost_resp;

void glia_pyhost_resp_init(glia_pyhost_resp *resp);
void glia_pyhost_resp_free(glia_pyhost_resp *resp);

/* Runs the predictor on req and fills resp. Never fails: predictor errors
 * become 400/500 JSON answers. */
void glia_pyhost_handle(const glia_pyhost_req *req, glia_pyhost_resp *resp);
/* server_side_batching: one predict call for reqs[0..n-1]; fills each
 * resps[i] as glia_pyhost_handle would (each request gets its own answer;
 * the batch's post_predict state, if any, rides on one of them). */
void glia_pyhost_handle_batch(const glia_pyhost_req *const *reqs,
                              glia_pyhost_resp *const *resps, size_t n);

/* predictor.models (glia._models through glia._runtime), on the watcher
 * thread (watch.h): a rescan that fills *dirs (NULL-terminated, malloc'ed)
 * and *next_ms like glia_watch_scan_fn, and the once-a-second metrics
 * flush. */
void glia_pyhost_models_scan(char ***dirs, int64_t *next_ms);
void glia_pyhost_models_tick(void);

/* After the response was written: runs post_predict when resp->post is set
 * and releases it. Cheap (no GIL) when there is nothing to do. */
void glia_pyhost_finish(glia_pyhost_resp *resp);

#endif
