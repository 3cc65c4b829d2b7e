/* gateway.h: the HTTP front door. Routes each request by endpoint to one of
 * its API's ready backends (worker processes on Unix sockets) over pooled
 * keep-alive connections, least-loaded first; queues what cannot be placed
 * yet; answers JSON errors; counts what it served.
 *
 * The supervisor owns APIs and processes and tells the gateway which
 * backends exist (glia_backend_new / drain / free). */
#ifndef GLIA_GATEWAY_H
#define GLIA_GATEWAY_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <uv.h>

#include "config.h"
#include "metrics.h"

typedef struct glia_gateway glia_gateway;
typedef struct glia_route glia_route;
typedef struct glia_backend glia_backend;

typedef struct glia_gateway_options {
	const char *host;
	int port;
	size_t max_body_bytes;     /* request bodies; 413 beyond */
	size_t max_response_bytes; /* replica answers; 500 beyond */
	struct glia_logs *access_log; /* NULL: no access lines */
	/* client timeouts and connection cap (httpd.h); NULL: defaults */
	const struct glia_httpd_conn_limits *client_limits;
} glia_gateway_options;

#define GLIA_ROUTE_ERRORS 5 /* the last failed requests kept for `get` */

typedef struct glia_route_error {
	double at; /* wall clock */
	int status;
	char request_id[129];
	char message[200];
} glia_route_error;

/* Prediction monitoring (Cortex's `monitoring`): replicas report each
 * prediction in the header X-Glia-Prediction (percent-encoded). */
enum { GLIA_MONITOR_NONE, GLIA_MONITOR_CLASSIFICATION, GLIA_MONITOR_REGRESSION };
#define GLIA_MAX_CLASSES 64 /* distinct labels kept; the rest count as "other" */

typedef struct glia_class_count {
	char label[64];
	uint64_t count;
} glia_class_count;

typedef struct glia_prediction_stats {
	int type;
	glia_class_count classes[GLIA_MAX_CLASSES + 1]; /* last: "other" */
	size_t n_classes;
	double min, max, sum;
	uint64_t count;
} glia_prediction_stats;

/* Since the route was created. */
typedef struct glia_route_stats {
	uint64_t total, c2xx, c4xx, c5xx;
	double latency_sum_s;
	uint64_t retries;
	uint64_t codes[600];         /* by status code */
	uint64_t rejected_overloaded; /* 503: every replica full */
	uint64_t rejected_unavailable; /* 503: the API failed to start */
	uint64_t rejected_timeout;    /* 504 */
	uint64_t rejected_unauthorized; /* 401/403: no valid API key */
	uint64_t rejected_rate_limited; /* 429: networking.rate_limit, key's */
	glia_histogram duration;      /* whole stay in glia */
	glia_histogram predict;       /* inside the predictor (from replicas) */
	glia_size_histogram batch;    /* server-side batch sizes (replicas) */
	glia_minute minute;           /* durations, per second, last minute */
	glia_route_error errors[GLIA_ROUTE_ERRORS]; /* ring */
	size_t n_errors;              /* ever recorded */
	glia_prediction_stats predictions;
} glia_route_stats;

/* A TrafficSplitter's route: each request goes to one of the named APIs'
 * routes, picked by smooth weighted round robin (exact proportions over
 * every sum-of-weights requests), and a copy to the shadow API if any.
 * Replaces an earlier split; n 0 makes the route a normal one. */
void glia_route_set_split(glia_route *r, const glia_split_target *targets,
			  size_t n);
/* Requests the splitter sent to its i-th API (0 when out of range). */
uint64_t glia_route_split_count(const glia_route *r, size_t i);

/* on: replicas are command servers, which get the inference protocol
 * paths (/v2/..., /v1/models/...) as the client sent them. */
void glia_route_set_passthrough(glia_route *r, int on);
/* GLIA_MONITOR_*: how to count the predictions replicas report. */
void glia_route_set_monitoring(glia_route *r, int type);

/* Appends the Prometheus families the supervisor knows (replicas, desired,
 * restarts, ...) to out; called for every GET /metrics. */
typedef void (*glia_metrics_cb)(void *arg, glia_buf *out);
void glia_gateway_set_metrics_cb(glia_gateway *gw, glia_metrics_cb cb,
				 void *arg);

/* The model-repository extension of the Open Inference Protocol
 * (POST /v2/repository/index, /v2/repository/models/<m>/load|unload):
 * see glia_supervisor_repository. */
typedef json_t *(*glia_repository_cb)(void *arg, const char *action,
				      const char *model, int ready_only,
				      int *status);
void glia_gateway_set_repository_cb(glia_gateway *gw, glia_repository_cb cb,
				    void *arg);

glia_gateway *glia_gateway_new(uv_loop_t *loop,
			       const glia_gateway_options *opt, char *err,
			       size_t errlen);
/* Relay mode, for the front of one replica (`glia worker --api`): every
 * request goes to r with its path and X-Glia-* lines as they came; GET
 * /healthz answers 200 only while r has a ready backend and the gateway
 * is not draining; GET /livez always 200; a request beyond r's capacity
 * (glia_route_configure) is refused with 503 and X-Glia-Overloaded, which
 * a gateway before it takes as "send it elsewhere". */
