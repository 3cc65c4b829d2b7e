/* supervisor.c: see supervisor.h.
 *
 * An API holds replicas; a replica holds processes_per_replica worker
 * processes ("procs"). Every event (a proc ready, a proc gone, a deploy, a
 * delete) ends in api_reconcile(), which describes what runs to the rollout
 * core (rollout.c: which replicas to start or retire, a pure function) and
 * carries out its plan. Retiring is: stop routing, let the requests in
 * flight finish, SIGTERM, SIGKILL after a grace period. */
#include "supervisor.h"
#include "repository.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "autoscale.h"
#include "cgroup.h"
#include "gpus.h"
#include "health.h"
#include "probe.h"
#include "procfs.h"
#include "rollout.h"
#include "util.h"

#define BACKOFF_FIRST_MS 500
#define BACKOFF_MAX_MS 30000
#define HEALTHY_AFTER_S 10.0 /* ready this long: crash count starts over */

typedef struct glia_api glia_api;
typedef struct replica replica;

enum rstate { R_STARTING, R_READY, R_DRAINING, R_STOPPING, R_BACKOFF };
static const char *rstate_names[] = {"starting", "ready", "draining",
				     "stopping", "backoff"};

typedef struct proc {
	replica *rep;
	int index;
	int pid;
	int alive;   /* process not yet reaped */
	int ready;
	int spawn_seq; /* which start of this proc its pipes belong to */
	int exit_status, term_signal;
	uv_process_t process;
	glia_backend *backend;
	char *socket;
	int port;           /* type command: the server's loopback port */
	uint64_t answered, failed; /* from backends already released */
	glia_probe *probe;  /* readiness attempt in flight */
	int models_resident; /* as its last "models" line said */
	char *cgroup;        /* its cgroup (cgroup.h), NULL: found by /proc */
	char tag[48];        /* GLIA_PROC_TAG: what it starts inherits it */
} proc;

/* One of a proc's output pipes. Allocated per start, so a pipe kept open by
 * a grandchild never blocks the next start. */
enum { PIPE_OUT, PIPE_ERR, PIPE_STATUS };
typedef struct out_pipe {
	uv_pipe_t pipe;
	proc *p;
	int kind;
	int spawn_seq;
	glia_line_buf lines;
} out_pipe;

struct replica {
	glia_api *api;
	replica *next;
	char id[96];
	int generation;
	enum rstate state;
	int leaving;      /* retire when drained/stopped, do not restart */
	int restarts;
	int failures;     /* consecutive, for backoff */
	double created_at, started_at, ready_at;
	char *error;
	int oom; /* killed for compute.mem_limit: error says so, not a start
		    failure */
	int64_t mem_bytes; /* resident, all its processes (compute.mem*) */
	int over_request;  /* mem_bytes is over compute.mem (reported once) */
	int n_procs;
	proc *procs;
	int alive_procs;
	int open_handles;
	int drained_procs;
	uv_timer_t timer;
	uv_timer_t probe_timer; /* readiness probes and the startup limit */
	int log_fd;
};

/* predictor.models: what the workers report on their status pipes
 * (docs/monitoring.md, "Models"). */
typedef struct model_stats {
	uint64_t hits, misses, evictions, loads_ok, loads_failed;
	glia_histogram load_time;
	char *last_failure; /* "<model> <version>: <reason>" */
} model_stats;

struct glia_api {
	glia_supervisor *sup;
	model_stats models;
	json_t *unloaded;   /* model names unloaded through the repository API */
	char *control_file; /* where workers read them (predictor.models) */
	glia_api *next;
	char *name;
	glia_api_spec spec;
	char *spec_json;
	char *hash;
	char *spec_file;
	char *project_dir;
	char *config_path;
	int generation;
	int requested;
	int restarts;
	int oom_kills; /* replicas killed for going over compute.mem_limit */
	int stopping; /* delete or shutdown: retire every replica */
	int force;    /* delete -f: stop replicas without draining */
	int reconciling, reconcile_again;
	int objects; /* replicas not yet freed */
	int deleted;
	double created_at, updated_at;
	char *last_error;
	glia_route *route;
	replica *replicas;
	/* autoscaling */
	double started_at; /* wall clock: deploy or daemon start */
	glia_autoscale_params as_params;
	glia_autoscale_window as_window;
	glia_autoscale_history as_history;
	glia_autoscale_decision as_last;
	double as_last_at; /* 0 before the first tick */
};

struct glia_supervisor {
	uv_loop_t *loop;
	glia_gateway *gw;
	glia_store *store;
	glia_logs *logs;
	glia_supervisor_options opt;
	char *home;
	char *exe;
	char *run_dir;
	char *gateway_url;
	glia_api *apis;
	uv_timer_t sample_timer, tick_timer;
	char **worker_env; /* ours plus GLIA_MAX_BODY_BYTES */
	glia_gpus gpus;    /* compute.gpu: who holds which GPU */
	glia_cgroups *cgroups; /* NULL: replica processes found by /proc */
	unsigned spawns;       /* for GLIA_PROC_TAG */
	void (*shutdown_done)(void *);
	void *shutdown_arg;
	int shutting_down;
	char readbuf[65536];
};

static void api_reconcile(glia_api *a);
static void replica_start(replica *r);
static void api_maybe_free(glia_api *a);

/* ---- small helpers --------------------------------------------------- */

static glia_api *find_api(glia_supervisor *s, const char *name)
{
	for (glia_api *a = s->apis; a; a = a->next)
		if (strcmp(a->name, name) == 0)
			return a;
	return NULL;
}

/* The name of a TrafficSplitter that sends requests to api, or NULL. */
static const char *splitter_using(glia_supervisor *s, const char *api)
{
	for (glia_api *a = s->apis; a; a = a->next) {
		if (a->stopping)
			continue;
		for (size_t i = 0; i < a->spec.n_split; i++)
			if (strcmp(a->spec.split[i].api, api) == 0)
				return a->name;
	}
	return NULL;
}

static uint64_t fnv1a(uint64_t h, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* The spec's identity: its canonical JSON and the predictor file's bytes,
 * so that redeploying an edited predictor.py rolls out new replicas. */
static char *spec_hash(const char *json, const glia_api_spec *spec,
		       const char *project_dir)
{
	uint64_t h = fnv1a(0xcbf29ce484222325ULL, json, strlen(json));
	if (spec->predictor.path) {
		char *path = spec->predictor.path[0] == '/'
				     ? glia_strdup(spec->predictor.path)
				     : glia_sprintf("%s/%s", project_dir,
						    spec->predictor.path);
		size_t len = 0;
		char *data = glia_read_file(path, 64u << 20, &len);
		if (data)
			h = fnv1a(h, data, len);
		free(data);
		free(path);
	}
	return glia_sprintf("%016llx", (unsigned long long)h);
}

static char *spec_to_text(const glia_api_spec *spec)
{
	json_t *j = glia_api_spec_to_json(spec);
	char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	return text;
}

static void random_suffix(char *out, size_t n)
{
	static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
	static uint64_t state;
	if (!state)
		state = (uint64_t)(glia_wall() * 1e6) ^ (uint64_t)getpid();
	for (size_t i = 0; i + 1 < n; i++) {
		state ^= state << 13;
		state ^= state >> 7;
		state ^= state << 17;
		out[i] = alphabet[state % (sizeof alphabet - 1)];
	}
	out[n - 1] = '\0';
}

/* ---- replica bookkeeping ---------------------------------------------- */

static void replica_event(replica *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void replica_event(replica *r, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	glia_logs_event(r->api->sup->logs, r->log_fd, r->api->name, r->id,
			"[glia] %s", msg);
}

static void replica_unlink(replica *r)
{
	glia_api *a = r->api;
	for (replica **pp = &a->replicas; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			return;
		}
	}
}

static void replica_free(replica *r)
{
	r->api->objects--;
	for (int i = 0; i < r->n_procs; i++)
		free(r->procs[i].socket);
	free(r->procs);
	free(r->error);
	if (r->log_fd >= 0)
		close(r->log_fd);
	free(r);
}

/* One of r's libuv handles finished closing; the last one frees r. */
static void replica_handle_gone(replica *r)
{
	if (--r->open_handles > 0)
		return;
	glia_api *a = r->api;
	replica_free(r);
	api_maybe_free(a);
}

static void handle_closed(uv_handle_t *h)
{
	replica_handle_gone(h->data);
}

/* Called once every proc of r is gone and r will not restart. */
static void replica_destroy(replica *r)
{
	glia_api *a = r->api;
	glia_gpus_release(&a->sup->gpus, r);
	replica_unlink(r);
	uv_timer_stop(&r->timer);
	uv_close((uv_handle_t *)&r->timer, handle_closed);
	uv_close((uv_handle_t *)&r->probe_timer, handle_closed);
	api_reconcile(a);
}

static int count_ready_procs(const replica *r)
{
	int n = 0;
	for (int i = 0; i < r->n_procs; i++)
		n += r->procs[i].ready;
	return n;
}

/* sig to p, its process group and what it started that left the group
 * (setsid(), a double fork): by p's cgroup, else by what /proc shows. */
static void proc_signal(const proc *p, int sig)
{
	kill(-p->pid, sig);
	if (p->alive) /* once reaped, its pid may be another's */
		kill(p->pid, sig);
	if (p->cgroup) {
		glia_cgroup_signal(p->cgroup, sig);
		return;
	}
	glia_procfs_owner o = {p->pid, p->tag};
	glia_procfs_member *m;
	size_t n = glia_procfs_members(&o, 1, &m);
	for (size_t i = 0; i < n; i++)
		kill(m[i].pid, sig);
	free(m);
}

static void kill_procs(replica *r, int sig)
{
	for (int i = 0; i < r->n_procs; i++) {
		proc *p = &r->procs[i];
		if (p->alive && p->pid > 0)
			proc_signal(p, sig);
	}
}

/* Frees p's backend, keeping its counters for `glia get API`. */
static void release_backend(proc *p)
{
	if (!p->backend)
		return;
	uint64_t answered, failed;
	glia_backend_counts(p->backend, &answered, &failed);
	p->answered += answered;
	p->failed += failed;
	glia_backend_free(p->backend);
	p->backend = NULL;
}

static void remove_backends(replica *r)
{
	for (int i = 0; i < r->n_procs; i++) {
		proc *p = &r->procs[i];
		release_backend(p);
		p->ready = 0;
	}
}

static void kill_timer_cb(uv_timer_t *t)
{
	replica *r = t->data;
	if (r->alive_procs > 0) {
		replica_event(r, "did not stop within %.0fs; sending SIGKILL",
			      r->api->sup->opt.stop_grace_s);
		kill_procs(r, SIGKILL);
	}
}

/* SIGTERM now, SIGKILL after the grace period. */
static void replica_stop(replica *r)
{
	r->state = R_STOPPING;
	remove_backends(r);
	if (r->alive_procs == 0) {
		replica_destroy(r);
		return;
	}
	kill_procs(r, SIGTERM);
	uint64_t grace = (uint64_t)(r->api->sup->opt.stop_grace_s * 1000);
	uv_timer_start(&r->timer, kill_timer_cb, grace, 0);
}

static void proc_drained(void *arg)
{
	proc *p = arg;
	replica *r = p->rep;
	if (++r->drained_procs < count_ready_procs(r))
		return;
	replica_stop(r);
}

static void drain_timeout_cb(uv_timer_t *t)
{
	replica *r = t->data;
	replica_event(r, "still busy after the request timeout; stopping");
	replica_stop(r);
}

/* Takes r out of service for good: drain what it holds, then stop. */
static void replica_retire(replica *r)
{
	if (r->leaving)
		return;
	r->leaving = 1;
	if (r->state == R_BACKOFF) {
		uv_timer_stop(&r->timer);
		replica_destroy(r);
		return;
	}
	if (r->state != R_READY || count_ready_procs(r) == 0 ||
	    r->api->force) {
		replica_stop(r);
		return;
	}
	r->state = R_DRAINING;
	r->drained_procs = 0;
	replica_event(r, "draining");
	/* What it holds is bounded by the request timeout anyway. */
	uv_timer_start(&r->timer, drain_timeout_cb,
		       (uint64_t)r->api->spec.networking.timeout_ms + 1000, 0);
	int n_ready = count_ready_procs(r);
	for (int i = 0; i < r->n_procs && r->state == R_DRAINING; i++) {
		proc *p = &r->procs[i];
		if (p->backend)
			glia_backend_drain(p->backend, proc_drained, p);
	}
	(void)n_ready;
}

/* ---- process output ------------------------------------------------- */

static void output_line(void *arg, const char *line, size_t len)
{
	proc *p = arg;
	replica *r = p->rep;
	glia_logs_line(r->api->sup->logs, r->log_fd, r->api->name, r->id,
		       line, len);
}

static void proc_became_ready(proc *p)
{
	replica *r = p->rep;
	glia_api *a = r->api;
	if (p->ready || r->state != R_STARTING)
		return;
	p->ready = 1;
	int slots = glia_spec_slots(&a->spec);
	p->backend = p->port > 0
			     ? glia_backend_new_tcp(a->route, p->port, slots)
			     : glia_backend_new(a->route, p->socket, slots);
	if (p->port > 0) /* probed again as at start when it fails */
		glia_backend_set_health_path(p->backend,
					     a->spec.predictor.readiness_path);
	if (count_ready_procs(r) < r->n_procs)
		return;
	r->state = R_READY;
	r->ready_at = glia_now();
	free(r->error);
	r->error = NULL;
	r->oom = 0;
	replica_event(r, "ready after %.2fs", r->ready_at - r->started_at);
	api_reconcile(a);
}

/* "models <hits> <misses> <evictions> <resident>" (deltas, then the
 * current count). */
static void models_line(proc *p, const char *line)
{
	model_stats *m = &p->rep->api->models;
	unsigned long long h, mi, e;
	int resident;
	if (sscanf(line, "models %llu %llu %llu %d", &h, &mi, &e,
		   &resident) != 4)
		return;
	m->hits += h;
	m->misses += mi;
	m->evictions += e;
	p->models_resident = resident >= 0 ? resident : 0;
}

/* "load ok|failed <seconds> <model> <version>[ <reason>]". */
static void load_line(proc *p, const char *line)
{
	model_stats *m = &p->rep->api->models;
	char result[8], model[256], version[32];
	double secs;
	int used = 0;
	if (sscanf(line, "load %7s %lf %255s %31s%n", result, &secs, model,
		   version, &used) != 4)
		return;
	glia_histogram_observe(&m->load_time, secs);
	if (strcmp(result, "ok") == 0) {
		m->loads_ok++;
		return;
	}
	m->loads_failed++;
	const char *reason = line + used;
	while (*reason == ' ')
		reason++;
	free(m->last_failure);
	m->last_failure = glia_sprintf("model %s version %s: %s", model,
				       version, *reason ? reason : "failed");
	replica_event(p->rep, "model %s version %s failed to load", model,
		      version);
}

static void status_line(void *arg, const char *line, size_t len)
{
	proc *p = arg;
	replica *r = p->rep;
	char text[512]; /* the line is not NUL-terminated */
	if (len < sizeof text &&
	    ((len > 7 && memcmp(line, "models ", 7) == 0) ||
	     (len > 5 && memcmp(line, "load ", 5) == 0))) {
		memcpy(text, line, len);
		text[len] = '\0';
		if (text[0] == 'm')
			models_line(p, text);
		else
			load_line(p, text);
	} else if (len == 5 && memcmp(line, "ready", 5) == 0) {
		proc_became_ready(p);
	} else if (len > 6 && memcmp(line, "error ", 6) == 0) {
		free(r->error);
		r->error = glia_strndup(line + 6, len - 6);
		free(r->api->last_error);
		r->api->last_error = glia_strdup(r->error);
	}
}

static void alloc_cb(uv_handle_t *h, size_t s, uv_buf_t *buf)
{
	out_pipe *op = h->data;
	glia_supervisor *sup = op->p->rep->api->sup;
	buf->base = sup->readbuf;
	buf->len = sizeof sup->readbuf;
}

static void pipe_closed(uv_handle_t *h)
{
	out_pipe *op = h->data;
	replica *r = op->p->rep;
	free(op);
	replica_handle_gone(r);
}

/* Status lines from an earlier start of the proc are stale. */
static void status_line_checked(void *arg, const char *line, size_t len)
{
	out_pipe *op = arg;
	if (op->spawn_seq == op->p->spawn_seq)
		status_line(op->p, line, len);
}

static void output_line_of(void *arg, const char *line, size_t len)
{
	out_pipe *op = arg;
	output_line(op->p, line, len);
}

static void pipe_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	out_pipe *op = st->data;
	void (*cb)(void *, const char *, size_t) =
		op->kind == PIPE_STATUS ? status_line_checked : output_line_of;
	if (n > 0) {
		glia_line_buf_feed(&op->lines, buf->base, (size_t)n, cb, op);
		return;
	}
	if (n < 0) {
		glia_line_buf_flush(&op->lines, cb, op);
		uv_close((uv_handle_t *)st, pipe_closed);
	}
}

