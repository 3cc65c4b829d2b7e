/* replica.c: `glia worker --api NAME --listen HOST:PORT [FILE]`.
 *
 * One replica, run the way `glia up` runs each of its replicas, so that
 * everything local works the same here (Python, C and command predictors,
 * processes and threads, models, batching, restarts): a supervisor starts
 * the API's worker processes on Unix sockets in a private run directory,
 * and a gateway in relay mode (gateway.h) is their front on HOST:PORT.
 * The front forwards the requests a gateway elsewhere sends, unchanged;
 * runs at most the replica's slots (processes x slots per process), lets
 * the rest wait up to max_replica_concurrency, and refuses more with 503
 * + X-Glia-Overloaded, so several gateways can share it; answers GET /healthz
 * (200 once __init__ returned, 503 before and while draining) and /metrics. The
 * replica count is fixed at one: the cluster (Kubernetes and KEDA) scales by
 * running more of these.
 *
 * SIGTERM: /healthz fails and new requests are refused (the gateway sends
 * them elsewhere); those in flight finish, for at most networking.timeout;
 * then the worker processes stop and the program exits 0. Logs (the
 * predictor's lines, events, access lines) go to stdout. */
#include "replica.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "config.h"
#include "gateway.h"
#include "httpd.h"
#include "logs.h"
#include "project.h"
#include "store.h"
#include "supervisor.h"
#include "util.h"

typedef struct replica_opts {
	glia_serve_args s; /* FILE, --listen, --max-body-size, ... */
	const char *api;
	const char *home; /* NULL: a private temporary directory */
	double stop_grace_s;
	double startup_timeout_s;
} replica_opts;

typedef struct replica_host {
	uv_loop_t *loop;
	glia_gateway *gw;
	glia_route *route;
	glia_supervisor *sup;
	glia_logs *logs;
	glia_store *store;
	uv_signal_t sigint, sigterm;
	uv_timer_t drain_timer, flush_timer;
	double drain_deadline;
	int stopping;
} replica_host;

static const char usage_text[] =
    "usage: glia worker --api NAME [--listen HOST:PORT] [FILE|DIR]\n"
    "                   [--home DIR] [--max-body-size BYTES]\n"
    "                   [--stop-grace DURATION] [--startup-timeout "
    "DURATION]\n"
    "                   [--no-access-log] [--client-header-timeout "
    "DURATION]\n"
    "                   [--client-body-timeout DURATION]\n"
    "                   [--keepalive-timeout DURATION]\n"
    "                   [--client-send-timeout DURATION] [--max-connections "
    "N]\n"
    "                   [--max-buffered-bytes SIZE]\n"
    "One replica of API NAME of FILE (default: glia.yaml, else "
    "cortex.yaml),\n"
    "serving the gateway's protocol on HOST:PORT (default "
    "0.0.0.0:8080).\n";

int glia_replica_wanted(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strncmp(argv[i], "--spec", 6) == 0 ||
		    strncmp(argv[i], "--socket", 8) == 0 ||
		    strncmp(argv[i], "--project-dir", 13) == 0)
			return 0;
	return 1;
}

static int bad_usage(const char *fmt, const char *arg)
{
	fputs("glia worker: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("\n", stderr);
	fputs(usage_text, stderr);
	return 2;
}

static int parse_duration_s(const char *v, double *out)
{
	int64_t ms;
	if (glia_parse_duration_ms(v, &ms) < 0)
		return -1;
	*out = (double)ms / 1000.0;
	return 0;
}

static int parse_args(int argc, char **argv, replica_opts *o)
{
	char err[300];
	memset(o, 0, sizeof *o);
	strcpy(o->s.host, "0.0.0.0");
	o->s.port = 8080;
	o->s.max_body = 32u << 20;
	o->stop_grace_s = 10;
	o->startup_timeout_s = 300;
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
		const char *v = i + 1 < argc ? argv[++i] : NULL;
		if (!v)
			return bad_usage("%s needs a value", a);
		if (strcmp(a, "--api") == 0) {
			o->api = v;
		} else if (strcmp(a, "--home") == 0) {
			o->home = v;
		} else if (strcmp(a, "--stop-grace") == 0) {
			if (parse_duration_s(v, &o->stop_grace_s) < 0)
				return bad_usage("--stop-grace takes a "
				                 "duration like 10s, got "
				                 "\"%s\"",
				                 v);
		} else if (strcmp(a, "--startup-timeout") == 0) {
			if (parse_duration_s(v, &o->startup_timeout_s) < 0 ||
			    o->startup_timeout_s < 0.1)
				return bad_usage("--startup-timeout takes a "
				                 "duration like 5m, got "
				                 "\"%s\"",
				                 v);
		} else {
			return bad_usage("unknown option %s", a);
		}
	}
	if (!o->api)
		return bad_usage("%s", "--api NAME is required");
	return 0;
}

