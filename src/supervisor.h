/* supervisor.h: the control plane of the local cluster. Holds the deployed
 * APIs, starts their replicas as worker processes, watches them (readiness,
 * crashes, restarts with backoff), rolls out changed specs without failing
 * requests, and keeps the state store in step. */
#ifndef GLIA_SUPERVISOR_H
#define GLIA_SUPERVISOR_H

#include <jansson.h>
#include <stddef.h>
#include <uv.h>

#include "config.h"
#include "gateway.h"
#include "logs.h"
#include "store.h"

typedef struct glia_supervisor glia_supervisor;

typedef struct glia_supervisor_options {
	const char *home;     /* GLIA_HOME, absolute */
	const char *exe;      /* the glia binary, for `glia worker` */
	const char *gateway_url; /* "http://127.0.0.1:8888" */
	double stop_grace_s;  /* SIGTERM to SIGKILL; default 10 */
	double autoscale_interval_s; /* autoscaling tick; default 10 */
	size_t max_body_bytes; /* request body cap, passed on to workers */
	double startup_timeout_s; /* not ready by then: restart; default 300 */
	const char *gpus; /* `glia up --gpus`; NULL: detect (gpus.h) */
} glia_supervisor_options;

glia_supervisor *glia_supervisor_new(uv_loop_t *loop, glia_gateway *gw,
				     glia_store *st, glia_logs *logs,
				     const glia_supervisor_options *opt);
/* Without cgroups, a killed daemon's replicas leave their escaped children
 * (setsid, double fork) running: found by their GLIA_PROC_TAG and home
 * (glia_procfs_orphans), they are SIGKILLed, as cgroup mode ends a dead
 * daemon's subtree. Only for the daemon that holds home's daemon.lock. */
void glia_supervisor_end_orphans(glia_supervisor *s);
/* Brings back every API of the store. Returns how many were restored. */
int glia_supervisor_restore(glia_supervisor *s);

/* Creates or updates each API. Takes ownership of specs (an array of n).
 * Every change is saved in state.db before any is applied. On success
 * returns {"apis": [{"name", "result", "endpoint"}]}; otherwise NULL,
 * having applied nothing, with err filled and *status (may be NULL) the
 * HTTP status to answer: 409 for a conflict (an endpoint taken by another
 * API, ...), 507 when state.db could not be written for a full disk, 500
 * for another write failure. */
json_t *glia_supervisor_deploy(glia_supervisor *s, glia_api_spec *specs,
			       size_t n, const char *project_dir,
			       const char *config_path, char *err,
			       size_t errlen, int *status);
/* 0, -1 when there is no such API, -2 when a TrafficSplitter sends
 * requests to it (delete that first), -3 when state.db could not save the
 * deletion (the API keeps running; glia_supervisor_save_error says why).
 * force: stop replicas at once instead of letting them finish what they
 * hold. */
int glia_supervisor_delete(glia_supervisor *s, const char *name, int force);
/* Why the last change could not be saved: fills err and returns the HTTP
 * status (507 for a full disk, else 500). */
int glia_supervisor_save_error(glia_supervisor *s, char *err, size_t errlen);
/* The TrafficSplitter that sends requests to api, or NULL. */
const char *glia_supervisor_splitter_using(glia_supervisor *s,
					   const char *api);
int glia_supervisor_refresh(glia_supervisor *s, const char *name);
int glia_supervisor_has_api(glia_supervisor *s, const char *name);

/* {"apis": [summary...]} and one API's detail (NULL when unknown); see
 * docs/management-api.md. New references. */
json_t *glia_supervisor_list(glia_supervisor *s);
json_t *glia_supervisor_get(glia_supervisor *s, const char *name);
/* The Open Inference Protocol's model repository: action "index" (every
 * model with its state; ready_only keeps READY ones), "load" or "unload"
 * of model "<api>.<model>". Returns the JSON answer and sets *status. */
json_t *glia_supervisor_repository(glia_supervisor *s, const char *action,
				   const char *model, int ready_only,
				   int *status);

/* Drains and stops every replica (APIs stay in the store), then calls
 * done(arg). */
void glia_supervisor_shutdown(glia_supervisor *s, void (*done)(void *),
			      void *arg);
void glia_supervisor_free(glia_supervisor *s);
/* The longest networking.timeout of the APIs: how long a drain can take. */
double glia_supervisor_max_timeout_s(glia_supervisor *s);

/* Kills worker processes left by a daemon that died (pids from the store
 * whose command line shows they are glia workers of this home). Returns how
 * many were killed. */
int glia_supervisor_reap_orphans(glia_store *st, const char *home);

#endif