/* ---- process exit ---------------------------------------------------- */

static void describe_exit(const proc *p, char *out, size_t n)
{
	if (p->term_signal)
		snprintf(out, n, "killed by signal %d (%s)", p->term_signal,
			 strsignal(p->term_signal));
	else
		snprintf(out, n, "exited with status %d", p->exit_status);
}

static void backoff_cb(uv_timer_t *t)
{
	replica *r = t->data;
	r->restarts++;
	r->api->restarts++;
	replica_start(r);
}

/* Every proc of a replica that was not leaving is gone: restart later. */
static void replica_crashed(replica *r)
{
	if (!glia_rollout_restarts(r->api->generation, r->generation)) {
		/* An old version died during a rollout: replaced by a new one,
		 * not restarted. */
		r->leaving = 1;
		replica_destroy(r);
		return;
	}
	int was_healthy = r->ready_at > 0 &&
			  glia_now() - r->ready_at >= HEALTHY_AFTER_S;
	r->failures = was_healthy ? 1 : r->failures + 1;
	int shift = r->failures - 1 < 6 ? r->failures - 1 : 6;
	uint64_t delay = (uint64_t)BACKOFF_FIRST_MS << shift;
	if (delay > BACKOFF_MAX_MS)
		delay = BACKOFF_MAX_MS;
	r->state = R_BACKOFF;
	r->ready_at = 0;
	replica_event(r, "restarting in %.1fs (restart %d)",
		      (double)delay / 1000.0, r->restarts + 1);
	uv_timer_start(&r->timer, backoff_cb, delay, 0);
	api_reconcile(r->api);
}

static void proc_exit_cb(uv_process_t *h, int64_t status, int sig)
{
	proc *p = h->data;
	replica *r = p->rep;
	glia_supervisor *sup = r->api->sup;
	p->alive = 0;
	if (p->probe) {
		glia_probe_cancel(p->probe);
		p->probe = NULL;
	}
	proc_signal(p, SIGKILL); /* whatever it left behind */
	glia_cgroups_release(sup->cgroups, p->cgroup);
	p->cgroup = NULL;
	p->exit_status = (int)status;
	p->term_signal = sig;
	p->models_resident = 0;
	r->alive_procs--;
	glia_store_remove_pid(sup->store, p->pid);
	h->data = r;
	uv_close((uv_handle_t *)h, handle_closed);
	release_backend(p);
	p->ready = 0;

	char how[128];
	describe_exit(p, how, sizeof how);
	if (r->state == R_STARTING && !r->error && !r->leaving) {
		r->error = glia_sprintf("process %s during start-up", how);
		free(r->api->last_error);
		r->api->last_error = glia_strdup(r->error);
	}
	if (r->state == R_STOPPING || r->leaving) {
		if (r->alive_procs == 0) {
			replica_event(r, "stopped (%s)", how);
			if (r->state != R_STOPPING)
				r->state = R_STOPPING;
			replica_destroy(r);
		}
		return;
	}
	if (r->state != R_BACKOFF) {
		/* The first proc to die takes its siblings down with it. */
		if (r->error && !r->oom)
			replica_event(r, "predictor failed to start: %s",
				      r->error);
		replica_event(r, "process %d %s", p->pid, how);
		r->state = R_BACKOFF;
		remove_backends(r);
		kill_procs(r, SIGKILL);
	}
	if (r->alive_procs == 0)
		replica_crashed(r);
	else
		api_reconcile(r->api);
}

/* ---- starting processes -------------------------------------------- */

/* Replaces $GLIA_PORT, ${GLIA_PORT}, $PORT and ${PORT} in arg, and
 * Cortex's $(CORTEX_PORT) (Kubernetes' form), ${CORTEX_PORT} and
 * $CORTEX_PORT. */
static char *expand_port(const char *arg, int port)
{
	static const char *names[] = {"${GLIA_PORT}",	"$GLIA_PORT",
				      "${PORT}",	"$PORT",
				      "$(CORTEX_PORT)", "${CORTEX_PORT}",
				      "$CORTEX_PORT"};
	const size_t n_names = sizeof names / sizeof *names;
	glia_buf b;
	glia_buf_init(&b, 0);
	const char *p = arg;
	while (*p) {
		size_t i, n = 0;
		for (i = 0; i < n_names; i++) {
			n = strlen(names[i]);
			if (strncmp(p, names[i], n) == 0)
				break;
		}
		if (i < n_names) {
			glia_buf_printf(&b, "%d", port);
			p += n;
		} else {
			glia_buf_append(&b, p, 1);
			p++;
		}
	}
	return b.data ? b.data : glia_strdup("");
}

static void free_strv(char **v)
{
	for (char **e = v; e && *e; e++)
		free(*e);
	free(v);
}

/* The strings of a JSON array, each with the port expanded, appended. */
static void append_expanded(char **v, size_t *k, json_t *arr, int port)
{
	size_t i;
	json_t *x;
	json_array_foreach(arr, i, x)
		v[(*k)++] = expand_port(json_string_value(x), port);
}

/* pod: the containers other than the API's, for __exec: `--sidecar
 * NARGS NENV ARGS... NAME=VALUE...` each. */
static void sidecar_args(const glia_api_spec *sp, char **v, size_t *k,
			 int port)
{
	json_t *list = json_object_get(sp->pod, "containers");
	size_t api = glia_pod_api_container(sp->pod), i;
	json_t *ct;
	json_array_foreach(list, i, ct) {
		if (i == api)
			continue;
		json_t *cmd = json_object_get(ct, "command");
		json_t *args = json_object_get(ct, "args");
		json_t *env = json_object_get(ct, "env");
		const char *name;
		json_t *val;
		v[(*k)++] = glia_strdup("--sidecar");
		v[(*k)++] = glia_sprintf("%zu", json_array_size(cmd) +
							json_array_size(args));
		v[(*k)++] = glia_sprintf("%zu", json_object_size(env) + 1);
		append_expanded(v, k, cmd, port);
		append_expanded(v, k, args, port);
		json_object_foreach(env, name, val)
			v[(*k)++] = glia_sprintf("%s=%s", name,
						 json_string_value(val));
		v[(*k)++] = glia_sprintf("CORTEX_PORT=%d", port);
	}
}

/* How many argv entries sidecar_args adds. */
static size_t sidecar_argc(const glia_api_spec *sp)
{
	size_t n = 0, i;
	json_t *ct;
	json_array_foreach(json_object_get(sp->pod, "containers"), i, ct)
		n += 4 + json_array_size(json_object_get(ct, "command")) +
		     json_array_size(json_object_get(ct, "args")) +
		     json_object_size(json_object_get(ct, "env"));
	return n;
}

/* argv of a `type: command` replica: glia's __exec shim (it makes the
 * server die with the daemon), a pod's other containers, then the
 * user's command. */
static char **command_args(glia_api *a, proc *p)
{
	const glia_api_spec *sp = &a->spec;
	char **v = glia_calloc(sp->predictor.n_command + 4 + sidecar_argc(sp),
			       sizeof *v);
	size_t k = 0;
	v[k++] = glia_strdup(a->sup->exe);
	v[k++] = glia_strdup("__exec");
	if (sp->pod)
		sidecar_args(sp, v, &k, p->port);
	v[k++] = glia_strdup("--");
	for (size_t i = 0; i < sp->predictor.n_command; i++)
		v[k++] = expand_port(sp->predictor.command[i], p->port);
	return v;
}

