/* gateway_int.h: what the gateway's files share, and nothing else may use.
 * gateway.c takes requests from clients, queues them per route and picks
 * a backend (dispatch); upstream.c holds the backends and their pooled
 * connections, sends a request and parses the answer, then hands it back
 * (gw_request_answered / gw_request_failed); gateway_metrics.c serves
 * /metrics and gateway_oip.c the inference protocol routes. Names with
 * the gw_ prefix are internal to these files. */
#ifndef GLIA_GATEWAY_INT_H
#define GLIA_GATEWAY_INT_H

#include <sys/socket.h>

#include "gateway.h"
#include "http.h"
#include "httpd.h"
#include "policy.h"
#include "route.h"

#define UP_READ_BUF    65536
#define REQUEST_ID_MAX 128

typedef struct greq greq;
typedef struct upconn upconn;

/* One API of a TrafficSplitter route. */
typedef struct split_target {
	char *api;
	int weight, shadow;
	int current;       /* smooth weighted round robin; the shadow's
	                      mirror credit (gateway.c mirror_due) */
	uint64_t requests; /* sent there (copies, for the shadow) */
} split_target;

struct glia_gateway {
	uv_loop_t *loop;
	glia_httpd *httpd;
	glia_router *router;
	glia_gateway_options opt;
	greq *free_reqs;    /* recycled requests, timers kept initialised */
	glia_route *routes; /* every routed API, for /metrics */
	glia_metrics_cb metrics_cb;
	void *metrics_arg;
	glia_repository_cb repository_cb;
	void *repository_arg;
	glia_route *relay; /* relay mode: the one route every request takes */
	int draining;      /* relay mode: refuse new requests (SIGTERM) */
	uv_timer_t full_timer; /* re-dispatches once capped backends reopen */
	struct glia_keyring *keys; /* API keys (networking.auth); may be NULL */
	/* CORS lines for the answer to the request being routed, set by
	 * gw_policy_admit, copied into the request by req_start. */
	char cors_now[GLIA_CORS_LINES_MAX];
	int full_timer_on;
	/* Bytes of replica answers held by every upstream connection: as
	 * much as client requests may hold (--max-buffered-bytes); an answer
	 * past it fails its request with 503. */
	glia_http_budget answers;
	char upbuf[UP_READ_BUF];
};

struct glia_route {
	glia_gateway *gw;
	glia_route *next_route, *prev_route;
	char *endpoint;
	char *api_name;
	char *description;
	char *unavailable;
	int64_t timeout_ms;
	int max_concurrency;
	int ready_replicas;
	int removed;
	int passthrough; /* command server: protocol paths forwarded as-is */
	int no_retry;    /* networking.retries false: never resend a
	                    request that may have run */
	int refs;        /* requests that point here */
	void (*on_demand)(void *);
	void *demand_arg;
	greq *queue_head, *queue_tail;
	int queued;
	int in_flight;
	glia_backend *backends;
	unsigned rotation; /* where the next backend scan starts */
	glia_route_stats stats;
	split_target *split; /* TrafficSplitter; NULL otherwise */
	size_t n_split;
	glia_policy *policy; /* auth, rate limit, CORS; NULL: none */
};

struct glia_backend {
	glia_route *route;
	glia_backend *next;
	char *socket_path;            /* NULL for a TCP backend */
	struct sockaddr_storage addr; /* a TCP backend's address */
	char name[64]; /* "unix", "127.0.0.1:9000", "[::1]:8080" */
	int slots;
	int in_flight;
	int draining;
	/* Down (GLIA_BACKEND_SUSPECT or _UNREACHABLE): no request goes
	 * there until a probe succeeds; probed with backoff (health.h). */
	int down;
	char down_why[96];
	double down_since;
	int probes_failed;        /* consecutive, since it went down */
	uv_timer_t *probe_timer;  /* allocated: closes after b is freed */
	upconn *probe;            /* the probe connection in flight */
	char *health_path;        /* probe with GET of it; NULL: a connect */
	/* The replica answered "overloaded" (other gateways fill it too):
	 * no more than `cap` requests go there until full_until (or until
	 * one of ours finishes). -1: no cap. */
	int cap;
	double full_until;
	uint64_t answered, failed; /* answers from it; of those, 5xx */
	void (*drained)(void *);
	void *drained_arg;
	upconn *idle;  /* keep-alive connections, ready for a request */
	upconn *conns; /* every open connection */
};

struct upconn {
	union {
		uv_pipe_t pipe; /* workers: Unix sockets */
		uv_tcp_t tcp;   /* command predictors: loopback TCP */
		uv_stream_t stream;
		uv_handle_t handle;
	} h;
	uv_connect_t creq;
	uv_write_t wreq;
	uv_timer_t connect_timer; /* a connect that hangs (a vanished host) */
	int open_handles;         /* freed when both handles are closed */
	glia_gateway *gw;
	glia_backend *be; /* NULL once the backend is gone */
	greq *req;
	int abandoned; /* its request timed out; the answer is still due */
	glia_http_parser *parser;
	upconn *next_idle;
	upconn *prev, *next; /* be->conns */
	int connected;
	int got_bytes;
	int closing;
	int reused; /* taken from the idle pool: the peer may have closed it */
	int written; /* the whole request was handed to the socket */
	int probe;   /* a health probe of be, carrying no request */
	struct deferred_error *deferred;
};

