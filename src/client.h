/* client.h: a small blocking HTTP/1.1 client, one request per connection,
 * over a Unix socket or TCP. Used by the CLI (management API, predict) and
 * by test and bench tools.
 *
 * Every call sends "Connection: close" and reads the answer until the
 * message ends (Content-Length, chunked, or EOF). Errors return a negative
 * GLIA_CLIENT_E* code and write one human-readable line into err. */
#ifndef GLIA_CLIENT_H
#define GLIA_CLIENT_H

#include <signal.h>
#include <stddef.h>

#include "util.h"

enum {
	GLIA_CLIENT_EFAIL = -1,    /* any other failure (I/O, bad answer) */
	GLIA_CLIENT_ECONNECT = -2, /* nothing listens there: ENOENT/ECONNREFUSED */
	GLIA_CLIENT_ETIMEDOUT = -3,
	GLIA_CLIENT_ECANCELED = -4, /* *cancel became non-zero */
	GLIA_CLIENT_ETOOBIG = -5,   /* answer over the body cap */
};

/* Whole-message answers are capped at this many body bytes. */
#define GLIA_CLIENT_MAX_BODY (64u * 1024 * 1024)

typedef struct glia_client_response {
	int status;
	char *content_type; /* malloc'd; NULL when the answer had none */
	glia_buf body;      /* de-chunked, NUL-terminated (data never NULL) */
} glia_client_response;

/* Frees out's members; safe on a zeroed or already-freed response. */
void glia_client_response_free(glia_client_response *r);

/* Connects to unix_path when not NULL, else to host:port over TCP.
 * A Unix path longer than sun_path is reached through its directory's
 * /proc/self/fd entry. timeout_ms <= 0 means no limit.
 * Returns a connected, blocking, close-on-exec fd, or a negative code. */
int glia_client_connect(const char *unix_path, const char *host, int port,
			int timeout_ms, char *err, size_t errlen);

/* Sends one request and reads the whole answer into *out, which must start
 * zeroed (glia_client_response r = {0};) or hold an earlier answer; the
 * caller frees it with glia_client_response_free, also after a failure.
 * path is the request target ("/v1/apis?x=1"). content_type may be NULL
 * (then no Content-Type header is sent); body may be NULL when body_len is 0.
 * timeout_ms bounds the whole exchange; <= 0 means no limit.
 * Returns 0 (any HTTP status) or a negative GLIA_CLIENT_E* code. */
int glia_client_request(const char *unix_path, const char *host, int port,
			const char *method, const char *path,
			const char *content_type, const char *body,
			size_t body_len, int timeout_ms,
			glia_client_response *out, char *err, size_t errlen);

/* The same with "Authorization: Bearer <token>" when token is not NULL:
 * the management API over TCP (glia up --admin-listen). */
int glia_client_request_auth(const char *unix_path, const char *host,
			     int port, const char *token, const char *method,
			     const char *path, const char *content_type,
			     const char *body, size_t body_len, int timeout_ms,
			     glia_client_response *out, char *err,
			     size_t errlen);

/* Streaming body callback: called once with len 0 when the head arrived
 * (so the caller learns the status even for an empty body), then with body
 * bytes as they arrive (de-chunked; len > 0). Return non-zero to stop. */
typedef int (*glia_client_body_cb)(void *ud, int status, const char *data,
				   size_t len);

/* Like glia_client_request, but streams the body to cb instead of keeping
 * it: for answers that never end (logs -f). cancel, when not NULL, is
 * checked at least every 200 ms (a SIGINT handler sets it): the call then
 * returns GLIA_CLIENT_ECANCELED. A callback asking to stop gives 0.
 * *status_out (may be NULL) gets the HTTP status. Not for HEAD requests. */
int glia_client_stream(const char *unix_path, const char *host, int port,
		       const char *method, const char *path,
		       const char *content_type, const char *body,
		       size_t body_len, int timeout_ms,
		       const volatile sig_atomic_t *cancel,
		       glia_client_body_cb cb, void *ud, int *status_out,
		       char *err, size_t errlen);

/* glia_client_stream with a bearer token (NULL: none). */
int glia_client_stream_auth(const char *unix_path, const char *host,
			    int port, const char *token, const char *method,
			    const char *path, const char *content_type,
			    const char *body, size_t body_len, int timeout_ms,
			    const volatile sig_atomic_t *cancel,
			    glia_client_body_cb cb, void *ud, int *status_out,
			    char *err, size_t errlen);

/* Splits "http://host[:port][/path]" (host may be "[v6addr]"). host gets
 * the host without brackets, *port 80 when absent, path a malloc'd target
 * ("/" when absent). Only http:// is accepted. 0 or -1. */
int glia_client_parse_url(const char *url, char *host, size_t hostlen,
			  int *port, char **path);

/* Appends s percent-encoded for use as one path segment or query value
 * (everything but ALPHA DIGIT - . _ ~ is escaped). 0 or -1 (cap). */
int glia_client_url_encode(glia_buf *out, const char *s);

#endif