static char **worker_args(glia_api *a, replica *r, proc *p)
{
	const char *fixed[] = {a->sup->exe, "worker",	  "--spec",
			       a->spec_file, "--project-dir", a->project_dir,
			       "--socket",   p->socket,	  "--replica",
			       r->id};
	size_t n = sizeof fixed / sizeof *fixed;
	char **v = glia_calloc(n + 1, sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = glia_strdup(fixed[i]);
	return v;
}

/* Entry "NAME=VALUE" (malloc'd) into v[0..*k), replacing one with its
 * name. */
static void put_env(char **v, size_t *k, char *entry)
{
	size_t n = strcspn(entry, "=") + 1;
	for (size_t i = 0; i < *k; i++)
		if (strncmp(v[i], entry, n) == 0) {
			free(v[i]);
			v[i] = entry;
			return;
		}
	v[(*k)++] = entry;
}

/* The variables Cortex set for predictors that mean something here
 * (docs/cortex.md#environment-variables); predictor.env may replace
 * them. */
static void cortex_env(const glia_api *a, char **v, size_t *k)
{
	const glia_api_spec *sp = &a->spec;
	char *level = glia_strdup(sp->predictor.log_level
					  ? sp->predictor.log_level
					  : "info");
	for (char *c = level; *c; c++)
		*c = (char)toupper((unsigned char)*c);
	put_env(v, k, glia_sprintf("CORTEX_KIND=%s",
				   sp->kind ? sp->kind : "RealtimeAPI"));
	put_env(v, k, glia_sprintf("CORTEX_PROJECT_DIR=%s", a->project_dir));
	put_env(v, k, glia_sprintf("CORTEX_LOG_LEVEL=%s", level));
	put_env(v, k, glia_sprintf("CORTEX_PROCESSES_PER_REPLICA=%d",
				   sp->predictor.processes_per_replica));
	put_env(v, k, glia_sprintf("CORTEX_THREADS_PER_PROCESS=%d",
				   sp->predictor.threads_per_process));
	put_env(v, k, glia_sprintf("CORTEX_MAX_REPLICA_CONCURRENCY=%d",
				   sp->autoscaling.max_replica_concurrency));
	free(level);
}

/* The daemon's environment plus Cortex's variables and, for command
 * servers, predictor.env and the port (workers apply predictor.env
 * themselves). */
static char **spawn_env(glia_api *a, replica *r, proc *p)
{
	const glia_api_spec *sp = &a->spec;
	size_t n = 0;
	while (a->sup->worker_env[n])
		n++;
	char **v = glia_calloc(n + sp->predictor.n_env + 20, sizeof *v);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		v[k++] = glia_strdup(a->sup->worker_env[i]);
	v[k++] = glia_sprintf("GLIA_API=%s", a->name);
	/* who the process must die with (in a container the daemon may be
	 * pid 1, so "reparented to 1" says nothing) */
	v[k++] = glia_sprintf("GLIA_PARENT_PID=%d", (int)getpid());
	if (a->spec.compute.gpu > 0 || a->sup->gpus.n > 0) {
		/* its own GPUs, or none: a replica without compute.gpu does
		 * not see the GPUs others hold */
		char *gpus = glia_gpus_visible(&a->sup->gpus, r);
		v[k++] = glia_sprintf("CUDA_VISIBLE_DEVICES=%s", gpus);
		free(gpus);
	}
	v[k++] = glia_sprintf("GLIA_CACHE_DIR=%s/cache/%s", a->sup->home,
			      a->name);
	if (a->control_file)
		v[k++] = glia_sprintf("GLIA_MODEL_CONTROL=%s",
				      a->control_file);
	v[k++] = glia_sprintf("GLIA_REPLICA_ID=%s", r->id);
	/* how its processes are found, even those that leave its group */
	v[k++] = glia_sprintf("GLIA_PROC_TAG=%s", p->tag);
	if (p->cgroup)
		v[k++] = glia_sprintf("GLIA_CGROUP=%s", p->cgroup);
	cortex_env(a, v, &k);
	if (p->port > 0) {
		for (size_t i = 0; i < sp->predictor.n_env; i++)
			put_env(v, &k,
				glia_sprintf("%s=%s", sp->predictor.env_keys[i],
					     sp->predictor.env_values[i]));
		v[k++] = glia_sprintf("GLIA_PORT=%d", p->port);
		v[k++] = glia_sprintf("PORT=%d", p->port);
		v[k++] = glia_sprintf("CORTEX_PORT=%d", p->port);
	}
	return v;
}

/* p's tag and, where cgroups are used, a fresh cgroup. */
static void proc_track(replica *r, proc *p)
{
	glia_supervisor *s = r->api->sup;
	snprintf(p->tag, sizeof p->tag, "%d.%u", (int)getpid(), ++s->spawns);
	if (!s->cgroups)
		return;
	char name[160];
	snprintf(name, sizeof name, "%s.%d.%d", r->id, p->index,
		 p->spawn_seq);
	p->cgroup = glia_cgroups_new_leaf(s->cgroups, name);
	if (!p->cgroup)
		replica_event(r, "cannot create cgroup %s/%s: %s; its "
				 "processes are found through /proc",
			      glia_cgroups_dir(s->cgroups), name,
			      strerror(errno));
}

/* The child joins its cgroup itself before it runs user code; this covers
 * a child that could not. ESRCH: it is gone already. */
static void proc_join(replica *r, proc *p)
{
	if (!p->cgroup || glia_cgroup_add(p->cgroup, p->pid) == 0 ||
	    errno == ESRCH)
		return;
	replica_event(r, "cannot move process %d into cgroup %s: %s; its "
			 "processes are found through /proc",
		      p->pid, p->cgroup, strerror(errno));
	glia_cgroups_release(r->api->sup->cgroups, p->cgroup);
	p->cgroup = NULL;
}

static int spawn_proc(replica *r, proc *p)
{
	glia_api *a = r->api;
	glia_supervisor *s = a->sup;
	int is_command = a->spec.predictor.type == GLIA_PREDICTOR_COMMAND;
	p->port = is_command ? glia_free_port() : 0;
	p->spawn_seq++;
	proc_track(r, p);
	char **args = is_command ? command_args(a, p) : worker_args(a, r, p);
	char **env = spawn_env(a, r, p);

	out_pipe *pipes[3];
	uv_stdio_container_t stdio[4];
	stdio[0].flags = UV_IGNORE;
	for (int k = 0; k < 3; k++) {
		out_pipe *op = glia_calloc(1, sizeof *op);
		op->p = p;
		op->kind = k;
		op->spawn_seq = p->spawn_seq;
		uv_pipe_init(s->loop, &op->pipe, 0);
		op->pipe.data = op;
		r->open_handles++;
		pipes[k] = op;
		stdio[k + 1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
		stdio[k + 1].data.stream = (uv_stream_t *)&op->pipe;
	}

	uv_process_options_t o;
	memset(&o, 0, sizeof o);
	o.file = s->exe;
	o.args = args;
	o.cwd = a->project_dir;
	o.exit_cb = proc_exit_cb;
	o.flags = UV_PROCESS_DETACHED;
	o.stdio = stdio;
	o.stdio_count = 4;
	o.env = env;
	p->process.data = p;
	int rc = uv_spawn(s->loop, &p->process, &o);
	free_strv(args);
	free_strv(env);
	if (rc < 0) {
		replica_event(r, "cannot start worker: %s", uv_strerror(rc));
		glia_cgroups_release(s->cgroups, p->cgroup);
		p->cgroup = NULL;
		p->process.data = r;
		r->open_handles++;
		uv_close((uv_handle_t *)&p->process, handle_closed);
		for (int k = 0; k < 3; k++)
			uv_close((uv_handle_t *)&pipes[k]->pipe, pipe_closed);
		return -1;
	}
	r->open_handles++;
	p->pid = p->process.pid;
	p->alive = 1;
	r->alive_procs++;
	proc_join(r, p);
	glia_store_add_pid(s->store, p->pid, a->name, r->id,
			   glia_process_start_ticks(p->pid));
	for (int k = 0; k < 3; k++)
		uv_read_start((uv_stream_t *)&pipes[k]->pipe, alloc_cb,
			      pipe_read);
	return 0;
}

static void probe_done(void *arg, int ok)
{
	proc *p = arg;
	p->probe = NULL;
	if (ok && p->alive && p->rep->state == R_STARTING)
		proc_became_ready(p);
}

/* A replica that is not ready within --startup-timeout is failed and
 * restarted like a crashed one. */
static void startup_timed_out(replica *r)
{
	glia_supervisor *s = r->api->sup;
	free(r->error);
	r->error = glia_sprintf("not ready after %.0fs (--startup-timeout)",
				s->opt.startup_timeout_s);
	free(r->api->last_error);
	r->api->last_error = glia_strdup(r->error);
	replica_event(r, "%s; stopping it", r->error);
	r->state = R_BACKOFF;
	remove_backends(r);
	kill_procs(r, SIGKILL);
}

/* While starting: probe command servers every 100 ms, and watch the
 * startup limit for every kind of replica. */
static void probe_tick(uv_timer_t *t)
{
	replica *r = t->data;
	glia_supervisor *s = r->api->sup;
	if (r->state != R_STARTING) {
		uv_timer_stop(t);
		return;
	}
	if (glia_now() - r->started_at > s->opt.startup_timeout_s) {
		uv_timer_stop(t);
		startup_timed_out(r);
		return;
	}
	const char *path = r->api->spec.predictor.readiness_path;
	for (int i = 0; i < r->n_procs; i++) {
		proc *p = &r->procs[i];
		if (p->port > 0 && p->alive && !p->ready && !p->probe)
			p->probe = glia_probe_start(s->loop, p->port, path,
						    1000, probe_done, p);
	}
}

/* compute.gpu: the replica's own GPUs, kept across its restarts. 0, or
 * -1 after reporting that too few are free (it retries with backoff). */
static int replica_take_gpus(replica *r)
{
	glia_gpus *g = &r->api->sup->gpus;
	int want = r->api->spec.compute.gpu;
	if (want <= 0 || glia_gpus_held(g, r) > 0 ||
	    glia_gpus_take(g, r, want) == 0)
		return 0;
	free(r->error);
	r->error = glia_sprintf("needs %d GPU%s (compute.gpu): %zu of %zu "
				"free",
				want, want == 1 ? "" : "s",
				glia_gpus_free_count(g), g->n);
	free(r->api->last_error);
	r->api->last_error = glia_strdup(r->error);
	replica_event(r, "cannot start: %s", r->error);
	r->state = R_BACKOFF;
	replica_crashed(r);
	return -1;
}

static void replica_start(replica *r)
{
	if (replica_take_gpus(r) < 0)
		return;
	r->state = R_STARTING;
	r->started_at = glia_now();
	r->ready_at = 0;
	r->drained_procs = 0;
	r->mem_bytes = 0;
	r->over_request = 0;
	int failed = 0;
	for (int i = 0; i < r->n_procs; i++) {
		proc *p = &r->procs[i];
		p->ready = 0;
		p->exit_status = p->term_signal = 0;
		if (spawn_proc(r, p) < 0)
			failed = 1;
	}
	char pids[256] = "";
	for (int i = 0; i < r->n_procs; i++) {
		size_t len = strlen(pids);
		snprintf(pids + len, sizeof pids - len, "%s%d", i ? "," : "",
			 r->procs[i].pid);
	}
	replica_event(r, "starting (pid %s)", pids);
	uv_timer_start(&r->probe_timer, probe_tick, 100, 100);
	if (failed) {
		r->state = R_BACKOFF;
		kill_procs(r, SIGKILL);
		if (r->alive_procs == 0)
			replica_crashed(r);
	}
}

static replica *replica_new(glia_api *a)
{
	glia_supervisor *s = a->sup;
	replica *r = glia_calloc(1, sizeof *r);
	char sfx[6];
	random_suffix(sfx, sizeof sfx);
	r->api = a;
	a->objects++;
	r->generation = a->generation;
	snprintf(r->id, sizeof r->id, "%s-%.6s-%s", a->name, a->hash, sfx);
	r->created_at = glia_wall();
	r->n_procs = a->spec.predictor.processes_per_replica;
	r->procs = glia_calloc((size_t)r->n_procs, sizeof *r->procs);
	for (int i = 0; i < r->n_procs; i++) {
		r->procs[i].rep = r;
		r->procs[i].index = i;
		r->procs[i].socket = glia_sprintf("%s/%.6s%s-%d.sock",
						  s->run_dir, a->hash, sfx, i);
	}
	uv_timer_init(s->loop, &r->timer);
	uv_timer_init(s->loop, &r->probe_timer);
	r->timer.data = r->probe_timer.data = r;
	r->open_handles = 2;
	r->log_fd = glia_logs_open(s->logs, a->name, r->id);
	r->next = a->replicas;
	a->replicas = r;
	replica_start(r);
	return r;
}

/* ---- reconciling an API ---------------------------------------------- */

static int replica_active(const replica *r)
{
	return !r->leaving;
}

/* A ready replica the gateway sends nothing to: one of its backends is
 * down (a connect failed, or a connection was reset with a request on it)
 * until a probe answers. 1 and the longest-down backend's health in *h. */
static int replica_unreachable(const replica *r, glia_backend_health *h)
{
	int down = 0;
	h->down = GLIA_BACKEND_UP;
	h->down_s = 0;
	h->probes_failed = 0;
	h->why = "";
	if (r->state != R_READY)
		return 0;
	for (int i = 0; i < r->n_procs; i++) {
		glia_backend_health bh;
		if (!r->procs[i].backend)
			continue;
		glia_backend_health_of(r->procs[i].backend, &bh);
		if (bh.down && (!down || bh.down_s > h->down_s))
			*h = bh;
		down |= bh.down != GLIA_BACKEND_UP;
	}
	return down;
}

/* Ready and reachable: counted as ready by glia get. */
static int replica_serving(const replica *r)
{
	glia_backend_health h;
	return r->state == R_READY && !replica_unreachable(r, &h);
}

static void count_replicas(glia_api *a, int *cur, int *cur_ready, int *old,
			   int *ready_total)
{
	*cur = *cur_ready = *old = *ready_total = 0;
	for (replica *r = a->replicas; r; r = r->next) {
		if (replica_serving(r))
			(*ready_total)++;
		if (!replica_active(r))
			continue;
		if (r->generation == a->generation) {
			(*cur)++;
			*cur_ready += replica_serving(r);
		} else {
			(*old)++;
		}
	}
}

static const char *api_status(glia_api *a)
{
	int cur, cur_ready, old, ready;
	count_replicas(a, &cur, &cur_ready, &old, &ready);
	int failing = 0;
	for (replica *r = a->replicas; r; r = r->next)
		if (replica_active(r) && r->generation == a->generation &&
		    r->state != R_READY && r->error)
			failing = 1;
	if (a->stopping)
		return "stopping";
	if (old > 0)
		return failing ? "update failed" : "updating";
	if (cur_ready >= a->requested)
		return "live";
	if (failing && cur_ready == 0)
		return "failed";
	if (cur_ready == 0)
		return "starting";
	return "degraded";
}

static void update_route(glia_api *a)
{
	int cur, cur_ready, old, ready;
	count_replicas(a, &cur, &cur_ready, &old, &ready);
	glia_route_set_ready_replicas(a->route, ready);
	if (strcmp(api_status(a), "failed") == 0 && ready == 0) {
		char msg[700];
		snprintf(msg, sizeof msg, "API %s is not available: %s",
			 a->name, a->last_error ? a->last_error : "failed");
		glia_route_set_unavailable(a->route, msg);
	} else {
		glia_route_set_unavailable(a->route, NULL);
	}
}

static void reconcile_once(glia_api *a);

/* Reconciling can trigger events that reconcile again (a replica with no
 * process left is destroyed at once): those are folded into a loop. */
static void api_reconcile(glia_api *a)
{
	if (a->reconciling) {
		a->reconcile_again = 1;
		return;
	}
	a->reconciling = 1;
	do {
		a->reconcile_again = 0;
		reconcile_once(a);
	} while (a->reconcile_again);
	a->reconciling = 0;
	if (a->stopping)
		api_maybe_free(a);
}

static glia_rollout_state rollout_state(const replica *r)
{
	if (r->leaving)
		return GLIA_ROLLOUT_LEAVING;
	if (r->state == R_READY)
		return GLIA_ROLLOUT_READY;
	if (r->state == R_BACKOFF)
		return GLIA_ROLLOUT_FAILED;
	return GLIA_ROLLOUT_STARTING;
}

/* Describes the replicas to the rollout core (rollout.c) and carries out
 * its plan: retirements in its order, then the new replicas. A retired
 * replica may be unlinked at once (it is freed only when its handles have
 * closed), so the plan's indexes refer to a copy of the list. */
static void reconcile_once(glia_api *a)
{
	size_t n = 0;
	for (replica *r = a->replicas; r; r = r->next)
		n++;
	replica **list = glia_calloc(n + 1, sizeof *list);
	glia_rollout_replica *in = glia_calloc(n + 1, sizeof *in);
	size_t *retire = glia_calloc(n + 1, sizeof *retire);
	size_t i = 0;
	for (replica *r = a->replicas; r; r = r->next, i++) {
		list[i] = r;
		in[i].generation = r->generation;
		in[i].state = rollout_state(r);
		in[i].created_at = r->created_at;
	}
	glia_rollout_params p = {
	    .desired = a->requested,
	    .generation = a->generation,
	    .max_surge = a->spec.update_strategy.max_surge,
	    .max_unavailable = a->spec.update_strategy.max_unavailable,
	    .stopping = a->stopping,
	};
	glia_rollout_plan plan = {.retire = retire};
	glia_rollout_decide(&p, in, n, &plan);
	for (size_t k = 0; k < plan.n_retire; k++)
		replica_retire(list[plan.retire[k]]);
	for (int k = 0; k < plan.start; k++)
		replica_new(a);
	free(list);
	free(in);
	free(retire);
	if (!a->stopping)
		update_route(a);
}

/* ---- APIs -------------------------------------------------------------- */

/* A TrafficSplitter's APIs: [{"name", "weight", "shadow", "requests"
 * (sent there so far)}]. */
static json_t *split_json(const glia_api *a)
{
	json_t *list = json_array();
	for (size_t i = 0; i < a->spec.n_split; i++) {
		const glia_split_target *t = &a->spec.split[i];
		uint64_t n = a->route ? glia_route_split_count(a->route, i) : 0;
		json_array_append_new(
			list, json_pack("{s:s, s:i, s:b, s:I}", "name", t->api,
					"weight", t->weight, "shadow",
					t->shadow, "requests",
					(json_int_t)n));
	}
	return list;
}

static int write_spec_file(glia_api *a)
{
	/* Workers read their spec file when they start; only replicas of the
	 * current version start again, so older files can go. */
	if (a->spec_file)
		unlink(a->spec_file);
	free(a->spec_file);
	a->spec_file = glia_sprintf("%s/%s-%s.json", a->sup->run_dir, a->name,
				    a->hash);
	int fd =
	    open(a->spec_file,
	         O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	int rc = glia_write_all(fd, a->spec_json, strlen(a->spec_json));
	close(fd);
	return rc;
}

/* predictor.models: <run_dir>/ctl-<api>/models.json lists the models
 * unloaded through the OIP repository extension; workers watch it. */
static void write_control_file(glia_api *a)
{
	if (!a->spec.predictor.models.set)
		return;
	if (!a->unloaded) { /* as a daemon before us left it, if it did */
		char *saved = glia_store_get_unloaded(a->sup->store, a->name);
		a->unloaded = saved ? json_loads(saved, 0, NULL) : NULL;
		free(saved);
		if (!json_is_array(a->unloaded)) {
			json_decref(a->unloaded);
			a->unloaded = json_array();
		}
	}
	if (!a->control_file) {
		char *dir = glia_sprintf("%s/ctl-%s", a->sup->run_dir, a->name);
		glia_mkdirs(dir, 0700);
		a->control_file = glia_sprintf("%s/models.json", dir);
		free(dir);
	}
	if (glia_repo_write_control(a->control_file, a->unloaded) < 0)
		glia_log(GLIA_LOG_ERROR, "api %s: cannot write %s: %s",
			 a->name, a->control_file, strerror(errno));
}

/* GLIA_HOME/cache/<api>: the models a deleted API downloaded. */
static void remove_model_cache(glia_api *a)
{
	char *dir = glia_sprintf("%s/cache/%s", a->sup->home, a->name);
	if (glia_remove_tree(dir) < 0)
		glia_log(GLIA_LOG_ERROR, "api %s: cannot remove %s: %s",
			 a->name, dir, strerror(errno));
	free(dir);
}

static void remove_control_file(glia_api *a)
{
	if (!a->control_file)
		return;
	unlink(a->control_file);
	char *slash = strrchr(a->control_file, '/');
	*slash = '\0';
	rmdir(a->control_file);
	free(a->control_file);
	a->control_file = NULL;
}

static void api_configure_route(glia_api *a)
{
	glia_route_apply_spec(a->route, &a->spec);
}

/* (Re)sizes the sample window and recommendation history for the spec;
 * samples already taken are kept when the sizes do not change. */
static void autoscale_setup(glia_api *a)
{
	glia_supervisor *s = a->sup;
	glia_autoscale_params_from_spec(&a->spec, &a->as_params);
	const glia_autoscale_params *p = &a->as_params;
	double longest = p->downscale_stabilization_s > p->upscale_stabilization_s
				 ? p->downscale_stabilization_s
				 : p->upscale_stabilization_s;
	size_t wcap = (size_t)(p->window_s < 86400 ? p->window_s : 86400) + 4;
	size_t hcap = (size_t)(longest / s->opt.autoscale_interval_s) + 4;
	if (hcap > 100000)
		hcap = 100000;
	if (a->as_window.cap != wcap) {
		glia_autoscale_window_free(&a->as_window);
		glia_autoscale_window_init(&a->as_window, wcap);
	}
	if (a->as_history.cap != hcap) {
		glia_autoscale_history_free(&a->as_history);
		glia_autoscale_history_init(&a->as_history, hcap);
	}
}

/* A request arrived for an API with no replica (scaled to zero, or all
 * gone): start one now rather than at the next tick. */
static void api_demand(void *arg)
{
	glia_api *a = arg;
	if (a->stopping || a->requested > 0)
		return;
	a->requested = 1;
	/* Counts as a recommendation, so downscale stabilization keeps the
	 * replica for its period instead of dropping it at the next tick. */
	glia_autoscale_history_add(&a->as_history, glia_wall(), 1);
	glia_log(GLIA_LOG_INFO, "%s: request waiting at zero replicas; "
				"starting one",
		 a->name);
	api_reconcile(a);
}

/* ---- compute.mem and compute.mem_limit -------------------------------- */

/* compute.mem is a request, as it was in Cortex (a Kubernetes memory
 * request): a replica over it is reported (event, log line, the replica's
 * memory_over_request) and keeps serving. compute.mem_limit is the hard
 * limit: a replica over it is killed and restarted, reported out of
 * memory.
 *
 * AddressSanitizer builds (`make asan`, tests only) hold two to three
 * times the memory of a normal build (shadow memory, redzones, the
 * quarantine): both are scaled for them so that specs sized for the
 * real thing behave the same under test. */
#if defined(__SANITIZE_ADDRESS__)
#define MEM_LIMIT_FACTOR 4
#else
#define MEM_LIMIT_FACTOR 1
#endif

static int api_measures_memory(const glia_api *a)
{
	return a->spec.compute.mem_bytes > 0 ||
	       a->spec.compute.mem_limit_bytes > 0;
}

static int replica_has_memory_limit(const replica *r)
{
	return api_measures_memory(r->api) && r->alive_procs > 0 &&
	       r->state != R_STOPPING;
}

static void format_bytes(char *out, size_t n, int64_t b)
{
	if (b >= (int64_t)1 << 30)
		snprintf(out, n, "%.2f GiB", (double)b / (double)(1 << 30));
	else
		snprintf(out, n, "%.1f MiB", (double)b / (double)(1 << 20));
}

/* The replica went over compute.mem_limit: kill every process of it; it
 * restarts with backoff like after a crash, reported as out of memory. */
static void kill_for_memory(replica *r, int64_t used)
{
	char u[32], lim[32];
	glia_api *a = r->api;
	format_bytes(u, sizeof u, used);
	format_bytes(lim, sizeof lim, a->spec.compute.mem_limit_bytes);
	free(r->error);
	r->error = glia_sprintf("out of memory: killed at %s resident, over "
				"compute.mem_limit %s",
				u, lim);
	free(a->last_error);
	a->last_error = glia_strdup(r->error);
	a->oom_kills++;
	r->oom = 1;
	replica_event(r, "%s", r->error);
	glia_log(GLIA_LOG_ERROR, "%s: replica %s %s", a->name, r->id,
		 r->error);
	for (int i = 0; i < r->n_procs; i++)
		if (r->procs[i].alive)
			proc_signal(&r->procs[i], SIGKILL);
}

/* A replica's memory against compute.mem (the request: reported once
 * each time it goes over, never killed) and compute.mem_limit (killed). */
static void check_replica_memory(replica *r, int64_t used)
{
	const glia_api *a = r->api;
	int64_t limit = a->spec.compute.mem_limit_bytes * MEM_LIMIT_FACTOR;
	int64_t request = a->spec.compute.mem_bytes * MEM_LIMIT_FACTOR;
	char u[32], req[32];

	if (limit > 0 && used > limit) {
		kill_for_memory(r, used);
		return;
	}
	if (request <= 0 || (used > request) == r->over_request)
		return;
	r->over_request = used > request;
	format_bytes(u, sizeof u, used);
	format_bytes(req, sizeof req, a->spec.compute.mem_bytes);
	replica_event(r, "memory %s resident, %s compute.mem %s (a request: "
			 "it keeps running)",
		      u, r->over_request ? "over" : "back under", req);
	glia_log(r->over_request ? GLIA_LOG_WARN : GLIA_LOG_INFO,
		 "%s: replica %s holds %s resident, %s compute.mem %s",
		 a->name, r->id, u, r->over_request ? "over" : "back under",
		 req);
}

/* Every second, for APIs with compute.mem or compute.mem_limit: the
 * resident memory of each
 * replica, all its processes and everything they started: by cgroup, else
 * in one pass over /proc for every process without one. */
static void check_memory(glia_supervisor *s)
{
	size_t n = 0, k = 0;
	for (glia_api *a = s->apis; a; a = a->next)
		for (replica *r = a->replicas; r; r = r->next)
			for (int i = 0; replica_has_memory_limit(r) &&
					i < r->n_procs; i++)
				n += !r->procs[i].cgroup;
	glia_procfs_owner *owners = glia_calloc(n + 1, sizeof *owners);
	for (glia_api *a = s->apis; a; a = a->next)
		for (replica *r = a->replicas; r; r = r->next)
			for (int i = 0; replica_has_memory_limit(r) &&
					i < r->n_procs; i++) {
				const proc *p = &r->procs[i];
				if (p->cgroup)
					continue;
				owners[k].pid = p->alive ? p->pid : -1;
				owners[k++].tag = p->tag;
			}
	glia_procfs_member *m = NULL;
	size_t nm = n ? glia_procfs_members(owners, n, &m) : 0;
	int64_t *bytes = glia_calloc(n + 1, sizeof *bytes);
	for (size_t i = 0; i < nm; i++)
		bytes[m[i].owner] += m[i].rss;
	free(m);
	free(owners);
	k = 0;
	for (glia_api *a = s->apis; a; a = a->next)
		for (replica *r = a->replicas; r; r = r->next) {
			if (!replica_has_memory_limit(r))
				continue;
			int64_t used = 0;
			for (int i = 0; i < r->n_procs; i++) {
				const proc *p = &r->procs[i];
				if (!p->cgroup)
					used += bytes[k++];
				else if (p->alive)
					used += glia_cgroup_rss(p->cgroup);
			}
			r->mem_bytes = used;
			check_replica_memory(r, used);
		}
	free(bytes);
}

/* The gateway has not reached r for a while although its processes run
 * (its socket vanished, its server closed its port, it hangs): restart it
 * like a crashed replica (health.h bounds the wait). */
static void restart_unreachable(replica *r, const glia_backend_health *h)
{
	glia_api *a = r->api;
	replica_event(r,
		      "unreachable for %.1fs (%s; %d probes failed); "
		      "restarting it",
		      h->down_s, h->why, h->probes_failed);
	glia_log(GLIA_LOG_WARN,
		 "%s: replica %s unreachable for %.1fs (%s); restarting it",
		 a->name, r->id, h->down_s, h->why);
	r->state = R_BACKOFF;
	remove_backends(r);
	kill_procs(r, SIGKILL);
	if (r->alive_procs == 0)
		replica_crashed(r);
}

/* Every second: ready replicas whose backends stay down. */
static void check_unreachable(glia_supervisor *s)
{
	for (glia_api *a = s->apis; a; a = a->next) {
		if (a->stopping)
			continue;
		for (replica *r = a->replicas; r; r = r->next) {
			glia_backend_health h;
			if (!r->leaving && replica_unreachable(r, &h) &&
			    glia_unreachable_restart(h.probes_failed,
						     h.down_s)) {
				/* the list may change: one per API a tick */
				restart_unreachable(r, &h);
				break;
			}
		}
	}
}

/* Every second: in-flight (running + queued) of each API, memory, and
 * replicas the gateway cannot reach. */
static void sample_cb(uv_timer_t *t)
{
	glia_supervisor *s = t->data;
	double now = glia_wall();
	check_memory(s);
	glia_cgroups_sweep(s->cgroups);
	check_unreachable(s);
	for (glia_api *a = s->apis; a; a = a->next) {
		if (a->stopping || !a->route)
			continue;
		double v = glia_route_in_flight(a->route) +
			   glia_route_queued(a->route);
		glia_autoscale_window_add(&a->as_window, now, v);
	}
}

static void autoscale_api(glia_api *a, double now)
{
	const glia_autoscale_params *p = &a->as_params;
	double avg = glia_autoscale_window_mean(&a->as_window, now,
						p->window_s);
	glia_autoscale_decision d;
	glia_autoscale_recommend(p, a->requested, avg, now, a->started_at,
				 &a->as_history, &d);
	a->as_last = d;
	a->as_last_at = now;
	if (d.replicas == a->requested)
		return;
	glia_log(GLIA_LOG_INFO, "%s: %d -> %d replicas (%s)", a->name,
		 a->requested, d.replicas, d.reason);
	a->requested = d.replicas;
	api_reconcile(a);
}

static void tick_cb(uv_timer_t *t)
{
	glia_supervisor *s = t->data;
	double now = glia_wall();
	glia_api *a = s->apis;
	while (a) {
		glia_api *next = a->next;
		if (!a->stopping && !glia_spec_is_splitter(&a->spec))
			autoscale_api(a, now);
		a = next;
	}
}

static int clamp_requested(const glia_api_spec *spec, int n)
{
	if (glia_spec_is_splitter(spec))
		return 0; /* a TrafficSplitter has no replicas of its own */
	if (n < spec->autoscaling.min_replicas)
		n = spec->autoscaling.min_replicas;
	if (n > spec->autoscaling.max_replicas)
		n = spec->autoscaling.max_replicas;
	return n;
}

static void api_free(glia_api *a)
{
	free(a->name);
	glia_api_spec_free(&a->spec);
	free(a->spec_json);
	free(a->hash);
	if (a->spec_file)
		unlink(a->spec_file);
	free(a->spec_file);
	free(a->project_dir);
	free(a->config_path);
	free(a->last_error);
	free(a->models.last_failure);
	remove_control_file(a);
	json_decref(a->unloaded);
	glia_autoscale_window_free(&a->as_window);
	glia_autoscale_history_free(&a->as_history);
	free(a);
}

static void maybe_shutdown_done(glia_supervisor *s)
{
	if (!s->shutting_down || s->apis || !s->shutdown_done)
		return;
	void (*cb)(void *) = s->shutdown_done;
	s->shutdown_done = NULL;
	cb(s->shutdown_arg);
}

static void api_maybe_free(glia_api *a)
{
	if (!a->stopping || a->replicas || a->objects || a->reconciling)
		return;
	glia_supervisor *s = a->sup;
	for (glia_api **pp = &s->apis; *pp; pp = &(*pp)->next) {
		if (*pp == a) {
			*pp = a->next;
			break;
		}
	}
	if (a->route)
		glia_gateway_remove_route(s->gw, a->route,
					  "the daemon is shutting down");
	if (a->deleted) {
		glia_logs_end_follow(s->logs, a->name);
		glia_logs_remove(s->logs, a->name);
		remove_model_cache(a);
	}
	api_free(a);
	maybe_shutdown_done(s);
}

/* Creates the API object and its route; takes spec. NULL when the endpoint
 * is taken. */
static glia_api *api_create(glia_supervisor *s, glia_api_spec *spec,
			    char *json, char *hash, const char *project_dir,
			    const char *config_path)
{
	glia_route *route = glia_gateway_add_route(
		s->gw, spec->networking.endpoint, spec->name);
	if (!route)
		return NULL;
	glia_api *a = glia_calloc(1, sizeof *a);
	a->sup = s;
	a->name = glia_strdup(spec->name);
	a->spec = *spec;
	a->spec_json = json;
	a->hash = hash;
	a->project_dir = glia_strdup(project_dir);
	a->config_path = glia_strdup(config_path);
	a->route = route;
	a->generation = 1;
	a->requested = clamp_requested(spec, spec->autoscaling.init_replicas);
	a->created_at = a->updated_at = glia_wall();
	a->started_at = a->created_at;
	autoscale_setup(a);
	write_spec_file(a);
	write_control_file(a);
	api_configure_route(a);
	glia_route_set_demand_cb(route, api_demand, a);
	a->next = s->apis;
	s->apis = a;
	return a;
}

/* Replaces the spec of a running API and rolls out a new generation. */
static void api_update(glia_api *a, glia_api_spec *spec, char *json,
		       char *hash, const char *project_dir,
		       const char *config_path)
{
	glia_api_spec_free(&a->spec);
	a->spec = *spec;
	free(a->spec_json);
	a->spec_json = json;
	free(a->hash);
	a->hash = hash;
	free(a->project_dir);
	a->project_dir = glia_strdup(project_dir);
	free(a->config_path);
	a->config_path = glia_strdup(config_path);
	a->generation++;
	a->updated_at = glia_wall();
	a->requested = clamp_requested(spec, a->requested);
	autoscale_setup(a);
	free(a->last_error);
	a->last_error = NULL;
	write_spec_file(a);
	write_control_file(a);
	api_configure_route(a);
	api_reconcile(a);
}

/* The kind an API will have after this deploy: "" when it will not exist. */
static const char *kind_after(glia_supervisor *s, const glia_api_spec *specs,
			      size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(specs[i].name, name) == 0)
			return specs[i].kind;
	glia_api *a = find_api(s, name);
	return a && !a->stopping ? a->spec.kind : "";
}

/* A TrafficSplitter sends to RealtimeAPIs that exist (already, or in the
 * same file); an API a splitter uses stays a RealtimeAPI. */
static int split_problem(glia_supervisor *s, glia_api_spec *specs, size_t n,
			 char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < specs[i].n_split; k++) {
			const char *api = specs[i].split[k].api;
			const char *kind = kind_after(s, specs, n, api);
			if (strcmp(kind, "RealtimeAPI") == 0)
				continue;
			if (*kind)
				snprintf(err, errlen,
					 "TrafficSplitter %s: API %s is a %s, "
					 "not a RealtimeAPI",
					 specs[i].name, api, kind);
			else
				snprintf(err, errlen,
					 "TrafficSplitter %s: API %s is not "
					 "deployed (deploy it first, or in the "
					 "same file)",
					 specs[i].name, api);
			return 1;
		}
		if (glia_spec_is_splitter(&specs[i]))
			continue;
		const char *user = splitter_using(s, specs[i].name);
		if (user && strcmp(kind_after(s, specs, n, user),
				   "TrafficSplitter") == 0 &&
		    strcmp(specs[i].kind, "RealtimeAPI") != 0) {
			snprintf(err, errlen,
				 "API %s is used by TrafficSplitter %s and "
				 "must stay a RealtimeAPI",
				 specs[i].name, user);
			return 1;
		}
	}
	return 0;
}

