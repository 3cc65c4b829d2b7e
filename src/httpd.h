/* httpd.h: server side of HTTP/1.1 connections on libuv streams (TCP for the
 * gateway, a Unix socket for the management API). One request at a time per
 * connection: reading pauses from a request's arrival until its answer is
 * finished, which keeps pipelined requests in order and bounds memory. */
#ifndef GLIA_HTTPD_H
#define GLIA_HTTPD_H

#include <stdint.h>
#include <uv.h>

#include "http.h"
#include "util.h"

typedef struct glia_httpd glia_httpd;
typedef struct glia_httpd_conn glia_httpd_conn;

/* Called once per complete request. The message stays valid until the answer
 * is finished (glia_httpd_finish) or the connection closes. */
typedef void (*glia_httpd_request_cb)(glia_httpd_conn *c,
				      const glia_http_msg *m, void *data);
/* Called when a connection that holds an unfinished request closes; the
 * owner must forget c (it is freed after the callback). */
typedef void (*glia_httpd_close_cb)(glia_httpd_conn *c, void *owner);

/* Starts listening. host:port for TCP, or a path for a Unix socket (mode
 * 0600, stale file replaced; glia_httpd_close leaves the file: its owner
 * removes it). NULL with err filled on failure. */
glia_httpd *glia_httpd_listen_tcp(uv_loop_t *loop, const char *host, int port,
				  const glia_http_limits *limits,
				  glia_httpd_request_cb cb, void *data,
				  char *err, size_t errlen);
glia_httpd *glia_httpd_listen_unix(uv_loop_t *loop, const char *path,
				   const glia_http_limits *limits,
				   glia_httpd_request_cb cb, void *data,
				   char *err, size_t errlen);
/* Deadlines on client connections and their number. A zero field takes
 * the default. Timeouts close the connection: a request head not complete
 * within header_timeout_ms of its first byte (of the accept for a new
 * connection) or a body that sends nothing for body_timeout_ms gets a 408
 * as it closes; a keep-alive connection idle for keepalive_timeout_ms is
 * closed quietly. None applies while a request is being answered; a peer
 * that takes no byte of its answer (or stream) for send_timeout_ms while
 * some wait to be sent is closed. Past
 * max_conns, a new connection is accepted, answered 503 with Connection:
 * close and closed. */
typedef struct glia_httpd_conn_limits {
	uint64_t header_timeout_ms;    /* default 60 s */
	uint64_t body_timeout_ms;      /* default 60 s */
	uint64_t keepalive_timeout_ms; /* default 75 s */
	uint64_t send_timeout_ms;      /* answer not read at all; 60 s */
	size_t max_conns; /* default glia_httpd_default_max_conns() */
	/* Request bytes (heads and bodies) held by all the connections of the
	 * server: a request that would take more is answered 503 with
	 * Retry-After before its body is read (a body of known length is
	 * counted whole when its head arrives). Default
	 * glia_httpd_default_max_buffered(); never less than one request of
	 * the largest size. */
	size_t max_buffered;
} glia_httpd_conn_limits;
void glia_httpd_set_conn_limits(glia_httpd *s, const glia_httpd_conn_limits *l);
/* 1 GiB, or a quarter of the RAM when that is less. */
size_t glia_httpd_default_max_buffered(void);

/* A head refused by a head callback: status, {"error": message}, and extra
 * header lines ("Name: value\r\n", may be NULL). */
typedef struct glia_httpd_refusal {
	int status;
	const char *message;
	const char *extra_headers;
} glia_httpd_refusal;
/* Called once per request when its head is complete, before its body is
 * read (head->body holds what arrived so far). Return 0 to go on; else
 * fill r: the request is answered with it, its body is never buffered,
 * and the connection closes after a lingering read of what the client
 * still sends. */
typedef int (*glia_httpd_head_cb)(glia_httpd_conn *c,
				  const glia_http_msg *head, void *data,
				  glia_httpd_refusal *r);
void glia_httpd_set_head_cb(glia_httpd *s, glia_httpd_head_cb cb);

/* A random 64-bit value (splitmix64 seeded once from getrandom), for ids
 * that reveal nothing about the process. */
uint64_t glia_httpd_random64(void);

/* RLIMIT_NOFILE's soft limit less a reserve (256 + 1/16 of it) kept for
 * the management API, backends, logs and state; at least 16. */
size_t glia_httpd_default_max_conns(void);
/* Raises RLIMIT_NOFILE's soft limit to the hard limit (programs that serve
 * call it at start). 0, or -1 when it cannot. */
int glia_raise_nofile_limit(void);

/* Stops accepting and closes every connection. Frees the server once libuv
 * is done with it. */
void glia_httpd_close(glia_httpd *s);
size_t glia_httpd_conn_count(const glia_httpd *s);

/* The connection's output buffer: format the whole answer into it, then
 * call glia_httpd_finish. */
glia_buf *glia_httpd_out(glia_httpd_conn *c);
/* Sends what is in the output buffer. keep_alive=0 closes after sending.
 * Then the next request on the connection (if any) is processed. */
void glia_httpd_finish(glia_httpd_conn *c, int keep_alive);
/* As glia_httpd_finish, the answer's body sent from body's storage after
 * the output buffer (which holds the head) instead of copied into it; the
 * connection owns body from now on (*body is emptied). */
void glia_httpd_finish_body(glia_httpd_conn *c, int keep_alive,
			    glia_http_body *body);
/* Writes bufs (n of them) to s: at once when the socket takes them all
 * (1), else the rest through req, which calls cb (0), or a libuv error.
 * The bufs array may be changed; the bytes must live until cb. */
int glia_uv_write_all(uv_stream_t *s, uv_write_t *req, uv_buf_t *bufs,
		      unsigned n, uv_write_cb cb);
/* Convenience: a whole answer with a body. */
void glia_httpd_respond(glia_httpd_conn *c, int status,
			const char *content_type, const char *body,
			size_t len, const char *extra_headers);
/* Convenience: {"error": message}. */
void glia_httpd_respond_error(glia_httpd_conn *c, int status,
			      const char *message, const char *extra_headers);

/* Streaming: sends a chunked response head, then chunks. The connection
 * stays busy until glia_httpd_stream_end or the peer closes. */
void glia_httpd_stream_begin(glia_httpd_conn *c, int status,
			     const char *content_type);
/* Returns -1 when too much is waiting to be written to a slow peer (the
 * chunk is dropped; the caller may close). */
int glia_httpd_stream_write(glia_httpd_conn *c, const char *data, size_t len);
void glia_httpd_stream_end(glia_httpd_conn *c);

void glia_httpd_set_owner(glia_httpd_conn *c, glia_httpd_close_cb cb,
			  void *owner);
/* Called when the peer ends its side (EOF) while its request is being
 * answered. The connection stays open, so a client that only half-closed
 * still gets its answer; an owner that will not answer (the request has
 * not started) calls glia_httpd_abort. Cleared with the owner. */
void glia_httpd_set_eof_cb(glia_httpd_conn *c, glia_httpd_close_cb cb);
/* Closes the connection now (the close callback is not called). */
void glia_httpd_abort(glia_httpd_conn *c);
/* Peer address as text ("127.0.0.1" or "unix"). */
const char *glia_httpd_peer(const glia_httpd_conn *c);

#endif