/* A connect that failed at once is reported from the loop, like any other
 * failure; this outlives the connection if that closes first. */
struct deferred_error {
	uv_idle_t idle;
	upconn *u; /* NULL once u is gone */
	int error;
};

struct greq {
	glia_gateway *gw;
	char method[16];
	char path[160]; /* for the access line; cut when longer */
	char peer[64];
	glia_route *route;
	glia_httpd_conn *client;
	upconn *up;
	greq *next; /* queue or free list */
	uv_timer_t timer;
	glia_buf upreq; /* the request's head as sent upstream (and the body
	                 * too when no client holds it: a shadow's copy) */
	/* The body, borrowed from the client's parser, which keeps it until
	 * the client is answered or gone (upstream.c never lets a write of it
	 * outlive either); NULL when upreq holds it. */
	const char *body;
	size_t body_len;
	double start;
	int retries;          /* resent after the replica got it */
	int undelivered;      /* resent after a connect failed */
	int overload_retries; /* resent after an "overloaded" answer */
	glia_backend *avoid;  /* failed this request: not tried again */
	int queued;
	char id[REQUEST_ID_MAX + 1];
	char cors[GLIA_CORS_LINES_MAX]; /* CORS lines for its answer */
};
/* How a request is forwarded: the path the replica sees, and for the
 * inference protocols the method and the X-Glia-* lines that name them. */
typedef struct forward {
	const char *path;   /* "" means "/" */
	const char *method; /* NULL: the client's */
	const char *extra;  /* header lines, or NULL */
} forward;

/* --- gateway.c: requests, queues, answers ------------------------------ */

void gw_route_unref(glia_route *r);
void gw_account(glia_route *r, int status, double start, const char *id,
                const char *why, size_t why_len);
void gw_access_line(glia_route *r, const greq *q, int status, size_t bytes,
                    double took);
void gw_req_release(greq *q);
void gw_req_fail(greq *q, int status, const char *msg);
void gw_id_header(char *out, size_t n, const char *id);
void gw_queue_push(glia_route *r, greq *q);
void gw_queue_push_front(glia_route *r, greq *q);
greq *gw_queue_pop(glia_route *r);
/* Sends queued requests to free backends while both remain. */
void gw_dispatch(glia_route *r);
/* The backend answered q (p holds the complete answer, whose big body
 * the client's connection may take): answers the client, or, when the
 * replica said it is full (a worker's "overloaded"), puts q back at the
 * head of the queue and returns 1. */
int gw_request_answered(greq *q, glia_backend *b, glia_http_parser *p);
/* q's upstream connection failed. delivered: the request may have reached
 * the replica (it was written and the connection then failed before any
 * byte of answer); got_bytes: part of an answer came. b may be NULL (the
 * backend is gone). */
void gw_request_failed(greq *q, glia_backend *b, int delivered, int got_bytes,
                       const char *why);
void gw_respond_json(glia_httpd_conn *c, int status, const char *body,
                     const char *id);
void gw_respond_err(glia_httpd_conn *c, int status, const char *msg,
                    const char *id);
void gw_route_request(glia_gateway *gw, glia_httpd_conn *c,
                      const glia_http_msg *m, glia_route *r, const forward *f,
                      const char *id);
glia_route *gw_route_by_name(glia_gateway *gw, const char *api);
int gw_route_ready(glia_gateway *gw, glia_route *r);
glia_route *gw_split_target_route(glia_gateway *gw, glia_httpd_conn *c,
                                  glia_route *r, const char *id);

/* --- upstream.c: backends and their connections ------------------------ */

/* The least-loaded backend that can take q now (never q->avoid while
 * another can), or NULL. */
glia_backend *gw_pick_backend(glia_route *r, const greq *q);
int gw_has_backend(const glia_route *r);
/* Sends q to b on a pooled connection or a new one. */
void gw_send(greq *q, glia_backend *b);
/* q timed out while on an upstream connection: detach it; the replica's
 * slot stays taken until its late answer arrives. */
void gw_upstream_abandon(greq *q);
/* A request on b is over: frees its slot. */
void gw_backend_done(glia_backend *b);
/* The replica said it is full: cap b at what it holds now for a while. */
void gw_backend_full(glia_backend *b);

/* --- gateway_policy.c: auth, rate limits, CORS (policy.h) -------------- */

/* Runs r's policy on a request: 1 to go on (gw->cors_now then holds the
 * CORS lines for its answer), 0 when it was answered (a preflight, 401,
 * 403, 429). */
int gw_policy_admit(glia_gateway *gw, glia_httpd_conn *c,
                    const glia_http_msg *m, glia_route *r, const char *id);
/* 1 for a header that carried the API key (not passed to replicas). */
int gw_policy_hides_header(const glia_route *r, const glia_http_header *h);
/* r's policy from the spec (networking.auth, rate_limit, cors). */
void gw_policy_apply(glia_route *r, const glia_api_spec *sp);

/* --- gateway_metrics.c, gateway_oip.c ---------------------------------- */

void gw_serve_metrics(glia_gateway *gw, glia_httpd_conn *c, const char *extra);
void gw_handle_v2(glia_gateway *gw, glia_httpd_conn *c, const glia_http_msg *m,
                  const char *id);
void gw_handle_v1(glia_gateway *gw, glia_httpd_conn *c, const glia_http_msg *m,
                  const char *id);

#endif