/* 1 when a pod container's program can run here: a path (absolute, or
 * relative to the project directory, where it runs) to an executable, or
 * a name found in PATH, as execvp looks it up. */
static int program_exists(const char *prog, const char *project_dir)
{
	if (strchr(prog, '/')) {
		if (prog[0] == '/')
			return access(prog, X_OK) == 0;
		char *path = glia_sprintf("%s/%s", project_dir, prog);
		int ok = access(path, X_OK) == 0;
		free(path);
		return ok;
	}
	const char *env = getenv("PATH");
	char *dirs = glia_strdup(env && *env ? env : "/usr/bin:/bin");
	int ok = 0;
	for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d && !ok;
	     d = strtok_r(NULL, ":", &save)) {
		char *path = glia_sprintf("%s/%s", d, prog);
		struct stat st;
		ok = stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
		     access(path, X_OK) == 0;
		free(path);
	}
	free(dirs);
	return ok;
}

/* pod: every container runs here only through its command (no images on
 * the local backend): one without a command, or whose program is not on
 * this machine, refuses the deploy, naming it. */
static int pod_problem(glia_api_spec *specs, size_t n, const char *project_dir,
		       char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		json_t *list = json_object_get(specs[i].pod, "containers");
		size_t j;
		json_t *ct;
		json_array_foreach(list, j, ct) {
			const char *name =
				json_string_value(json_object_get(ct, "name"));
			const char *image =
				json_string_value(json_object_get(ct, "image"));
			json_t *cmd = json_object_get(ct, "command");
			const char *prog =
				json_string_value(json_array_get(cmd, 0));
			if (prog && program_exists(prog, project_dir))
				continue;
			if (!prog)
				snprintf(err, errlen,
					 "API %s: pod.containers[%zu] (%s) has "
					 "no command: its image %s's "
					 "entrypoint runs only in a cluster "
					 "(glia render k8s); give command: "
					 "[...] to run it on this machine",
					 specs[i].name, j, name, image);
			else
				snprintf(err, errlen,
					 "API %s: pod.containers[%zu] (%s) "
					 "runs %s, which is not on this "
					 "machine (%s); the local backend runs "
					 "a pod's containers only when their "
					 "commands exist here: install it, or "
					 "run the image %s in a cluster (glia "
					 "render k8s)",
					 specs[i].name, j, name, prog,
					 strchr(prog, '/')
						 ? "no such executable file"
						 : "not found in PATH",
					 image);
			return 1;
		}
	}
	return 0;
}