/* The spec as one replica runs it: exactly one replica (the cluster
 * scales), running its slots and letting the rest wait, up to
 * max_replica_concurrency (Cortex's per-replica bound; at least twice the
 * slots), beyond which 503 + X-Glia-Overloaded. A gateway sends a replica
 * at most twice its slots, so the room is what keeps gateways that share
 * it fair: a replica that refused everything beyond its slots left a
 * gateway whose request was refused losing every race for the freed slot
 * to the one that sends the moment its answer arrives. */
static void fix_to_one_replica(glia_api_spec *s)
{
	s->autoscaling.min_replicas = 1;
	s->autoscaling.max_replicas = 1;
	s->autoscaling.init_replicas = 1;
	int room = 2 * glia_spec_replica_slots(s);
	if (s->autoscaling.max_replica_concurrency < room)
		s->autoscaling.max_replica_concurrency = room;
}

/* Takes the API out of the project into a one-element array for the
 * supervisor (which frees it). NULL with err filled. */
static glia_api_spec *take_api(glia_project *p, const char *name, char *err,
                               size_t errlen)
{
	glia_api_spec *s = glia_project_api(p, name);
	if (!s) {
		int n =
		    snprintf(err, errlen,
		             "%s has no API named %s; it has:", p->file, name);
		for (size_t i = 0; i < p->n && n > 0 && (size_t)n < errlen; i++)
			n += snprintf(err + n, errlen - (size_t)n, " %s",
			              p->specs[i].name);
		return NULL;
	}
	if (glia_spec_is_splitter(s)) {
		snprintf(err, errlen,
		         "%s is a TrafficSplitter: `glia gateway` serves it; "
		         "run replicas of its APIs",
		         name);
		return NULL;
	}
	glia_api_spec *one = glia_calloc(1, sizeof *one);
	*one = *s;
	memset(s, 0, sizeof *s); /* now owned by one */
	fix_to_one_replica(one);
	return one;
}

