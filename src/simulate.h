/* simulate.h: `glia autoscale simulate`: replays a request-rate trace
 * through an API's autoscaling settings, offline and faster than real time,
 * with the same glia_autoscale_* code the daemon runs. The model and the
 * trace format are in docs/autoscaling.md.
 *
 * The parts are pure and separately testable: trace parsing, the
 * simulation (glia_sim_run), and the three outputs (table, JSON, SVG). */
#ifndef GLIA_SIMULATE_H
#define GLIA_SIMULATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"

/* Longest trace accepted (7 days at one step a second) and most rows. */
#define GLIA_SIM_MAX_SECONDS (7 * 24 * 3600)
#define GLIA_SIM_MAX_ROWS    1000000

/* One trace row: from time_s on, rps requests a second, each taking
 * service_ms (<= 0: the --service-time value). */
typedef struct glia_sim_trace_row {
	double time_s;
	double rps;
	double service_ms;
} glia_sim_trace_row;

typedef struct glia_sim_trace {
	glia_sim_trace_row *rows; /* time_s strictly increasing */
	size_t n;
} glia_sim_trace;

/* Parses CSV text: a header "time_s,rps" or "time_s,rps,service_time_ms",
 * then rows; blank lines and lines starting with '#' are skipped. Returns 0,
 * or -1 with "FILE:LINE: what is wrong" in err. */
int glia_sim_trace_parse(const char *text, size_t len, const char *filename,
                         glia_sim_trace *out, char *err, size_t errlen);
void glia_sim_trace_free(glia_sim_trace *t);

typedef struct glia_sim_options {
	double service_s; /* per-request service time when the trace has none */
	double startup_s; /* from requested to ready */
	double interval_s; /* autoscaling tick, >= 1 */
} glia_sim_options;

/* The state at one second (one step of the model). */
typedef struct glia_sim_second {
	double rps;
	double inflight;   /* running + queued, as the daemon samples it */
	double queue;      /* requests waiting for a slot */
	double latency_ms; /* estimated for a request arriving now; < 0: none
	                      (no replica ready or starting) */
	int requested;     /* ready + starting */
	int ready;
} glia_sim_second;

/* One autoscaling tick (and the state at t = 0). */
typedef struct glia_sim_tick {
	double t;
	double rps;
	double avg;      /* the window's mean in-flight the autoscaler used */
	int recommended; /* before stabilization */
	int requested;   /* after this tick's decision */
	int ready;
	double queue;
	double latency_ms; /* < 0: none */
	char reason[200];
} glia_sim_tick;

typedef struct glia_sim_summary {
	double duration_s;
	double replica_seconds; /* sum over seconds of ready + starting */
	int peak_requested, peak_ready;
	double arrived, served;
	double rejected;  /* 503: over max_replica_concurrency */
	double timed_out; /* 504: waited networking.timeout in the queue */
	double queued_at_end;
	/* Estimated latency over accepted requests, weighted by arrivals;
	 * < 0 when no request arrived or one saw no replica at all. */
	double latency_p50_ms, latency_p95_ms, latency_max_ms;
} glia_sim_summary;

typedef struct glia_sim_result {
	glia_sim_second *seconds; /* one per second of the trace */
	size_t n_seconds;
	glia_sim_tick *ticks;
	size_t n_ticks;
	glia_sim_summary summary;
} glia_sim_result;

/* Runs the fluid model over the trace for the API's autoscaling settings.
 * Returns 0, or -1 with a message in err (bad options, empty or too long
 * trace). res is to be freed with glia_sim_result_free in both cases. */
int glia_sim_run(const glia_api_spec *spec, const glia_sim_trace *trace,
                 const glia_sim_options *opt, glia_sim_result *res, char *err,
                 size_t errlen);
void glia_sim_result_free(glia_sim_result *res);

/* The per-tick table and the summary, as printed by the command. */
void glia_sim_print_table(FILE *f, const glia_sim_result *res);
void glia_sim_print_summary(FILE *f, const glia_sim_result *res);
/* {"api", "settings", "ticks": [...], "summary": {...}}; a new reference. */
json_t *glia_sim_to_json(const glia_api_spec *spec, const glia_sim_options *opt,
                         const glia_sim_result *res);
/* Writes the four-panel SVG plot (load, replicas, queue, latency). Returns
 * 0, or -1 with "PATH: strerror" in err. */
int glia_sim_write_svg(const char *path, const glia_api_spec *spec,
                       const glia_sim_options *opt, const glia_sim_result *res,
                       char *err, size_t errlen);

/* `glia autoscale simulate FILE --trace TRACE.csv [--api NAME]
 * [--service-time D] [--startup-time D] [--interval D] [--plot OUT.svg]
 * [-o json]`; argv[0] is "simulate". Returns the exit status: 0, 1 on
 * failure, 2 on a usage error. */
int glia_autoscale_simulate_main(int argc, char **argv);

#endif
