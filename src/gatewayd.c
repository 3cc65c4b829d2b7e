/* gatewayd.c: `glia gateway`. The same gateway as `glia up`'s (routes,
 * queues, retries, TrafficSplitters, the inference protocols, /metrics,
 * access lines), fed by discovery instead of a supervisor: for every
 * RealtimeAPI of FILE a route, and a discoverer that adds and drops its
 * backends; a TrafficSplitter is a route that sends to the others. With
 * no replica an API's requests wait in its queue, up to
 * networking.timeout, for one to appear (scale from zero is the external
 * autoscaler's, which reads glia_in_flight_requests on /metrics).
 * SIGTERM: keep serving until nothing is in flight, at most the longest
 * networking.timeout, then exit 0. Logs go to stdout. */
#include "gatewayd.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "config.h"
#include "discover.h"
#include "gateway.h"
#include "httpd.h"
#include "keys.h"
#include "logs.h"
#include "metrics.h"
#include "project.h"
#include "util.h"

#define DISCOVER_INTERVAL_MS 1000

typedef struct gatewayd_opts {
	glia_serve_args s; /* FILE, --listen, --max-body-size, ... */
	const char *discover;
	const char *api_keys; /* --api-keys FILE (glia keys export) */
} gatewayd_opts;

typedef struct api_entry {
	const glia_api_spec *spec;
	glia_route *route;
	glia_discover *disc; /* NULL for a TrafficSplitter */
} api_entry;

typedef struct gatewayd {
	uv_loop_t *loop;
	glia_gateway *gw;
	glia_logs *logs;
	glia_project project;
	glia_discover_spec dspec;
	api_entry *apis;
	size_t n_apis;
	uv_signal_t sigint, sigterm;
	uv_timer_t drain_timer, flush_timer;
	double drain_deadline;
	int stopping;
	glia_keyring *keys;    /* --api-keys; NULL without */
	const char *keys_path;
	uv_fs_poll_t keys_poll; /* reloads the file when it changes */
} gatewayd;

static const char usage_text[] =
    "usage: glia gateway [FILE|DIR] [--listen HOST:PORT]\n"
    "                    [--discover dns:NAME:PORT|static:API=HOST:PORT,"
    "...]\n"
    "                    [--max-body-size BYTES] [--no-access-log]\n"
    "                    [--client-header-timeout DURATION]\n"
    "                    [--client-body-timeout DURATION]\n"
    "                    [--keepalive-timeout DURATION]\n"
    "                    [--client-send-timeout DURATION] [--max-connections "
    "N]\n"
    "                    [--max-buffered-bytes SIZE] [--api-keys FILE]\n"
    "Routes the APIs of FILE (default: glia.yaml, else cortex.yaml) to "
    "their\n"
    "replicas (`glia worker --api`); --listen defaults to 0.0.0.0:8888 "
    "and\n"
    "--discover to dns:{api}-replicas:8080 ({api}: the API's name).\n"
    "--api-keys: the keys `glia keys export` wrote, for APIs with\n"
    "networking.auth: api_key (reread when the file changes).\n";

static int bad_usage(const char *fmt, const char *arg)
{
	fputs("glia gateway: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("\n", stderr);
	fputs(usage_text, stderr);
	return 2;
}

static int parse_args(int argc, char **argv, gatewayd_opts *o)
{
	char err[300];
	memset(o, 0, sizeof *o);
	strcpy(o->s.host, "0.0.0.0");
	o->s.port = 8888;
	o->s.max_body = 32u << 20;
	o->discover = "dns:{api}-replicas:8080";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(usage_text, stdout);
			exit(0);
		}
		int rc = glia_serve_arg(argc, argv, &i, &o->s, err, sizeof err);
		if (rc == GLIA_ARG_BAD)
			return bad_usage("%s", err);
		if (rc == GLIA_ARG_TAKEN)
			continue;
		if (strcmp(a, "--discover") != 0 && strcmp(a, "--api-keys") != 0)
			return bad_usage("unknown option %s", a);
		if (i + 1 >= argc)
			return bad_usage("%s needs a value", a);
		if (strcmp(a, "--api-keys") == 0)
			o->api_keys = argv[++i];
		else
			o->discover = argv[++i];
	}
	return 0;
}

/* Requests sent to one replica at once: its slots, and as many again to
 * wait in its front (replica.c admits exactly that), so that a replica
 * never idles between one answer and the gateway's next request over the
 * network. */
