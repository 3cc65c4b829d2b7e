/* autoscale.h: the replica-count recommendation of SPEC section 5, as pure
 * functions of their inputs (no clocks, no sockets), shared by the daemon's
 * autoscaler and `glia autoscale simulate`.
 *
 * The daemon samples each API's in-flight requests (running + queued) once a
 * second into a glia_autoscale_window, and on every autoscaling tick calls
 * glia_autoscale_recommend with the window's mean. */
#ifndef GLIA_AUTOSCALE_H
#define GLIA_AUTOSCALE_H

#include <stddef.h>

#include "config.h"

typedef struct glia_autoscale_params {
	int min_replicas, max_replicas;
	double target_replica_concurrency;
	double window_s;
	double downscale_stabilization_s, upscale_stabilization_s;
	double max_downscale_factor, max_upscale_factor;
	double downscale_tolerance, upscale_tolerance;
} glia_autoscale_params;

/* Fills params from a validated spec. */
void glia_autoscale_params_from_spec(const glia_api_spec *spec,
				     glia_autoscale_params *p);

/* Samples of in-flight requests over the last window (a ring buffer). */
typedef struct glia_autoscale_window {
	double *t; /* sample times, seconds */
	double *v; /* in-flight at that time */
	size_t cap, head, n;
} glia_autoscale_window;

void glia_autoscale_window_init(glia_autoscale_window *w, size_t cap);
void glia_autoscale_window_free(glia_autoscale_window *w);
void glia_autoscale_window_add(glia_autoscale_window *w, double t, double v);
/* Mean of the samples taken in (now - window_s, now]; 0 when none. */
double glia_autoscale_window_mean(const glia_autoscale_window *w, double now,
				  double window_s);

/* Past recommendations (after tolerance and bounds, before stabilization),
 * for the stabilization periods. */
typedef struct glia_autoscale_history {
	double *t;
	int *rec;
	size_t cap, head, n;
} glia_autoscale_history;

void glia_autoscale_history_init(glia_autoscale_history *h, size_t cap);
void glia_autoscale_history_free(glia_autoscale_history *h);
void glia_autoscale_history_add(glia_autoscale_history *h, double t, int rec);

typedef struct glia_autoscale_decision {
	int replicas;      /* what to run now */
	double avg;        /* mean in-flight used */
	double raw;        /* avg / target */
	int recommended;   /* after tolerance and bounds, before stabilization */
	double held_until; /* when a held change may happen; 0 when not held */
	char reason[200];  /* e.g. "held by downscale stabilization until
			      12:03:10", "scale up: avg in-flight 7.6 over
			      60s, target 2" */
} glia_autoscale_decision;

/* The recommendation for an API now running `cur` replicas, with mean
 * in-flight `avg`, started (deployed or restored) at `started_at`. Adds this
 * tick's recommendation to `hist` and applies the stabilization periods.
 * Times are seconds on one clock (wall clock in the daemon, so reasons can
 * print them; simulated time in the simulator). */
void glia_autoscale_recommend(const glia_autoscale_params *p, int cur,
			      double avg, double now, double started_at,
			      glia_autoscale_history *hist,
			      glia_autoscale_decision *out);

/* Ring capacities that hold a whole window of samples taken every
 * sample_period_s, and every recommendation of the longer stabilization
 * period at one per interval_s (older entries are dropped). */
size_t glia_autoscale_window_cap(const glia_autoscale_params *p,
				 double sample_period_s);
size_t glia_autoscale_history_cap(const glia_autoscale_params *p,
				  double interval_s);

/* Writes a duration in seconds the way specs spell them: "5m", "1m30s",
 * "90ms" below a second, "1.5s" for fractions. */
void glia_autoscale_format_period(double seconds, char *out, size_t len);

#endif