void glia_gateway_set_relay(glia_gateway *gw, glia_route *r);
/* Relay mode: refuse new requests (503, X-Glia-Overloaded) and fail
 * /healthz, while those in flight finish. */
void glia_gateway_set_draining(glia_gateway *gw, int on);
/* The API keys requests to APIs with networking.auth: api_key must carry
 * (keys.h); NULL refuses them all. k outlives its use by gw. */
struct glia_keyring;
void glia_gateway_set_keyring(glia_gateway *gw, struct glia_keyring *k);
/* Open client connections. */
size_t glia_gateway_connections(const glia_gateway *gw);
/* Stops accepting and closes client connections. Again: nothing. */
void glia_gateway_close(glia_gateway *gw);
/* Frees gw, its recycled requests, its router and the routes nothing else
 * refers to. After glia_gateway_close, once the loop ran until every
 * handle closed (gw's timers among them: uv_walk + uv_run, as the daemon
 * does before it exits). NULL: nothing. */
void glia_gateway_free(glia_gateway *gw);

/* Adds a route for endpoint. NULL when the endpoint is taken. */
glia_route *glia_gateway_add_route(glia_gateway *gw, const char *endpoint,
				   const char *api_name);
/* The route of API api_name (not a TrafficSplitter's), or NULL. */
glia_route *glia_gateway_find_route(glia_gateway *gw, const char *api_name);
/* Removes the route from routing: new requests get 404, queued ones 503
 * with `why`. The route is freed once no request refers to it. */
void glia_gateway_remove_route(glia_gateway *gw, glia_route *r,
			       const char *why);

/* timeout_ms bounds a request's whole stay; max_concurrency is
 * max_replica_concurrency (per ready replica: running + queued). */
void glia_route_configure(glia_route *r, int64_t timeout_ms,
			  int max_concurrency);
/* Everything of spec the route enforces: networking.timeout,
 * max_replica_concurrency, a TrafficSplitter's targets, passthrough for
 * command servers, monitoring, and what GET <endpoint> answers (name,
 * kind, endpoint, predictor type or the splitter's APIs). Used by the
 * supervisor and by `glia gateway` alike. */
void glia_route_apply_spec(glia_route *r, const glia_api_spec *spec);
/* When msg is not NULL, requests that find no ready backend get 503 with
 * msg at once instead of waiting (the API failed to start). */
void glia_route_set_unavailable(glia_route *r, const char *msg);
/* cb(arg) runs when a request is queued and the route has no backend at
 * all (scaled to zero): the owner should start one. */
void glia_route_set_demand_cb(glia_route *r, void (*cb)(void *), void *arg);
/* Number of ready replicas, for the 503 overload bound. */
void glia_route_set_ready_replicas(glia_route *r, int n);
const glia_route_stats *glia_route_get_stats(const glia_route *r);
int glia_route_in_flight(const glia_route *r);
int glia_route_queued(const glia_route *r);

/* A worker process serving at socket_path with `slots` concurrent requests.
 * It takes requests at once. */
glia_backend *glia_backend_new(glia_route *r, const char *socket_path,
			       int slots);
/* A server on 127.0.0.1:port (a `type: command` replica). */
glia_backend *glia_backend_new_tcp(glia_route *r, int port, int slots);
/* A server at addr (IPv4 or IPv6, port set): a replica on another host,
 * found by discovery (discover.h). */
struct sockaddr;
glia_backend *glia_backend_new_addr(glia_route *r,
				    const struct sockaddr *addr, int slots);
/* A backend is down after a connect to it failed (unreachable) or a
 * connection ended (reset, EOF) with a request on it and no answer
 * (suspect): no request goes there until a probe succeeds. Probes (a
 * fresh connect, or a GET of the health path answered 2xx) run with
 * backoff, 100 ms doubling to 2 s (health.h). */
enum { GLIA_BACKEND_UP, GLIA_BACKEND_SUSPECT, GLIA_BACKEND_UNREACHABLE };
typedef struct glia_backend_health {
	int down;          /* GLIA_BACKEND_* */
	double down_s;     /* how long it has been down */
	int probes_failed; /* consecutive, since it went down */
	const char *why;   /* what took it down; "" when up */
} glia_backend_health;
void glia_backend_health_of(const glia_backend *b, glia_backend_health *out);
/* Probes GET path instead of a bare connect (a replica's /healthz, a
 * command server's readiness_path). */
void glia_backend_set_health_path(glia_backend *b, const char *path);
/* Down (either kind). */
int glia_backend_broken(const glia_backend *b);
/* A source still sees the replica (discovery): probe it now. */
void glia_backend_revive(glia_backend *b);
/* "unix", or the address as "10.0.0.5:8080" / "[fd00::1]:8080". */
const char *glia_backend_name(const glia_backend *b);
/* Stops sending new requests; calls done(arg) once nothing is in flight
 * (possibly before returning). */
void glia_backend_drain(glia_backend *b, void (*done)(void *arg), void *arg);
/* The process is gone (or stopped): closes pooled connections; requests in
 * flight that got no byte of answer are retried once elsewhere, others
 * fail with 500. b is freed. */
void glia_backend_free(glia_backend *b);
int glia_backend_in_flight(const glia_backend *b);
/* Answers relayed from b, and how many of them were 5xx. */
void glia_backend_counts(const glia_backend *b, uint64_t *answered,
			 uint64_t *failed);

#endif