/* A deploy never turns an API into another kind (a RealtimeAPI named like
 * a running TrafficSplitter, or the other way round): refused, as Cortex
 * did, so that a name clash does not replace an API by surprise. */
static int kind_clash(glia_supervisor *s, glia_api_spec *specs, size_t n,
		      char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		glia_api *a = find_api(s, specs[i].name);
		if (!a || a->stopping ||
		    strcmp(a->spec.kind, specs[i].kind) == 0)
			continue;
		snprintf(err, errlen,
			 "API %s is a %s; it cannot be redeployed as a %s "
			 "(delete it first with `glia delete %s`, or choose "
			 "another name)",
			 specs[i].name, a->spec.kind, specs[i].kind,
			 specs[i].name);
		return 1;
	}
	return 0;
}

static int endpoint_conflict(glia_supervisor *s, glia_api_spec *specs,
			     size_t n, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		const char *ep = specs[i].networking.endpoint;
		for (size_t j = 0; j < i; j++) {
			if (strcmp(ep, specs[j].networking.endpoint) == 0) {
				snprintf(err, errlen,
					 "APIs %s and %s both use endpoint %s",
					 specs[j].name, specs[i].name, ep);
				return 1;
			}
		}
		for (glia_api *a = s->apis; a; a = a->next) {
			if (strcmp(a->name, specs[i].name) != 0 &&
			    strcmp(a->spec.networking.endpoint, ep) == 0) {
				snprintf(err, errlen,
					 "endpoint %s of API %s is already "
					 "used by API %s",
					 ep, specs[i].name, a->name);
				return 1;
			}
			if (strcmp(a->name, specs[i].name) == 0 && a->stopping) {
				snprintf(err, errlen,
					 "API %s is still being deleted; try "
					 "again in a moment",
					 a->name);
				return 1;
			}
		}
	}
	return 0;
}

