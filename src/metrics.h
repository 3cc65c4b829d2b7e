/* metrics.h: Prometheus text exposition (format 0.0.4) and the fixed-bucket
 * histograms behind it, plus per-second rings for "the last minute" figures
 * that `glia get` shows. Pure: no I/O, no clocks (callers pass times). */
#ifndef GLIA_METRICS_H
#define GLIA_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Buckets suited to millisecond-scale inference, in seconds. */
#define GLIA_LATENCY_BUCKETS 16
extern const double glia_latency_bounds[GLIA_LATENCY_BUCKETS];

typedef struct glia_histogram {
	uint64_t counts[GLIA_LATENCY_BUCKETS + 1]; /* last: +Inf */
	uint64_t count;
	double sum;
} glia_histogram;

void glia_histogram_observe(glia_histogram *h, double v);
void glia_histogram_merge(glia_histogram *into, const glia_histogram *h);
/* The q-quantile (0..1) by linear interpolation inside its bucket, as
 * Prometheus's histogram_quantile does; 0 when empty. */
double glia_histogram_quantile(const glia_histogram *h, double q);

/* Counts (batch sizes): buckets 1, 2, 4, ... 1024. */
#define GLIA_SIZE_BUCKETS 11
typedef struct glia_size_histogram {
	uint64_t counts[GLIA_SIZE_BUCKETS + 1]; /* last: +Inf */
	uint64_t count;
	double sum;
} glia_size_histogram;

void glia_size_histogram_observe(glia_size_histogram *h, double v);

/* Requests per second over the last 60 seconds: one histogram per second. */
#define GLIA_WINDOW_SECONDS 60
typedef struct glia_minute {
	glia_histogram sec[GLIA_WINDOW_SECONDS];
	int64_t stamp[GLIA_WINDOW_SECONDS]; /* which second each slot holds */
} glia_minute;

void glia_minute_observe(glia_minute *m, int64_t now_s, double v);
/* Merges the slots of (now_s - 60, now_s] into out. */
void glia_minute_total(const glia_minute *m, int64_t now_s,
		       glia_histogram *out);

/* Exposition helpers. labels is the inside of {...} without braces, already
 * escaped (glia_metrics_escape), or "" for none. */
void glia_metrics_header(glia_buf *out, const char *name, const char *type,
			 const char *help);
void glia_metrics_sample(glia_buf *out, const char *name, const char *labels,
			 double value);
void glia_metrics_histogram(glia_buf *out, const char *name,
			    const char *labels, const glia_histogram *h);
void glia_metrics_size_histogram(glia_buf *out, const char *name,
				 const char *labels,
				 const glia_size_histogram *h);
/* Appends value escaped for a label (\\, ", newline). */
void glia_metrics_escape(glia_buf *out, const char *value);

#endif
