/* glia/predictor.h: the ABI of C predictors (SPEC section 4, "C").
 *
 * A C predictor is a shared library that defines the five functions below.
 * glia's worker loads it with dlopen, checks glia_predictor_abi_version(),
 * calls glia_predictor_init() once, then glia_predictor_predict() for every
 * request, from up to threads_per_process threads at once: predict must be
 * thread-safe (keep per-request state on the stack or in thread-local
 * storage). No Python is involved.
 *
 * Ownership, in one place:
 * - Everything in a glia_request belongs to glia and is valid only during
 *   the predict call. Strings are NUL-terminated; the body is not
 *   guaranteed to be (use body_len).
 * - Everything the predictor puts in a glia_response (body, content_type,
 *   headers) belongs to the predictor. glia reads it after predict returns,
 *   writes the answer, then calls glia_predictor_free_response() exactly once
 *   for that response, whatever predict returned. A predictor that answers
 *   from a thread-local or static buffer may make free_response do nothing.
 * - The config JSON given to init is glia's, valid during init only.
 * - The state returned by init is the predictor's; glia passes it back
 *   unchanged and gives it to glia_predictor_free() once at shutdown.
 *
 * With predictor.server_side_batching, glia calls the optional
 * glia_predictor_predict_batch() instead of predict, from one thread at a
 * time, with the requests it gathered; a library without it cannot be
 * deployed with batching.
 *
 * Compatibility: glia refuses a library whose glia_predictor_abi_version()
 * differs from the GLIA_PREDICTOR_ABI_VERSION glia was built with. Fields are
 * only ever added at the end of these structs, with a version bump. */
#ifndef GLIA_PREDICTOR_H
#define GLIA_PREDICTOR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GLIA_PREDICTOR_ABI_VERSION 1

typedef struct glia_request {
	const char *method;       /* "POST", "GET", ... */
	const char *path;         /* the part after the endpoint: "/" or "/x/y" */
	const char *query;        /* raw query string without '?'; "" if none */
	const char *content_type; /* NULL when the request had none */
	const char *request_id;   /* the X-Request-ID glia answers with;
				     "" when the request had none */
	const char *body;         /* body_len bytes; not NUL-terminated */
	size_t body_len;
	size_t n_headers;         /* every request header, as received */
	const char *const *header_names;
	const char *const *header_values;
} glia_request;

typedef struct glia_response {
	int status;               /* preset to 200 */
	const char *content_type; /* preset to NULL: "application/json" */
	const char *body;         /* NULL with body_len 0: empty body */
	size_t body_len;
	const char *headers;      /* extra header lines, each "Name: value\r\n";
				     NULL for none. Content-Type,
				     Content-Length, Connection,
				     Transfer-Encoding and X-Request-ID
				     lines are dropped: glia writes those */
	void *user;               /* free for the predictor's bookkeeping
				     (e.g. what free_response must release) */
} glia_response;

/* Returns GLIA_PREDICTOR_ABI_VERSION as the library was compiled. */
int glia_predictor_abi_version(void);

/* Builds the predictor from predictor.config (a JSON object as text), in
 * the project directory (relative paths are relative to it). On
 * failure returns NULL and writes a one-line reason into err (errlen bytes,
 * NUL-terminated); glia reports it like a Python __init__ exception. */
void *glia_predictor_init(const char *config_json, char *err, size_t errlen);

/* Answers one request. Returns 0 when resp is the answer. A non-zero return
 * is a predictor failure: glia answers 500 {"error": <resp->body as text, or
 * "predictor failed">} (cut after 1 KiB) and logs it with the request id.
 * An answer glia cannot send (status outside 100..599, a NULL body with a
 * length, malformed header lines) becomes a 500 as well. */
int glia_predictor_predict(void *state, const glia_request *req,
			   glia_response *resp);

/* Releases what predict put in resp. Called once per predict call. */
void glia_predictor_free_response(void *state, glia_response *resp);

/* Optional (server_side_batching): answers reqs[0..n-1] (1 <= n <=
 * max_batch_size, in arrival order) in one call; resps[i], preset like
 * predict's, answers reqs[i]. Returns 0 when every response is an answer;
 * a non-zero return fails the whole batch: every request gets 500
 * {"error": <resps[0].body as text, or "predictor failed">}. Either way
 * glia calls glia_predictor_free_response() once for each of the n
 * responses. Never called concurrently with itself. */
int glia_predictor_predict_batch(void *state, const glia_request *reqs,
				 glia_response *resps, size_t n);

/* Releases the predictor at worker shutdown. */
void glia_predictor_free(void *state);

#ifdef __cplusplus
}
#endif

#endif