/* err for a change state.db did not take (nothing was applied): 507 when
 * the disk is full, 500 otherwise. */
static int save_failed(glia_supervisor *s, char *err, size_t errlen)
{
	int full = 0;
	const char *why = glia_store_error(s->store, &full);
	snprintf(err, errlen,
	         "cannot save the change in %s: %s; nothing was changed%s",
	         glia_store_path(s->store), why,
	         full ? " (free space on the disk that holds GLIA_HOME, then "
	                "try again)"
	              : "");
	return full ? 507 : 500;
}

/* One API of a deploy, worked out before anything changes. */
typedef struct deploy_plan {
	glia_api_spec *spec;
	glia_api *api; /* the running API it changes; NULL: a new one */
	char *json, *hash;
	const char *result; /* "created", "updated" or "unchanged" */
} deploy_plan;

static void plan_one(glia_supervisor *s, glia_api_spec *spec,
		     const char *project_dir, deploy_plan *p)
{
	p->spec = spec;
	p->json = spec_to_text(spec);
	p->hash = spec_hash(p->json, spec, project_dir);
	p->api = find_api(s, spec->name);
	p->result = !p->api                          ? "created"
		    : strcmp(p->api->hash, p->hash) == 0 ? "unchanged"
		                                         : "updated";
}

static void plan_free(deploy_plan *p)
{
	free(p->json);
	free(p->hash);
	glia_api_spec_free(p->spec);
}

/* Saves every change of the deploy in one transaction, before any is
 * applied, so that what is acknowledged is what a restart brings back.
 * 0 or -1. */
static int save_plans(glia_supervisor *s, const deploy_plan *plans, size_t n,
		      const char *project_dir, const char *config_path,
		      double now)
{
	glia_stored_api *rows = glia_calloc(n ? n : 1, sizeof *rows);
	const char **actions = glia_calloc(n ? n : 1, sizeof *actions);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		const deploy_plan *p = &plans[i];
		if (strcmp(p->result, "unchanged") == 0)
			continue;
		glia_stored_api row = {p->spec->name, p->json, p->hash,
				       (char *)project_dir, (char *)config_path,
				       p->api ? p->api->created_at : now, now};
		rows[k] = row;
		actions[k++] = p->result;
	}
	int rc = k ? glia_store_put_apis(s->store, rows, actions, k) : 0;
	free(rows);
	free(actions);
	return rc;
}

/* Applies one saved change to the running state; takes the plan. */
static const char *apply_one(glia_supervisor *s, deploy_plan *p,
			     const char *project_dir,
			     const char *config_path, double now)
{
	glia_api *a = p->api;
	if (strcmp(p->result, "unchanged") == 0) {
		plan_free(p);
		return "unchanged";
	}
	if (a) {
		int moved = strcmp(a->spec.networking.endpoint,
				   p->spec->networking.endpoint) != 0;
		if (moved) {
			/* A new endpoint: the old route retires with the old
			 * replicas; new ones attach to the new route. */
			glia_gateway_remove_route(s->gw, a->route,
						  "the API moved to another "
						  "endpoint");
			a->route = glia_gateway_add_route(
				s->gw, p->spec->networking.endpoint,
				p->spec->name);
			glia_route_set_demand_cb(a->route, api_demand, a);
			for (replica *r = a->replicas; r; r = r->next)
				replica_retire(r);
		}
		api_update(a, p->spec, p->json, p->hash, project_dir,
			   config_path);
		a->updated_at = now;
		return "updated";
	}
	a = api_create(s, p->spec, p->json, p->hash, project_dir, config_path);
	if (!a) { /* checked before; kept for safety */
		glia_store_delete_api(s->store, p->spec->name);
		plan_free(p);
		return "failed: endpoint taken";
	}
	a->created_at = a->updated_at = now;
	api_reconcile(a);
	return "created";
}

json_t *glia_supervisor_deploy(glia_supervisor *s, glia_api_spec *specs,
			       size_t n, const char *project_dir,
			       const char *config_path, char *err,
			       size_t errlen, int *status)
{
	int st = 409;
	json_t *out = NULL;
	deploy_plan *plans = NULL;
	if (s->shutting_down) {
		snprintf(err, errlen, "the daemon is shutting down");
		goto refused;
	}
	if (kind_clash(s, specs, n, err, errlen) ||
	    endpoint_conflict(s, specs, n, err, errlen) ||
	    split_problem(s, specs, n, err, errlen))
		goto refused;
	if (pod_problem(specs, n, project_dir, err, errlen)) {
		st = 400;
		goto refused;
	}
	plans = glia_calloc(n ? n : 1, sizeof *plans);
	for (size_t i = 0; i < n; i++)
		plan_one(s, &specs[i], project_dir, &plans[i]);
	double now = glia_wall();
	if (save_plans(s, plans, n, project_dir, config_path, now) < 0) {
		st = save_failed(s, err, errlen);
		for (size_t i = 0; i < n; i++)
			plan_free(&plans[i]);
		free(specs);
		goto done;
	}
	json_t *list = json_array();
	for (size_t i = 0; i < n; i++) {
		char *name = glia_strdup(specs[i].name);
		char *endpoint = glia_strdup(specs[i].networking.endpoint);
		const char *result =
			apply_one(s, &plans[i], project_dir, config_path, now);
		json_array_append_new(list,
				      json_pack("{s:s, s:s, s:s}", "name", name,
						"result", result, "endpoint",
						endpoint));
		glia_log(GLIA_LOG_INFO, "deploy %s: %s", name, result);
		free(name);
		free(endpoint);
	}
	free(specs);
	out = json_pack("{s:o}", "apis", list);
	st = 200;
	goto done;
refused:
	glia_api_specs_free(specs, n);
done:
	free(plans);
	if (status)
		*status = st;
	return out;
}

int glia_supervisor_has_api(glia_supervisor *s, const char *name)
{
	glia_api *a = find_api(s, name);
	return a && !a->stopping;
}

int glia_supervisor_delete(glia_supervisor *s, const char *name, int force)
{
	glia_api *a = find_api(s, name);
	if (!a || a->stopping)
		return -1;
	if (splitter_using(s, name))
		return -2;
	if (glia_store_delete_api(s->store, name) < 0)
		return -3;
	a->stopping = 1;
	a->deleted = 1;
	a->force = force;
	/* New requests get 404 at once; queued ones 503. */
	glia_gateway_remove_route(s->gw, a->route, "the API was deleted");
	a->route = NULL;
	glia_log(GLIA_LOG_INFO, "delete %s", name);
	api_reconcile(a);
	return 0;
}

int glia_supervisor_save_error(glia_supervisor *s, char *err, size_t errlen)
{
	return save_failed(s, err, errlen);
}

int glia_supervisor_refresh(glia_supervisor *s, const char *name)
{
	glia_api *a = find_api(s, name);
	if (!a || a->stopping)
		return -1;
	a->generation++;
	a->updated_at = glia_wall();
	api_reconcile(a);
	return 0;
}

/* ---- reporting -------------------------------------------------------- */

static json_t *autoscaler_json(glia_api *a)
{
	if (a->as_last_at == 0)
		return json_null();
	const glia_autoscale_decision *d = &a->as_last;
	return json_pack("{s:i, s:i, s:s, s:f, s:f, s:f, s:o}", "recommended",
			 d->recommended, "replicas", d->replicas, "reason",
			 d->reason, "avg_in_flight", d->avg, "raw", d->raw,
			 "at", a->as_last_at, "held_until",
			 d->held_until > 0 ? json_real(d->held_until)
					   : json_null());
}

/* Requests/s, mean and p99 latency over the last minute. */
static json_t *last_minute_json(glia_api *a)
{
	glia_histogram h;
	memset(&h, 0, sizeof h);
	if (a->route)
		glia_minute_total(&glia_route_get_stats(a->route)->minute,
				  (int64_t)glia_now(), &h);
	double avg = h.count ? h.sum / (double)h.count : 0;
	/* A younger route has not had a whole minute yet. */
	double span = glia_wall() - a->started_at;
	if (span > GLIA_WINDOW_SECONDS || span < 1)
		span = span < 1 ? 1 : GLIA_WINDOW_SECONDS;
	return json_pack("{s:f, s:f, s:f, s:I}", "rps",
			 (double)h.count / span, "avg_latency_ms",
			 avg * 1000, "p99_latency_ms",
			 glia_histogram_quantile(&h, 0.99) * 1000, "requests",
			 (json_int_t)h.count);
}

/* Counted predictions of a monitored API; NULL when monitoring is off. */
static json_t *predictions_json(glia_api *a)
{
	if (!a->route)
		return NULL;
	const glia_prediction_stats *ps =
		&glia_route_get_stats(a->route)->predictions;
	if (ps->type == GLIA_MONITOR_CLASSIFICATION) {
		json_t *classes = json_object();
		for (size_t i = 0; i <= GLIA_MAX_CLASSES; i++)
			if ((i < ps->n_classes || i == GLIA_MAX_CLASSES) &&
			    ps->classes[i].count)
				json_object_set_new(
					classes, ps->classes[i].label,
					json_integer((json_int_t)ps->classes[i]
							     .count));
		return json_pack("{s:s, s:o}", "model_type", "classification",
				 "classes", classes);
	}
	if (ps->type == GLIA_MONITOR_REGRESSION)
		return json_pack("{s:s, s:I, s:f, s:f, s:f}", "model_type",
				 "regression", "count", (json_int_t)ps->count,
				 "min", ps->count ? ps->min : 0.0, "max",
				 ps->count ? ps->max : 0.0, "avg",
				 ps->count ? ps->sum / (double)ps->count : 0.0);
	return NULL;
}

static json_t *errors_json(glia_api *a)
{
	json_t *list = json_array();
	if (!a->route)
		return list;
	const glia_route_stats *st = glia_route_get_stats(a->route);
	size_t n = st->n_errors < GLIA_ROUTE_ERRORS ? st->n_errors
						     : GLIA_ROUTE_ERRORS;
	for (size_t i = 0; i < n; i++) { /* newest first */
		const glia_route_error *e =
			&st->errors[(st->n_errors - 1 - i) % GLIA_ROUTE_ERRORS];
		json_array_append_new(
			list, json_pack("{s:f, s:i, s:s, s:s}", "at", e->at,
					"status", e->status, "request_id",
					e->request_id, "error", e->message));
	}
	return list;
}

static json_t *api_summary(glia_api *a)
{
	glia_supervisor *s = a->sup;
	int cur, cur_ready, old, ready;
	count_replicas(a, &cur, &cur_ready, &old, &ready);
	int failed = 0, unreachable = 0;
	for (replica *r = a->replicas; r; r = r->next) {
		glia_backend_health h;
		failed += replica_active(r) && r->state == R_BACKOFF;
		unreachable += replica_active(r) && replica_unreachable(r, &h);
	}
	glia_route_stats st = {0};
	if (a->route)
		st = *glia_route_get_stats(a->route);
	double avg_ms = st.total ? st.latency_sum_s * 1000.0 / (double)st.total
				 : 0.0;
	char *url = glia_sprintf("%s%s", s->gateway_url,
				 a->spec.networking.endpoint);
	json_t *j = json_pack(
		"{s:s, s:s, s:s, s:s, s:s, s:{s:i, s:i, s:i, s:i}, s:i, s:o,"
		" s:{s:I, s:I, s:I, s:I}, s:f, s:f, s:f, s:i, s:i}",
		"name", a->name, "kind", a->spec.kind, "status", api_status(a),
		"endpoint", a->spec.networking.endpoint, "url", url,
		"replicas", "requested", a->requested, "ready", ready,
		"up_to_date", cur_ready, "failed", failed, "restarts",
		a->restarts, "error",
		a->last_error && cur_ready < a->requested
			? json_string(a->last_error)
			: json_null(),
		"requests", "total", (json_int_t)st.total, "2xx",
		(json_int_t)st.c2xx, "4xx", (json_int_t)st.c4xx, "5xx",
		(json_int_t)st.c5xx, "avg_latency_ms", avg_ms, "created_at",
		a->created_at, "last_update", a->updated_at, "in_flight",
		a->route ? glia_route_in_flight(a->route) : 0, "queued",
		a->route ? glia_route_queued(a->route) : 0);
	free(url);
	json_object_set_new(json_object_get(j, "replicas"), "unreachable",
			    json_integer(unreachable));
	json_object_set_new(j, "autoscaler", autoscaler_json(a));
	json_object_set_new(j, "last_minute", last_minute_json(a));
	return j;
}

