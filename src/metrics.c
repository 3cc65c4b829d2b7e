/* metrics.c: see metrics.h. */
#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const double glia_latency_bounds[GLIA_LATENCY_BUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
	0.25,	0.5,   1.0,    2.5,   5.0,  10.0,  30.0, 60.0,
};

void glia_histogram_observe(glia_histogram *h, double v)
{
	size_t i = 0;
	while (i < GLIA_LATENCY_BUCKETS && v > glia_latency_bounds[i])
		i++;
	h->counts[i]++;
	h->count++;
	h->sum += v;
}

void glia_histogram_merge(glia_histogram *into, const glia_histogram *h)
{
	for (size_t i = 0; i <= GLIA_LATENCY_BUCKETS; i++)
		into->counts[i] += h->counts[i];
	into->count += h->count;
	into->sum += h->sum;
}

double glia_histogram_quantile(const glia_histogram *h, double q)
{
	if (h->count == 0)
		return 0;
	double rank = q * (double)h->count;
	uint64_t seen = 0;
	for (size_t i = 0; i <= GLIA_LATENCY_BUCKETS; i++) {
		uint64_t next = seen + h->counts[i];
		if ((double)next >= rank && h->counts[i] > 0) {
			if (i == GLIA_LATENCY_BUCKETS) /* +Inf: the top bound */
				return glia_latency_bounds[i - 1];
			double lo = i ? glia_latency_bounds[i - 1] : 0;
			double hi = glia_latency_bounds[i];
			double frac = (rank - (double)seen) /
				      (double)h->counts[i];
			return lo + (hi - lo) * frac;
		}
		seen = next;
	}
	return glia_latency_bounds[GLIA_LATENCY_BUCKETS - 1];
}

void glia_minute_observe(glia_minute *m, int64_t now_s, double v)
{
	size_t i = (size_t)(now_s % GLIA_WINDOW_SECONDS);
	if (m->stamp[i] != now_s) {
		memset(&m->sec[i], 0, sizeof m->sec[i]);
		m->stamp[i] = now_s;
	}
	glia_histogram_observe(&m->sec[i], v);
}

void glia_minute_total(const glia_minute *m, int64_t now_s,
		       glia_histogram *out)
{
	memset(out, 0, sizeof *out);
	for (size_t i = 0; i < GLIA_WINDOW_SECONDS; i++)
		if (m->stamp[i] > now_s - GLIA_WINDOW_SECONDS &&
		    m->stamp[i] <= now_s)
			glia_histogram_merge(out, &m->sec[i]);
}

void glia_metrics_header(glia_buf *out, const char *name, const char *type,
			 const char *help)
{
	glia_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
			type);
}

static void format_value(char *s, size_t n, double v)
{
	if (isinf(v))
		snprintf(s, n, v > 0 ? "+Inf" : "-Inf");
	else if (v == floor(v) && fabs(v) < 1e15)
		snprintf(s, n, "%.0f", v);
	else
		snprintf(s, n, "%.9g", v);
}

void glia_metrics_sample(glia_buf *out, const char *name, const char *labels,
			 double value)
{
	char v[64];
	format_value(v, sizeof v, value);
	if (labels && *labels)
		glia_buf_printf(out, "%s{%s} %s\n", name, labels, v);
	else
		glia_buf_printf(out, "%s %s\n", name, v);
}

/* The _bucket, _sum and _count lines of one histogram. */
static void histogram_lines(glia_buf *out, const char *name,
			    const char *labels, const double *bounds,
			    size_t n_bounds, const uint64_t *counts,
			    uint64_t count, double sum)
{
	const char *sep = labels && *labels ? "," : "";
	uint64_t cumulative = 0;
	for (size_t i = 0; i <= n_bounds; i++) {
		cumulative += counts[i];
		char le[32];
		if (i == n_bounds)
			snprintf(le, sizeof le, "+Inf");
		else
			snprintf(le, sizeof le, "%g", bounds[i]);
		glia_buf_printf(out, "%s_bucket{%s%sle=\"%s\"} %llu\n", name,
				labels ? labels : "", sep, le,
				(unsigned long long)cumulative);
	}
	char buf[512];
	snprintf(buf, sizeof buf, "%s_sum", name);
	glia_metrics_sample(out, buf, labels, sum);
	snprintf(buf, sizeof buf, "%s_count", name);
	glia_metrics_sample(out, buf, labels, (double)count);
}

void glia_metrics_histogram(glia_buf *out, const char *name,
			    const char *labels, const glia_histogram *h)
{
	histogram_lines(out, name, labels, glia_latency_bounds,
			GLIA_LATENCY_BUCKETS, h->counts, h->count, h->sum);
}

static const double size_bounds[GLIA_SIZE_BUCKETS] = {
	1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};

void glia_size_histogram_observe(glia_size_histogram *h, double v)
{
	size_t i = 0;
	while (i < GLIA_SIZE_BUCKETS && v > size_bounds[i])
		i++;
	h->counts[i]++;
	h->count++;
	h->sum += v;
}

void glia_metrics_size_histogram(glia_buf *out, const char *name,
				 const char *labels,
				 const glia_size_histogram *h)
{
	histogram_lines(out, name, labels, size_bounds, GLIA_SIZE_BUCKETS,
			h->counts, h->count, h->sum);
}

void glia_metrics_escape(glia_buf *out, const char *value)
{
	for (const char *p = value; *p; p++) {
		if (*p == '\\')
			glia_buf_puts(out, "\\\\");
		else if (*p == '"')
			glia_buf_puts(out, "\\\"");
		else if (*p == '\n')
			glia_buf_puts(out, "\\n");
		else
			glia_buf_append(out, p, 1);
	}
}