static int replica_capacity(const glia_api_spec *s)
{
	return 2 * glia_spec_replica_slots(s);
}

/* A route (and a discoverer) for every API; -1 with err filled. */
static int add_routes(gatewayd *g, char *err, size_t errlen)
{
	g->apis = glia_calloc(g->project.n, sizeof *g->apis);
	for (size_t i = 0; i < g->project.n; i++) {
		const glia_api_spec *s = &g->project.specs[i];
		api_entry *e = &g->apis[g->n_apis];
		e->spec = s;
		e->route = glia_gateway_add_route(g->gw, s->networking.endpoint,
		                                  s->name);
		if (!e->route) {
			snprintf(err, errlen,
			         "API %s: endpoint %s is taken by another API",
			         s->name, s->networking.endpoint);
			return -1;
		}
		g->n_apis++;
		glia_route_apply_spec(e->route, s);
		if (glia_spec_is_splitter(s))
			continue;
		/* a Cortex pod: its API container serves pod.port, and
		 * answers at its readiness path (else a connect tells) */
		glia_discover_spec ds = g->dspec;
		json_t *port = json_object_get(s->pod, "port");
		if (ds.kind == GLIA_DISCOVER_DNS && json_is_integer(port))
			ds.port = (int)json_integer_value(port);
		if (s->pod)
			ds.health_path = s->predictor.readiness_path
			                     ? s->predictor.readiness_path
			                     : "";
		e->disc = glia_discover_start(g->loop, &ds, e->route, s->name,
		                              replica_capacity(s),
		                              DISCOVER_INTERVAL_MS);
	}
	return 0;
}

/* glia_discovered_replicas{api}: what discovery sees now. */
static void metrics_cb(void *arg, glia_buf *out)
{
	gatewayd *g = arg;
	glia_metrics_header(out, "glia_discovered_replicas", "gauge",
	                    "Replicas of the API that discovery finds now.");
	glia_buf lab;
	glia_buf_init(&lab, 0);
	for (size_t i = 0; i < g->n_apis; i++) {
		if (!g->apis[i].disc)
			continue;
		glia_buf_reset(&lab);
		glia_buf_puts(&lab, "api=\"");
		glia_metrics_escape(&lab, g->apis[i].spec->name);
		glia_buf_puts(&lab, "\"");
		glia_metrics_sample(out, "glia_discovered_replicas", lab.data,
		                    glia_discover_count(g->apis[i].disc));
	}
	glia_buf_free(&lab);
}

static int busy(const gatewayd *g)
{
	int n = 0;
	for (size_t i = 0; i < g->n_apis; i++)
		n += glia_route_in_flight(g->apis[i].route) +
		     glia_route_queued(g->apis[i].route);
	return n;
}