static json_t *replica_json(replica *r)
{
	json_t *pids = json_array();
	int in_flight = 0;
	uint64_t answered = 0, failed = 0;
	for (int i = 0; i < r->n_procs; i++) {
		proc *p = &r->procs[i];
		if (p->alive)
			json_array_append_new(pids, json_integer(p->pid));
		answered += p->answered;
		failed += p->failed;
		if (p->backend) {
			uint64_t a, f;
			in_flight += glia_backend_in_flight(p->backend);
			glia_backend_counts(p->backend, &a, &f);
			answered += a;
			failed += f;
		}
	}
	const char *state = rstate_names[r->state];
	if (r->state == R_BACKOFF && r->error)
		state = "failed";
	glia_backend_health h;
	json_t *error = r->error ? json_string(r->error) : json_null();
	if (replica_unreachable(r, &h)) {
		state = "unreachable";
		json_decref(error);
		error = json_sprintf("unreachable for %.1fs: %s (%d probes "
				     "failed)",
				     h.down_s, h.why, h.probes_failed);
	}
	json_t *j = json_pack("{s:s, s:o, s:s, s:i, s:f, s:i, s:b, s:o, s:I, s:I}",
			 "id", r->id, "pids", pids, "state", state,
			 "restarts", r->restarts, "age_s",
			 glia_wall() - r->created_at, "in_flight", in_flight,
			 "up_to_date", r->generation == r->api->generation,
			 "error", error,
			 "requests", (json_int_t)answered, "errors_5xx",
			 (json_int_t)failed);
	if (api_measures_memory(r->api)) { /* measured every second */
		json_object_set_new(j, "memory_bytes",
				    json_integer((json_int_t)r->mem_bytes));
		json_object_set_new(j, "memory_over_request",
				    json_boolean(r->over_request));
	}
	if (r->api->spec.compute.gpu > 0) { /* compute.gpu: which ones */
		char *gpus = glia_gpus_visible(&r->api->sup->gpus, r);
		json_object_set_new(j, "gpus", json_string(gpus));
		free(gpus);
	}
	return j;
}

json_t *glia_supervisor_list(glia_supervisor *s)
{
	json_t *list = json_array();
	for (glia_api *a = s->apis; a; a = a->next)
		if (!a->deleted)
			json_array_append_new(list, api_summary(a));
	/* sorted by name */
	size_t n = json_array_size(list);
	for (size_t i = 1; i < n; i++) {
		for (size_t j = i; j > 0; j--) {
			json_t *x = json_array_get(list, j - 1);
			json_t *y = json_array_get(list, j);
			if (strcmp(json_string_value(json_object_get(x, "name")),
				   json_string_value(json_object_get(y, "name"))) <= 0)
				break;
			json_incref(x);
			json_array_set(list, j - 1, y);
			json_array_set_new(list, j, x);
		}
	}
	return json_pack("{s:o}", "apis", list);
}

static int models_resident(const glia_api *a)
{
	int n = 0;
	for (replica *r = a->replicas; r; r = r->next)
		for (int i = 0; i < r->n_procs; i++)
			n += r->procs[i].models_resident;
	return n;
}

/* predictor.models: the model cache figures of every worker together. */
static json_t *models_json(const glia_api *a)
{
	const model_stats *m = &a->models;
	if (!a->spec.predictor.models.set)
		return NULL;
	return json_pack("{s:i, s:I, s:I, s:I, s:I, s:I, s:f, s:s?}",
			 "resident", models_resident(a), "hits",
			 (json_int_t)m->hits, "misses", (json_int_t)m->misses,
			 "loads", (json_int_t)m->loads_ok, "load_failures",
			 (json_int_t)m->loads_failed, "evictions",
			 (json_int_t)m->evictions, "load_seconds_total",
			 m->load_time.sum, "last_load_failure",
			 m->last_failure);
}

static void mask_env(json_t *env)
{
	const char *key;
	json_t *value;
	void *tmp;
	json_object_foreach_safe(env, tmp, key, value)
	    json_object_set_new(env, key, json_string("***"));
}

/* The spec as deployed, predictor.env's values (and a pod's containers')
 * masked: they are often secrets, and `glia get -o json` output ends up
 * in tickets and CI logs. */
static json_t *masked_spec(glia_api *a)
{
	json_t *spec = json_loads(a->spec_json, 0, NULL);
	mask_env(json_object_get(json_object_get(spec, "predictor"), "env"));
	size_t i;
	json_t *ct;
	json_array_foreach(
		json_object_get(json_object_get(spec, "pod"), "containers"), i,
		ct) mask_env(json_object_get(ct, "env"));
	return spec;
}

json_t *glia_supervisor_get(glia_supervisor *s, const char *name)
{
	glia_api *a = find_api(s, name);
	if (!a || a->deleted)
		return NULL;
	json_t *j = api_summary(a);
	json_t *reps = json_array();
	for (replica *r = a->replicas; r; r = r->next)
		json_array_append_new(reps, replica_json(r));
	json_object_set_new(j, "replica_list", reps);
	json_object_set_new(j, "recent_errors", errors_json(a));
	json_t *pred = predictions_json(a);
	if (pred)
		json_object_set_new(j, "predictions", pred);
	json_t *models = models_json(a);
	if (models)
		json_object_set_new(j, "models", models);
	json_object_set_new(j, "oom_kills", json_integer(a->oom_kills));
	if (glia_spec_is_splitter(&a->spec))
		json_object_set_new(j, "apis", split_json(a));
	json_object_set_new(j, "spec", masked_spec(a));
	json_object_set_new(j, "project_dir", json_string(a->project_dir));
	json_object_set_new(j, "config_path", json_string(a->config_path));
	return j;
}

/* ---- model repository (OIP extension, docs/protocols.md) ----------------- */

static void repo_entry(json_t *out, const char *name, const char *version,
		       const char *state, const char *reason, int ready_only)
{
	if (ready_only && strcmp(state, "READY") != 0)
		return;
	json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:s}", "name",
					     name, "version", version, "state",
					     state, "reason", reason));
}

static int name_in(json_t *names, const char *name)
{
	size_t i;
	json_t *v;
	json_array_foreach(names, i, v) if (strcmp(json_string_value(v),
						   name) == 0) return 1;
	return 0;
}

/* Every API is a model; a multi-model API adds <api>.<model> for each of
 * its models (the one model of models.path is the API itself). */
static void repo_index_api(glia_api *a, json_t *out, int ready_only)
{
	int cur, cur_ready, old, ready;
	count_replicas(a, &cur, &cur_ready, &old, &ready);
	const char *state = ready > 0 ? "READY" : "UNAVAILABLE";
	const char *why = ready > 0 ? "" : "no replica is ready";
	repo_entry(out, a->name, "", state, why, ready_only);
	json_t *models = glia_repo_models(&a->spec, a->project_dir);
	size_t i;
	json_t *m;
	json_array_foreach(models, i, m) {
		const char *name = json_string_value(json_object_get(m, "name"));
		const char *version =
			json_string_value(json_object_get(m, "version"));
		if (!*name)
			continue;
		char *full = glia_sprintf("%s.%s", a->name, name);
		int gone = a->unloaded && name_in(a->unloaded, name);
		repo_entry(out, full, version, gone ? "UNAVAILABLE" : state,
			   gone ? "unloaded" : why, ready_only);
		free(full);
	}
	json_decref(models);
}

static json_t *repo_error(int *status, int code, const char *fmt,
			  const char *arg)
{
	char msg[300];
	snprintf(msg, sizeof msg, fmt, arg);
	*status = code;
	return json_pack("{s:s}", "error", msg);
}

/* load / unload of "<api>.<model>": the set in the control file. */
static json_t *repo_load(glia_supervisor *s, const char *action,
			 const char *model, int *status)
{
	const char *dot = strchr(model, '.');
	char api[GLIA_API_NAME_MAX + 1];
	size_t n = dot ? (size_t)(dot - model) : strlen(model);
	if (n > GLIA_API_NAME_MAX)
		return repo_error(status, 404, "model '%s' not found", model);
	memcpy(api, model, n);
	api[n] = '\0';
	glia_api *a = find_api(s, api);
	if (!a || a->deleted)
		return repo_error(status, 404, "model '%s' not found", model);
	if (!dot)
		return repo_error(status, 400,
				  "model '%s' is an API: it cannot be loaded "
				  "or unloaded (glia deploy and glia delete "
				  "do that)",
				  model);
	json_t *models = glia_repo_models(&a->spec, a->project_dir);
	int known = dot[1] && glia_repo_has_model(models, dot + 1);
	json_decref(models);
	if (!known || !a->unloaded)
		return repo_error(status, 404, "model '%s' not found", model);
	/* The new set is saved first: the running one changes only then. */
	json_t *next = json_deep_copy(a->unloaded);
	size_t i;
	json_t *v;
	json_array_foreach(next, i, v) {
		if (strcmp(json_string_value(v), dot + 1) == 0) {
			json_array_remove(next, i);
			break;
		}
	}
	if (strcmp(action, "unload") == 0)
		json_array_append_new(next, json_string(dot + 1));
	char *text = json_dumps(next, JSON_COMPACT);
	int saved = glia_store_set_unloaded(s->store, a->name, text);
	free(text);
	if (saved < 0) {
		json_decref(next);
		char why[1024];
		*status = save_failed(s, why, sizeof why);
		return json_pack("{s:s}", "error", why);
	}
	json_decref(a->unloaded);
	a->unloaded = next;
	write_control_file(a);
	glia_log(GLIA_LOG_INFO, "%s: model %s %sed through the repository API",
		 a->name, dot + 1, action);
	*status = 200;
	return json_object();
}

json_t *glia_supervisor_repository(glia_supervisor *s, const char *action,
				   const char *model, int ready_only,
				   int *status)
{
	if (strcmp(action, "index") == 0) {
		json_t *out = json_array();
		for (glia_api *a = s->apis; a; a = a->next)
			if (!a->deleted && !a->stopping)
				repo_index_api(a, out, ready_only);
		*status = 200;
		return out;
	}
	return repo_load(s, action, model, status);
}

static json_t *repository_cb(void *arg, const char *action, const char *model,
			     int ready_only, int *status)
{
	return glia_supervisor_repository(arg, action, model, ready_only,
					  status);
}

/* ---- metrics ------------------------------------------------------------- */

static void api_metric_label(glia_buf *lab, const glia_api *a,
			     const char *state)
{
	glia_buf_reset(lab);
	glia_buf_puts(lab, "api=\"");
	glia_metrics_escape(lab, a->name);
	glia_buf_puts(lab, "\"");
	if (state)
		glia_buf_printf(lab, ",state=\"%s\"", state);
}

static void replicas_metrics(glia_supervisor *s, glia_buf *out,
			     glia_buf *lab)
{
	glia_metrics_header(out, "glia_replicas", "gauge",
			    "Replicas by state (failed: waiting to restart).");
	for (glia_api *a = s->apis; a; a = a->next) {
		int n[5] = {0};
		int failed = 0;
		for (replica *r = a->replicas; r; r = r->next) {
			if (r->state == R_BACKOFF && r->error)
				failed++;
			else
				n[r->state]++;
		}
		for (int i = 0; i < 5; i++) {
			api_metric_label(lab, a, rstate_names[i]);
			glia_metrics_sample(out, "glia_replicas", lab->data,
					    n[i]);
		}
		api_metric_label(lab, a, "failed");
		glia_metrics_sample(out, "glia_replicas", lab->data, failed);
	}
}

/* glia_replica_memory_bytes{api, replica}: for APIs with compute.mem or
 * compute.mem_limit, what each running replica holds (measured every
 * second); glia_replicas_over_memory_request{api}: how many hold more
 * than compute.mem. */
static void memory_metrics(glia_supervisor *s, glia_buf *out, glia_buf *lab)
{
	glia_metrics_header(out, "glia_replica_memory_bytes", "gauge",
			    "Resident memory of a replica, all its processes.");
	for (glia_api *a = s->apis; a; a = a->next)
		for (replica *r = a->replicas; r; r = r->next) {
			if (!replica_has_memory_limit(r))
				continue;
			api_metric_label(lab, a, NULL);
			glia_buf_puts(lab, ",replica=\"");
			glia_metrics_escape(lab, r->id);
			glia_buf_puts(lab, "\"");
			glia_metrics_sample(out, "glia_replica_memory_bytes",
					    lab->data, (double)r->mem_bytes);
		}
	glia_metrics_header(out, "glia_replicas_over_memory_request", "gauge",
			    "Replicas holding more than compute.mem.");
	for (glia_api *a = s->apis; a; a = a->next) {
		if (a->spec.compute.mem_bytes <= 0)
			continue;
		int n = 0;
		for (replica *r = a->replicas; r; r = r->next)
			n += replica_has_memory_limit(r) && r->over_request;
		api_metric_label(lab, a, NULL);
		glia_metrics_sample(out, "glia_replicas_over_memory_request",
				    lab->data, n);
	}
}