static void close_walk_cb(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void finished(void *arg)
{
	replica_host *h = arg;
	glia_logs_flush(h->logs);
	uv_timer_stop(&h->flush_timer);
	uv_timer_stop(&h->drain_timer);
	glia_gateway_close(h->gw);
	uv_stop(h->loop);
}

/* Draining: once nothing is in flight (or networking.timeout passed), the
 * worker processes stop. */
static void drain_tick(uv_timer_t *t)
{
	replica_host *h = t->data;
	int busy = glia_route_in_flight(h->route) + glia_route_queued(h->route);
	if (busy > 0 && glia_now() < h->drain_deadline)
		return;
	uv_timer_stop(t);
	if (busy > 0)
		glia_log(GLIA_LOG_WARN,
		         "stopping with %d request(s) unfinished after "
		         "networking.timeout",
		         busy);
	glia_supervisor_shutdown(h->sup, finished, h);
}

static void signal_cb(uv_signal_t *s, int signum)
{
	replica_host *h = s->data;
	if (h->stopping)
		return;
	h->stopping = 1;
	glia_log(GLIA_LOG_INFO, "draining: finishing requests in flight");
	glia_gateway_set_draining(h->gw, 1);
	h->drain_deadline =
	    glia_now() + glia_supervisor_max_timeout_s(h->sup) + 1;
	uv_timer_start(&h->drain_timer, drain_tick, 0, 50);
}

static void flush_cb(uv_timer_t *t)
{
	replica_host *h = t->data;
	glia_logs_flush(h->logs);
}

static char *exe_path(void)
{
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
	if (n <= 0)
		return glia_strdup("glia");
	buf[n] = '\0';
	return glia_strdup(buf);
}

/* The private home: --home, else a new directory under $TMPDIR, removed
 * at exit (*temp set). */
static char *make_home(const char *flag, int *temp)
{
	*temp = 0;
	if (flag)
		return glia_mkdirs(flag, 0700) == 0 ? realpath(flag, NULL)
		                                    : NULL;
	const char *tmp = getenv("TMPDIR");
	char *tmpl =
	    glia_sprintf("%s/glia-replica-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(tmpl)) {
		free(tmpl);
		return NULL;
	}
	*temp = 1;
	return tmpl;
}

static int start(replica_host *h, const replica_opts *o, const char *home,
                 glia_project *p, char *err, size_t errlen)
{
	glia_api_spec *spec = take_api(p, o->api, err, errlen);
	if (!spec)
		return -1;
	char *db = glia_sprintf("%s/state.db", home);
	h->store = glia_store_open(db, err, errlen);
	free(db);
	if (!h->store) {
		glia_api_specs_free(spec, 1);
		return -1;
	}
	h->loop = uv_default_loop();
	h->logs = glia_logs_new(home);
	glia_logs_set_console(h->logs);
	glia_gateway_options go = {o->s.host,
	                           o->s.port,
	                           o->s.max_body,
	                           0,
	                           o->s.no_access_log ? NULL : h->logs,
	                           &o->s.client};
	h->gw = glia_gateway_new(h->loop, &go, err, errlen);
	if (!h->gw) {
		glia_api_specs_free(spec, 1);
		return -1;
	}
	char *exe = exe_path();
	char *url = glia_sprintf("http://%s:%d", o->s.host, o->s.port);
	glia_supervisor_options so = {home,
	                              exe,
	                              url,
	                              o->stop_grace_s,
	                              3600,
	                              o->s.max_body,
	                              o->startup_timeout_s,
	                              NULL};
	h->sup = glia_supervisor_new(h->loop, h->gw, h->store, h->logs, &so);
	json_t *res = glia_supervisor_deploy(h->sup, spec, 1, p->dir, p->file,
	                                     err, errlen, NULL);
	free(exe);
	free(url);
	if (!res)
		return -1;
	json_decref(res);
	h->route = glia_gateway_find_route(h->gw, o->api);
	glia_gateway_set_relay(h->gw, h->route);
	return 0;
}

static void run(replica_host *h)
{
	uv_signal_init(h->loop, &h->sigint);
	uv_signal_init(h->loop, &h->sigterm);
	h->sigint.data = h->sigterm.data = h;
	uv_signal_start(&h->sigint, signal_cb, SIGINT);
	uv_signal_start(&h->sigterm, signal_cb, SIGTERM);
	uv_timer_init(h->loop, &h->drain_timer);
	uv_timer_init(h->loop, &h->flush_timer);
	h->drain_timer.data = h->flush_timer.data = h;
	uv_timer_start(&h->flush_timer, flush_cb, 200, 200);
	uv_run(h->loop, UV_RUN_DEFAULT);
	uv_walk(h->loop, close_walk_cb, NULL);
	uv_run(h->loop, UV_RUN_DEFAULT);
}

int glia_replica_main(int argc, char **argv)
{
	replica_opts o;
	int rc = parse_args(argc, argv, &o);
	if (rc)
		return rc;
	signal(SIGPIPE, SIG_IGN);
	glia_raise_nofile_limit();
	setvbuf(stdout, NULL, _IOLBF, 0);
	char err[1024] = "";
	glia_project p;
	if (glia_project_load(o.s.file, 1, &p, err, sizeof err) < 0) {
		fprintf(stderr, "glia worker: %s\n", err);
		return 1;
	}
	int temp = 0;
	char *home = make_home(o.home, &temp);
	if (!home) {
		fprintf(stderr,
		        "glia worker: cannot create a home directory: "
		        "%s\n",
		        strerror(errno));
		glia_project_free(&p);
		return 1;
	}
	replica_host h;
	memset(&h, 0, sizeof h);
	rc = 1;
	if (start(&h, &o, home, &p, err, sizeof err) < 0) {
		fprintf(stderr, "glia worker: %s\n", err);
	} else {
		glia_log(GLIA_LOG_INFO, "glia %s: replica of %s on %s:%d (%s)",
		         GLIA_VERSION, o.api, o.s.host, o.s.port, p.file);
		run(&h);
		rc = 0;
	}
	if (h.sup)
		glia_supervisor_free(h.sup);
	if (rc == 0) /* run() closed every handle: the supervisor's routes,
	              * then the gateway they belong to */
		glia_gateway_free(h.gw);
	if (h.logs)
		glia_logs_free(h.logs);
	glia_store_close(h.store);
	if (temp)
		glia_remove_tree(home);
	free(home);
	glia_project_free(&p);
	return rc;
}
