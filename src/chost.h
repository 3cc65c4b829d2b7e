/* chost.h: the host of a C predictor inside `glia worker` (SPEC section 4,
 * "C"): loads the shared library that implements include/glia/predictor.h
 * with dlopen, checks its ABI version, builds it, and turns each predict
 * call into an HTTP answer for the worker to write. No Python is involved.
 *
 * Threading: glia_chost_load and glia_chost_unload run on the main thread,
 * before any serving thread starts and after every one has stopped. Any
 * number of serving threads may call glia_chost_handle/glia_chost_finish at
 * once, each with its own glia_chost_call. */
#ifndef GLIA_CHOST_H
#define GLIA_CHOST_H

#include <stddef.h>

#include "glia/predictor.h"
#include "util.h"

typedef struct glia_chost glia_chost;

/* Longest predictor error text put in a 500 answer (bytes, before "..."). */
#define GLIA_CHOST_ERROR_MAX 1024

/* One request's answer, reused by one serving thread across requests: after
 * glia_chost_init_call, handling a request allocates nothing unless the
 * answer's extra headers outgrow what earlier answers needed. */
typedef struct glia_chost_call {
	/* What the worker writes, valid until glia_chost_finish: */
	int status;
	const char *content_type; /* NULL: send none */
	const char *body;         /* body_len bytes (the predictor's memory) */
	size_t body_len;
	const char *error; /* non-NULL: answer status {"error": error} */
	glia_buf headers;  /* the predictor's extra lines, checked */
	/* Private: */
	glia_response resp; /* as the predictor filled it */
	int pending;        /* free_response still owed */
	char message[GLIA_CHOST_ERROR_MAX + 64];
} glia_chost_call;

/* dlopens path (absolute, or relative to the working directory), resolves
 * the five functions, checks glia_predictor_abi_version() and calls
 * glia_predictor_init(config_json). Returns the host, or NULL with a
 * one-line reason in err (the predictor's own message when init failed). */
glia_chost *glia_chost_load(const char *path, const char *config_json,
                            char *err, size_t errlen);
/* Calls glia_predictor_free once. The library stays mapped: the process is
 * about to exit, and threads the predictor started may still run its code. */
void glia_chost_unload(glia_chost *h);

void glia_chost_init_call(glia_chost_call *call);

/* Runs predict on req and fills call. Never fails: a non-zero return, an
 * invalid status or malformed fields become a 500 with call->error set, and
 * a line "[<request id>] predictor failed: <why>" on stderr. */
void glia_chost_handle(glia_chost *h, const glia_request *req,
                       glia_chost_call *call);
/* 1 when the library defines glia_predictor_predict_batch. */
int glia_chost_can_batch(const glia_chost *h);

/* server_side_batching: one predict_batch call for reqs[0..n-1], answers
 * into calls[i] as glia_chost_handle would; the first call's headers get
 * "X-Glia-Batch-Size: n". One thread at a time. */
void glia_chost_handle_batch(glia_chost *h, const glia_request *reqs,
                             glia_chost_call *const *calls, size_t n);

/* After the answer was written: calls free_response for the predict call
 * of glia_chost_handle (exactly once). */
void glia_chost_finish(glia_chost *h, glia_chost_call *call);

#endif