static void model_counter(glia_supervisor *s, glia_buf *out, glia_buf *lab,
			  const char *name, const char *help, size_t offset)
{
	glia_metrics_header(out, name, "counter", help);
	for (glia_api *a = s->apis; a; a = a->next) {
		if (!a->spec.predictor.models.set)
			continue;
		api_metric_label(lab, a, NULL);
		glia_metrics_sample(
			out, name, lab->data,
			(double)*(const uint64_t *)((const char *)&a->models +
						    offset));
	}
}

/* predictor.models: cache hits, misses, evictions, loads by result, load
 * time, resident models; APIs without models have no series. */
static void models_metrics(glia_supervisor *s, glia_buf *out, glia_buf *lab)
{
	model_counter(s, out, lab, "glia_model_cache_hits_total",
		      "get_model calls answered from memory.",
		      offsetof(model_stats, hits));
	model_counter(s, out, lab, "glia_model_cache_misses_total",
		      "get_model calls that had to load the model.",
		      offsetof(model_stats, misses));
	model_counter(s, out, lab, "glia_model_evictions_total",
		      "Model versions dropped because the cache was full.",
		      offsetof(model_stats, evictions));
	glia_metrics_header(out, "glia_model_loads_total", "counter",
			    "load_model calls by result (ok, failed).");
	for (glia_api *a = s->apis; a; a = a->next) {
		if (!a->spec.predictor.models.set)
			continue;
		api_metric_label(lab, a, NULL);
		glia_buf_puts(lab, ",result=\"ok\"");
		glia_metrics_sample(out, "glia_model_loads_total", lab->data,
				    (double)a->models.loads_ok);
		api_metric_label(lab, a, NULL);
		glia_buf_puts(lab, ",result=\"failed\"");
		glia_metrics_sample(out, "glia_model_loads_total", lab->data,
				    (double)a->models.loads_failed);
	}
	glia_metrics_header(out, "glia_model_load_duration_seconds",
			    "histogram", "Time load_model took.");
	for (glia_api *a = s->apis; a; a = a->next) {
		if (!a->spec.predictor.models.set)
			continue;
		api_metric_label(lab, a, NULL);
		glia_metrics_histogram(out, "glia_model_load_duration_seconds",
				       lab->data, &a->models.load_time);
	}
	glia_metrics_header(out, "glia_models_resident", "gauge",
			    "Model versions in memory, all workers together.");
	for (glia_api *a = s->apis; a; a = a->next) {
		if (!a->spec.predictor.models.set)
			continue;
		api_metric_label(lab, a, NULL);
		glia_metrics_sample(out, "glia_models_resident", lab->data,
				    models_resident(a));
	}
}

/* The families only the supervisor knows; the gateway adds its own. */
static void supervisor_metrics(void *arg, glia_buf *out)
{
	glia_supervisor *s = arg;
	glia_buf lab;
	glia_buf_init(&lab, 0);
	replicas_metrics(s, out, &lab);
	glia_metrics_header(out, "glia_desired_replicas", "gauge",
			    "Replicas requested (by the spec or the "
			    "autoscaler).");
	for (glia_api *a = s->apis; a; a = a->next) {
		api_metric_label(&lab, a, NULL);
		glia_metrics_sample(out, "glia_desired_replicas", lab.data,
				    a->requested);
	}
	glia_metrics_header(out, "glia_replica_restarts_total", "counter",
			    "Replica restarts after a crash or failed start.");
	for (glia_api *a = s->apis; a; a = a->next) {
		api_metric_label(&lab, a, NULL);
		glia_metrics_sample(out, "glia_replica_restarts_total",
				    lab.data, a->restarts);
	}
	memory_metrics(s, out, &lab);
	glia_metrics_header(out, "glia_replica_oom_kills_total", "counter",
			    "Replicas killed for going over "
			    "compute.mem_limit.");
	for (glia_api *a = s->apis; a; a = a->next) {
		api_metric_label(&lab, a, NULL);
		glia_metrics_sample(out, "glia_replica_oom_kills_total",
				    lab.data, a->oom_kills);
	}
	models_metrics(s, out, &lab);
	glia_buf_free(&lab);
}

/* ---- life cycle --------------------------------------------------------- */

static char *choose_run_dir(const char *home)
{
	/* Unix socket paths are limited to 107 bytes: with a deep GLIA_HOME,
	 * sockets go to a private directory under /tmp instead. */
	char *dir = glia_sprintf("%s/run", home);
	if (strlen(dir) + 32 < 100)
		return dir;
	free(dir);
	uint64_t h = fnv1a(0xcbf29ce484222325ULL, home, strlen(home));
	return glia_sprintf("/tmp/glia-%d-%08llx", (int)getuid(),
			    (unsigned long long)(h & 0xffffffffULL));
}

extern char **environ;

/* The daemon's environment for workers, with the body limit they must
 * apply (the gateway's). */
static char **worker_environment(size_t max_body)
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = glia_calloc(n + 2, sizeof *env);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "GLIA_MAX_BODY_BYTES=", 20) != 0 &&
		    strncmp(environ[i], "GLIA_PROC_TAG=", 14) != 0 &&
		    strncmp(environ[i], "GLIA_CGROUP=", 12) != 0)
			env[k++] = glia_strdup(environ[i]);
	env[k++] = glia_sprintf("GLIA_MAX_BODY_BYTES=%zu",
				max_body ? max_body : (size_t)32 << 20);
	env[k] = NULL;
	return env;
}

/* A cgroup per replica process where cgroup v2 can be used (cgroup.h). */
static void open_cgroups(glia_supervisor *s)
{
	char why[PATH_MAX + 128];
	s->cgroups = glia_cgroups_open(why, sizeof why);
	if (s->cgroups)
		glia_log(GLIA_LOG_INFO, "replica processes tracked by cgroup "
					"under %s",
			 glia_cgroups_dir(s->cgroups));
	else
		glia_log(GLIA_LOG_INFO, "replica processes tracked through "
					"/proc (no cgroup: %s)",
			 why);
}

void glia_supervisor_end_orphans(glia_supervisor *s)
{
	int *pids;
	if (s->cgroups) /* glia_cgroups_open ended the dead daemons' trees */
		return;
	size_t n = glia_procfs_orphans(s->home, (int)getpid(), &pids);
	for (size_t i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	if (n)
		glia_log(GLIA_LOG_WARN,
			 "stopped %zu process(es) that an earlier daemon of "
			 "this home left running",
			 n);
	free(pids);
}

glia_supervisor *glia_supervisor_new(uv_loop_t *loop, glia_gateway *gw,
				     glia_store *st, glia_logs *logs,
				     const glia_supervisor_options *opt)
{
	glia_supervisor *s = glia_calloc(1, sizeof *s);
	s->loop = loop;
	s->gw = gw;
	s->store = st;
	s->logs = logs;
	s->opt = *opt;
	if (s->opt.stop_grace_s < 0)
		s->opt.stop_grace_s = 10;
	s->home = glia_strdup(opt->home);
	s->exe = glia_strdup(opt->exe);
	s->gateway_url = glia_strdup(opt->gateway_url);
	if (s->opt.autoscale_interval_s <= 0)
		s->opt.autoscale_interval_s = 10;
	if (s->opt.startup_timeout_s <= 0)
		s->opt.startup_timeout_s = 300;
	s->worker_env = worker_environment(opt->max_body_bytes);
	s->run_dir = choose_run_dir(opt->home);
	char gpu_err[128];
	if (glia_gpus_init(&s->gpus, opt->gpus, gpu_err, sizeof gpu_err) < 0)
		glia_log(GLIA_LOG_ERROR, "GPUs: %s; using none", gpu_err);
	glia_log(GLIA_LOG_INFO, "%zu GPU(s) for compute.gpu", s->gpus.n);
	open_cgroups(s);
	glia_mkdirs(s->run_dir, 0700);
	char why[PATH_MAX + 256];
	if (glia_check_private_dir(s->run_dir, 0, why, sizeof why) < 0)
		glia_log(GLIA_LOG_ERROR, "run directory: %s", why);
	uv_timer_init(loop, &s->sample_timer);
	uv_timer_init(loop, &s->tick_timer);
	s->sample_timer.data = s->tick_timer.data = s;
	uv_timer_start(&s->sample_timer, sample_cb, 1000, 1000);
	glia_gateway_set_metrics_cb(gw, supervisor_metrics, s);
	glia_gateway_set_repository_cb(gw, repository_cb, s);
	uint64_t tick = (uint64_t)(s->opt.autoscale_interval_s * 1000);
	uv_timer_start(&s->tick_timer, tick_cb, tick, tick);
	return s;
}

int glia_supervisor_restore(glia_supervisor *s)
{
	glia_stored_api *apis = NULL;
	size_t n = 0;
	int restored = 0;
	if (glia_store_load_apis(s->store, &apis, &n) < 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		glia_api_spec spec;
		char err[512];
		json_t *j = json_loads(apis[i].spec_json, 0, NULL);
		int rc = j ? glia_api_spec_from_json(j, &spec, err, sizeof err)
			   : -1;
		json_decref(j);
		if (rc < 0) {
			glia_log(GLIA_LOG_ERROR, "cannot restore API %s: %s",
				 apis[i].name, j ? err : "bad JSON");
			continue;
		}
		glia_api *a = api_create(s, &spec, glia_strdup(apis[i].spec_json),
					 glia_strdup(apis[i].spec_hash),
					 apis[i].project_dir,
					 apis[i].config_path);
		if (!a) {
			glia_api_spec_free(&spec);
			continue;
		}
		a->created_at = apis[i].created_at;
		a->updated_at = apis[i].updated_at;
		api_reconcile(a);
		restored++;
		glia_log(GLIA_LOG_INFO, "restored API %s", a->name);
	}
	glia_stored_apis_free(apis, n);
	return restored;
}

void glia_supervisor_shutdown(glia_supervisor *s, void (*done)(void *),
			      void *arg)
{
	s->shutting_down = 1;
	uv_timer_stop(&s->sample_timer);
	uv_timer_stop(&s->tick_timer);
	s->shutdown_done = done;
	s->shutdown_arg = arg;
	glia_api *a = s->apis;
	while (a) {
		glia_api *next = a->next;
		a->stopping = 1;
		api_reconcile(a);
		a = next;
	}
	maybe_shutdown_done(s);
}

double glia_supervisor_max_timeout_s(glia_supervisor *s)
{
	double t = 0;
	for (glia_api *a = s->apis; a; a = a->next)
		if ((double)a->spec.networking.timeout_ms / 1000.0 > t)
			t = (double)a->spec.networking.timeout_ms / 1000.0;
	return t;
}

void glia_supervisor_free(glia_supervisor *s)
{
	for (char **e = s->worker_env; e && *e; e++)
		free(*e);
	free(s->worker_env);
	free(s->home);
	free(s->exe);
	free(s->gateway_url);
	free(s->run_dir);
	glia_gpus_free(&s->gpus);
	glia_cgroups_close(s->cgroups, 3.0);
	free(s);
}

/* True when pid runs `glia worker` with a socket under run_dir. */
static int is_our_worker(int pid, const char *run_dir)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
	size_t len = 0;
	char *cmd = glia_read_file(path, 65536, &len);
	if (!cmd)
		return 0;
	int worker = 0, ours = 0;
	for (size_t i = 0; i < len; i += strlen(cmd + i) + 1) {
		if (strcmp(cmd + i, "worker") == 0)
			worker = 1;
		if (strncmp(cmd + i, run_dir, strlen(run_dir)) == 0)
			ours = 1;
	}
	free(cmd);
	return worker && ours;
}

int glia_supervisor_reap_orphans(glia_store *st, const char *home)
{
	int *pids = NULL;
	unsigned long long *ticks = NULL;
	size_t n = 0;
	int killed = 0;
	char *run_dir = choose_run_dir(home);
	if (glia_store_take_pids(st, &pids, &ticks, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			unsigned long long t = glia_process_start_ticks(pids[i]);
			int ours = ticks[i] ? t == ticks[i]
					    : is_our_worker(pids[i], run_dir);
			if (!ours)
				continue;
			kill(-pids[i], SIGKILL);
			kill(pids[i], SIGKILL);
			killed++;
		}
	}
	free(pids);
	free(ticks);
	free(run_dir);
	return killed;
}

const char *glia_supervisor_splitter_using(glia_supervisor *s,
					   const char *api)
{
	return splitter_using(s, api);
}