static void close_walk_cb(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void drain_tick(uv_timer_t *t)
{
	gatewayd *g = t->data;
	int n = busy(g);
	if (n > 0 && glia_now() < g->drain_deadline)
		return;
	if (n > 0)
		glia_log(GLIA_LOG_WARN, "stopping with %d request(s) open", n);
	uv_timer_stop(t);
	for (size_t i = 0; i < g->n_apis; i++)
		if (g->apis[i].disc)
			glia_discover_stop(g->apis[i].disc);
	glia_logs_flush(g->logs);
	glia_gateway_close(g->gw);
	uv_stop(g->loop);
}

static void signal_cb(uv_signal_t *s, int signum)
{
	gatewayd *g = s->data;
	if (g->stopping)
		return;
	g->stopping = 1;
	double longest = 0;
	for (size_t i = 0; i < g->n_apis; i++) {
		double t =
		    (double)g->apis[i].spec->networking.timeout_ms / 1000.0;
		longest = t > longest ? t : longest;
	}
	glia_log(GLIA_LOG_INFO, "stopping: answering requests in flight");
	g->drain_deadline = glia_now() + longest + 1;
	uv_timer_start(&g->drain_timer, drain_tick, 0, 50);
}

static void flush_cb(uv_timer_t *t)
{
	gatewayd *g = t->data;
	glia_logs_flush(g->logs);
}

/* The --api-keys file changed: its keys replace the old ones; a file
 * that cannot be read or parsed leaves them as they were. */
static void keys_changed(uv_fs_poll_t *h, int status, const uv_stat_t *prev,
                         const uv_stat_t *curr)
{
	gatewayd *g = h->data;
	char err[512];
	if (glia_keyring_load_file(g->keys, g->keys_path, glia_now(), err,
	                           sizeof err) < 0)
		glia_log(GLIA_LOG_WARN, "API keys kept as they were: %s", err);
	else
		glia_log(GLIA_LOG_INFO, "API keys reloaded: %zu key(s) from %s",
		         glia_keyring_count(g->keys), g->keys_path);
}

/* --api-keys FILE: loaded now (an error stops the start), then watched. */
static int load_keys(gatewayd *g, const char *path, char *err, size_t errlen)
{
	g->keys = glia_keyring_new();
	g->keys_path = path;
	if (glia_keyring_load_file(g->keys, path, glia_now(), err, errlen) < 0)
		return -1;
	glia_gateway_set_keyring(g->gw, g->keys);
	uv_fs_poll_init(g->loop, &g->keys_poll);
	g->keys_poll.data = g;
	uv_fs_poll_start(&g->keys_poll, keys_changed, path, 1000);
	return 0;
}

/* An API that needs keys with no --api-keys refuses every request. */
static void warn_keyless(const gatewayd *g)
{
	for (size_t i = 0; !g->keys && i < g->project.n; i++)
		if (g->project.specs[i].networking.policy.auth_api_key)
			glia_log(GLIA_LOG_WARN,
			         "API %s has networking.auth: api_key but no "
			         "--api-keys FILE was given: its requests get 401",
			         g->project.specs[i].name);
}

static int start(gatewayd *g, const gatewayd_opts *o, char *err, size_t errlen)
{
	if (glia_discover_parse(o->discover, &g->dspec, err, errlen) < 0)
		return -1;
	if (glia_project_load(o->s.file, 0, &g->project, err, errlen) < 0)
		return -1;
	g->loop = uv_default_loop();
	/* console mode writes no file: the home is never used */
	g->logs = glia_logs_new("/nonexistent");
	glia_logs_set_console(g->logs);
	glia_gateway_options go = {o->s.host,
	                           o->s.port,
	                           o->s.max_body,
	                           0,
	                           o->s.no_access_log ? NULL : g->logs,
	                           &o->s.client};
	g->gw = glia_gateway_new(g->loop, &go, err, errlen);
	if (!g->gw)
		return -1;
	glia_gateway_set_metrics_cb(g->gw, metrics_cb, g);
	if (o->api_keys && load_keys(g, o->api_keys, err, errlen) < 0)
		return -1;
	warn_keyless(g);
	return add_routes(g, err, errlen);
}

int glia_gatewayd_main(int argc, char **argv)
{
	gatewayd_opts o;
	int rc = parse_args(argc, argv, &o);
	if (rc)
		return rc;
	signal(SIGPIPE, SIG_IGN);
	glia_raise_nofile_limit();
	setvbuf(stdout, NULL, _IOLBF, 0);
	gatewayd g;
	memset(&g, 0, sizeof g);
	char err[1024] = "";
	if (start(&g, &o, err, sizeof err) < 0) {
		fprintf(stderr, "glia gateway: %s\n", err);
		rc = 1;
		goto out;
	}
	glia_log(GLIA_LOG_INFO,
	         "glia %s gateway on %s:%d: %zu API(s) of %s, "
	         "replicas from %s",
	         GLIA_VERSION, o.s.host, o.s.port, g.n_apis, g.project.file,
	         o.discover);
	uv_signal_init(g.loop, &g.sigint);
	uv_signal_init(g.loop, &g.sigterm);
	g.sigint.data = g.sigterm.data = &g;
	uv_signal_start(&g.sigint, signal_cb, SIGINT);
	uv_signal_start(&g.sigterm, signal_cb, SIGTERM);
	uv_timer_init(g.loop, &g.drain_timer);
	uv_timer_init(g.loop, &g.flush_timer);
	g.drain_timer.data = g.flush_timer.data = &g;
	uv_timer_start(&g.flush_timer, flush_cb, 200, 200);
	uv_run(g.loop, UV_RUN_DEFAULT);
	uv_walk(g.loop, close_walk_cb, NULL);
	uv_run(g.loop, UV_RUN_DEFAULT);
	/* every handle closed: the memory they lived in can go */
	glia_gateway_free(g.gw);
out:
	if (g.logs)
		glia_logs_free(g.logs);
	free(g.apis);
	glia_keyring_free(g.keys);
	glia_project_free(&g.project);
	glia_discover_spec_free(&g.dspec);
	return rc;
}
