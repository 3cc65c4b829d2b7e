/* simulate.c: `glia autoscale simulate` (see simulate.h): trace parsing, a
 * fluid model of the gateway and its replicas stepped once a second, the
 * autoscaler (glia_autoscale_*, exactly as the daemon calls it), and the
 * table, JSON and SVG outputs.
 *
 * The model, per one-second step (docs/autoscaling.md, "Simulator"):
 *   arrivals = rps; capacity = ready * concurrency / service_time;
 *   queued requests that waited networking.timeout leave (504);
 *   served = min(queue + arrivals, capacity), first come first served, the
 *   rest stays queued; in-flight = busy slots (served * service_time) +
 *   queued; arrivals beyond max_replica_concurrency * max(1, ready) in
 *   flight are rejected (503);
 *   latency estimate = service_time + queue / capacity (Little's law).
 * Replicas the autoscaler adds become ready startup_s later; a scale-down
 * removes starting replicas first, then ready ones, at once. A request that
 * finds zero replicas requested starts one, as the gateway does. */
#include "simulate.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "autoscale.h"
#include "util.h"

#define LINE_MAX_LEN    1024
#define CONFIG_FILE_MAX (4 << 20)
#define TRACE_FILE_MAX  (64 << 20)

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- trace parsing ---- */

typedef struct trace_parser {
	const char *filename;
	int line;
	int columns; /* 2 or 3, from the header; 0 before it */
	glia_sim_trace *out;
	size_t cap;
	char *err;
	size_t errlen;
} trace_parser;

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 &&
	       (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/* Splits at commas in place; returns the field count (at most max). */
static int split(char *s, char **fields, int max)
{
	int n = 0;
	for (;;) {
		char *comma = strchr(s, ',');
		if (n == max)
			return max + 1;
		if (comma)
			*comma = '\0';
		fields[n++] = trim(s);
		if (!comma)
			return n;
		s = comma + 1;
	}
}

static int parse_number(const char *s, double *out)
{
	char *end;
	if (*s == '\0')
		return -1;
	errno = 0;
	double v = strtod(s, &end);
	if (*end != '\0' || errno == ERANGE || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

static int parse_header(trace_parser *tp, char **f, int n)
{
	if ((n == 2 || n == 3) && strcmp(f[0], "time_s") == 0 &&
	    strcmp(f[1], "rps") == 0 &&
	    (n == 2 || strcmp(f[2], "service_time_ms") == 0)) {
		tp->columns = n;
		return 0;
	}
	set_err(tp->err, tp->errlen,
	        "%s:%d: the header must be time_s,rps or "
	        "time_s,rps,service_time_ms",
	        tp->filename, tp->line);
	return -1;
}

static int row_error(trace_parser *tp, const char *what)
{
	set_err(tp->err, tp->errlen, "%s:%d: %s", tp->filename, tp->line, what);
	return -1;
}

static int check_row(trace_parser *tp, const glia_sim_trace_row *r)
{
	const glia_sim_trace *t = tp->out;
	if (r->time_s < 0 || r->time_s > GLIA_SIM_MAX_SECONDS)
		return row_error(tp, "time_s must be from 0 to 604800 "
		                     "(7 days)");
	if (t->n > 0 && r->time_s <= t->rows[t->n - 1].time_s)
		return row_error(tp, "time_s must increase from row to row");
	if (r->rps < 0)
		return row_error(tp, "rps must be >= 0");
	if (t->n >= GLIA_SIM_MAX_ROWS)
		return row_error(tp, "more than 1000000 rows");
	return 0;
}

static int parse_row(trace_parser *tp, char **f, int n)
{
	glia_sim_trace_row r = {.service_ms = 0};
	if (n < 2 || n > tp->columns)
		return row_error(tp, tp->columns == 3
		                         ? "want 2 or 3 fields: "
		                           "time_s,rps[,service_time_ms]"
		                         : "want 2 fields: time_s,rps");
	if (parse_number(f[0], &r.time_s) < 0)
		return row_error(tp, "time_s is not a number");
	if (parse_number(f[1], &r.rps) < 0)
		return row_error(tp, "rps is not a number");
	if (n == 3 && f[2][0] != '\0' &&
	    (parse_number(f[2], &r.service_ms) < 0 || r.service_ms <= 0))
		return row_error(tp, "service_time_ms must be a number > 0");
	if (check_row(tp, &r) < 0)
		return -1;
	if (tp->out->n == tp->cap) {
		tp->cap = tp->cap ? tp->cap * 2 : 64;
		tp->out->rows = glia_realloc(tp->out->rows,
		                             tp->cap * sizeof *tp->out->rows);
	}
	tp->out->rows[tp->out->n++] = r;
	return 0;
}

static int parse_line(trace_parser *tp, const char *p, size_t n)
{
	char buf[LINE_MAX_LEN + 1], *f[4];
	if (n > LINE_MAX_LEN)
		return row_error(tp, "line longer than 1024 bytes");
	if (memchr(p, '\0', n))
		return row_error(tp, "NUL byte in the line");
	memcpy(buf, p, n);
	buf[n] = '\0';
	char *s = trim(buf);
	if (tp->line == 1 && strncmp(s, "\xef\xbb\xbf", 3) == 0)
		s = trim(s + 3); /* a UTF-8 byte order mark */
	if (*s == '\0' || *s == '#')
		return 0;
	int nf = split(s, f, 3);
	if (tp->columns == 0)
		return parse_header(tp, f, nf);
	return parse_row(tp, f, nf);
}

int glia_sim_trace_parse(const char *text, size_t len, const char *filename,
                         glia_sim_trace *out, char *err, size_t errlen)
{
	trace_parser tp = {
	    .filename = filename, .out = out, .err = err, .errlen = errlen};
	size_t pos = 0;
	memset(out, 0, sizeof *out);
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		tp.line++;
		if (parse_line(&tp, text + pos, end - pos) < 0)
			goto fail;
		pos = end + 1;
	}
	if (tp.columns == 0) {
		set_err(err, errlen,
		        "%s: empty trace: want a header line "
		        "time_s,rps[,service_time_ms] and rows",
		        filename);
		goto fail;
	}
	if (out->n == 0) {
		set_err(err, errlen, "%s: no rows after the header", filename);
		goto fail;
	}
	return 0;
fail:
	glia_sim_trace_free(out);
	return -1;
}

void glia_sim_trace_free(glia_sim_trace *t)
{
	free(t->rows);
	t->rows = NULL;
	t->n = 0;
}

/* ---- the model ---- */

/* Replicas started together, ready at the same time. */
typedef struct batch {
	double ready_at;
	int count;
} batch;

typedef struct sim {
	const glia_sim_options *opt;
	const glia_sim_trace *trace;
	glia_autoscale_params p;
	double conc;   /* requests one replica runs at once */
	double max_rc; /* max_replica_concurrency */
	int ready;
	int starting;
	batch *batches; /* oldest first */
	size_t n_batches, cap_batches;
	double timeout_s; /* networking.timeout */
	/* The queue, FIFO, one cohort per second of arrivals: cohorts
	 * [q_head, q_tail) of the arrays, oldest first. */
	double *q_time, *q_amount;
	size_t q_head, q_tail;
	double queue; /* sum of the cohorts */
	size_t row;   /* trace row in force */
	glia_autoscale_window win;
	glia_autoscale_history hist;
	double *lat, *weight; /* latency seen by each second's arrivals */
	size_t n_lat;
	double next_tick;
	glia_sim_result *res;
} sim;

static void start_replicas(sim *s, double t, int count)
{
	if (s->n_batches == s->cap_batches) {
		s->cap_batches = s->cap_batches ? s->cap_batches * 2 : 16;
		s->batches = glia_realloc(s->batches,
		                          s->cap_batches * sizeof *s->batches);
	}
	s->batches[s->n_batches++] =
	    (batch){.ready_at = t + s->opt->startup_s, .count = count};
	s->starting += count;
}

/* Newest starting replicas go first, then ready ones. */
static void stop_replicas(sim *s, int count)
{
	while (count > 0 && s->n_batches > 0) {
		batch *b = &s->batches[s->n_batches - 1];
		int k = count < b->count ? count : b->count;
		b->count -= k;
		s->starting -= k;
		count -= k;
		if (b->count == 0)
			s->n_batches--;
	}
	s->ready -= count < s->ready ? count : s->ready;
}

static void promote_ready(sim *s, double t)
{
	size_t done = 0;
	while (done < s->n_batches && s->batches[done].ready_at <= t) {
		s->ready += s->batches[done].count;
		s->starting -= s->batches[done].count;
		done++;
	}
	if (done == 0)
		return;
	memmove(s->batches, s->batches + done,
	        (s->n_batches - done) * sizeof *s->batches);
	s->n_batches -= done;
}

static void trace_at(sim *s, double t, double *rps, double *service_s)
{
	const glia_sim_trace *tr = s->trace;
	while (s->row + 1 < tr->n && tr->rows[s->row + 1].time_s <= t)
		s->row++;
	const glia_sim_trace_row *r = &tr->rows[s->row];
	if (r->time_s > t) { /* before the first row */
		*rps = 0;
		*service_s = s->opt->service_s;
		return;
	}
	*rps = r->rps;
	*service_s =
	    r->service_ms > 0 ? r->service_ms / 1000.0 : s->opt->service_s;
}

/* Estimated latency in ms of a request arriving at t, at most
 * networking.timeout (a request never stays longer: it gets 504); -1 when
 * no replica is ready or starting. */
static double estimate_latency(const sim *s, double t, double service_s)
{
	double wait;
	if (s->ready > 0) {
		wait = s->queue / (s->ready * s->conc / service_s);
	} else if (s->n_batches > 0) {
		const batch *b = &s->batches[0];
		wait = fmax(0, b->ready_at - t) +
		       s->queue / (b->count * s->conc / service_s);
	} else {
		return -1;
	}
	return 1000 * fmin(service_s + wait, s->timeout_s);
}

/* ---- the queue ---- */

static void queue_push(sim *s, double t, double amount)
{
	s->q_time[s->q_tail] = t;
	s->q_amount[s->q_tail++] = amount;
	s->queue += amount;
}

static void queue_pop_front(sim *s)
{
	s->queue -= s->q_amount[s->q_head++];
	if (s->q_head == s->q_tail || s->queue < 0)
		s->queue = 0;
}

/* Drops what has waited networking.timeout; returns how much (504s). */
static double queue_expire(sim *s, double t)
{
	double gone = 0;
	while (s->q_head < s->q_tail &&
	       t - s->q_time[s->q_head] >= s->timeout_s) {
		gone += s->q_amount[s->q_head];
		queue_pop_front(s);
	}
	return gone;
}

/* Takes up to `capacity` requests from the front; returns how many. */
static double queue_serve(sim *s, double capacity)
{
	double served = 0;
	while (s->q_head < s->q_tail && capacity - served > 0) {
		double *a = &s->q_amount[s->q_head];
		double k = fmin(*a, capacity - served);
		served += k;
		*a -= k;
		s->queue -= k;
		if (*a <= 0)
			queue_pop_front(s);
	}
	if (s->q_head == s->q_tail)
		s->queue = 0;
	return served;
}

/* Rejects up to `excess` of this second's arrivals still waiting (the
 * newest cohort, time t); returns how many. */
static double queue_reject(sim *s, double t, double excess)
{
	if (excess <= 0 || s->q_head == s->q_tail ||
	    s->q_time[s->q_tail - 1] != t)
		return 0;
	double *a = &s->q_amount[s->q_tail - 1];
	double k = fmin(*a, excess);
	*a -= k;
	s->queue -= k;
	if (*a <= 0)
		s->q_tail--;
	if (s->q_head == s->q_tail || s->queue < 0)
		s->queue = 0;
	return k;
}

/* One second of traffic: time out, wake, serve, reject, sample. */
static void step(sim *s, double t, glia_sim_second *sec)
{
	double rps, svc;
	glia_sim_summary *sum = &s->res->summary;

	promote_ready(s, t);
	trace_at(s, t, &rps, &svc);
	sum->timed_out += queue_expire(s, t);
	/* A request that finds no replica starts one at once; like the
	 * daemon, count it as a recommendation so that downscale
	 * stabilization keeps it for its period. */
	if (s->ready + s->starting == 0 && (rps > 0 || s->queue > 0)) {
		start_replicas(s, t, 1);
		glia_autoscale_history_add(&s->hist, t, 1);
	}
	queue_push(s, t, rps);
	double served = queue_serve(s, s->ready * s->conc / svc);
	double busy = fmin(served * svc, s->ready * s->conc);
	double limit = s->max_rc * (s->ready > 1 ? s->ready : 1);
	double rejected = queue_reject(s, t, busy + s->queue - limit);

	*sec = (glia_sim_second){
	    .rps = rps,
	    .inflight = busy + s->queue,
	    .queue = s->queue,
	    .latency_ms = estimate_latency(s, t, svc),
	    .requested = s->ready + s->starting,
	    .ready = s->ready,
	};
	glia_autoscale_window_add(&s->win, t, sec->inflight);
	s->lat[s->n_lat] = sec->latency_ms;
	s->weight[s->n_lat++] = rps - rejected;
	sum->arrived += rps;
	sum->served += served;
	sum->rejected += rejected;
	sum->replica_seconds += sec->requested;
}

static void record_tick(sim *s, double t, const glia_sim_second *sec,
                        int recommended, double avg, const char *reason)
{
	glia_sim_tick *k = &s->res->ticks[s->res->n_ticks++];
	*k = (glia_sim_tick){
	    .t = t,
	    .rps = sec->rps,
	    .avg = avg,
	    .recommended = recommended,
	    .requested = s->ready + s->starting,
	    .ready = s->ready,
	    .queue = sec->queue,
	    .latency_ms = sec->latency_ms,
	};
	snprintf(k->reason, sizeof k->reason, "%s", reason);
}

/* An autoscaling tick at t, after that second's sample. */
static void tick(sim *s, double t, const glia_sim_second *sec)
{
	glia_autoscale_decision d;
	int cur = s->ready + s->starting;
	double avg = glia_autoscale_window_mean(&s->win, t, s->p.window_s);

	glia_autoscale_recommend(&s->p, cur, avg, t, 0, &s->hist, &d);
	if (d.replicas > cur)
		start_replicas(s, t, d.replicas - cur);
	else if (d.replicas < cur)
		stop_replicas(s, cur - d.replicas);
	record_tick(s, t, sec, d.recommended, avg, d.reason);
}

typedef struct weighted {
	double lat, w;
} weighted;

static int cmp_weighted(const void *a, const void *b)
{
	double x = ((const weighted *)a)->lat, y = ((const weighted *)b)->lat;
	return x < y ? -1 : x > y;
}

/* Fills the latency percentiles from the per-second estimates, weighted
 * by the requests accepted in each second. */
static void latency_percentiles(sim *s)
{
	glia_sim_summary *sum = &s->res->summary;
	weighted *w = glia_calloc(s->n_lat + 1, sizeof *w);
	size_t n = 0;
	double total = 0;
	int unbounded = 0;

	sum->latency_p50_ms = sum->latency_p95_ms = sum->latency_max_ms = -1;
	for (size_t i = 0; i < s->n_lat; i++) {
		if (s->weight[i] <= 0)
			continue;
		if (s->lat[i] < 0)
			unbounded = 1;
		w[n++] = (weighted){s->lat[i], s->weight[i]};
		total += s->weight[i];
	}
	if (n == 0 || unbounded)
		goto done;
	qsort(w, n, sizeof *w, cmp_weighted);
	double acc = 0;
	for (size_t i = 0; i < n; i++) {
		acc += w[i].w;
		if (sum->latency_p50_ms < 0 && acc >= 0.5 * total)
			sum->latency_p50_ms = w[i].lat;
		if (sum->latency_p95_ms < 0 && acc >= 0.95 * total)
			sum->latency_p95_ms = w[i].lat;
	}
	sum->latency_max_ms = w[n - 1].lat;
done:
	free(w);
}

static int check_run_args(const glia_sim_trace *trace,
                          const glia_sim_options *opt, char *err, size_t errlen)
{
	if (!trace->n) {
		set_err(err, errlen, "the trace has no rows");
		return -1;
	}
	if (!(opt->service_s > 0) || !(opt->startup_s >= 0) ||
	    !(opt->interval_s >= 1)) {
		set_err(err, errlen,
		        "service time must be > 0, startup time >= 0 and the "
		        "interval at least 1s");
		return -1;
	}
	if (trace->rows[trace->n - 1].time_s > GLIA_SIM_MAX_SECONDS) {
		set_err(err, errlen, "the trace is longer than 7 days");
		return -1;
	}
	return 0;
}

static void sim_init(sim *s, const glia_api_spec *spec,
                     const glia_sim_trace *trace, const glia_sim_options *opt,
                     glia_sim_result *res, size_t n_seconds)
{
	memset(s, 0, sizeof *s);
	s->opt = opt;
	s->trace = trace;
	s->res = res;
	glia_autoscale_params_from_spec(spec, &s->p);
	s->conc = (double)spec->predictor.processes_per_replica *
	          spec->predictor.threads_per_process;
	s->max_rc = spec->autoscaling.max_replica_concurrency;
	s->ready = spec->autoscaling.init_replicas;
	s->timeout_s = spec->networking.timeout_ms / 1000.0;
	s->q_time = glia_calloc(n_seconds, sizeof *s->q_time);
	s->q_amount = glia_calloc(n_seconds, sizeof *s->q_amount);
	glia_autoscale_window_init(&s->win,
	                           glia_autoscale_window_cap(&s->p, 1));
	glia_autoscale_history_init(
	    &s->hist, glia_autoscale_history_cap(&s->p, opt->interval_s));
	s->lat = glia_calloc(n_seconds, sizeof *s->lat);
	s->weight = glia_calloc(n_seconds, sizeof *s->weight);
	s->next_tick = opt->interval_s;
	res->seconds = glia_calloc(n_seconds, sizeof *res->seconds);
	res->n_seconds = n_seconds;
	res->ticks = glia_calloc((size_t)(n_seconds / opt->interval_s) + 2,
	                         sizeof *res->ticks);
}

static void sim_free(sim *s)
{
	glia_autoscale_window_free(&s->win);
	glia_autoscale_history_free(&s->hist);
	free(s->batches);
	free(s->q_time);
	free(s->q_amount);
	free(s->lat);
	free(s->weight);
}

static void summarize(sim *s)
{
	glia_sim_result *res = s->res;
	glia_sim_summary *sum = &res->summary;
	sum->duration_s = (double)res->n_seconds;
	sum->queued_at_end = s->queue;
	for (size_t i = 0; i < res->n_seconds; i++) {
		if (res->seconds[i].requested > sum->peak_requested)
			sum->peak_requested = res->seconds[i].requested;
		if (res->seconds[i].ready > sum->peak_ready)
			sum->peak_ready = res->seconds[i].ready;
	}
	for (size_t i = 0; i < res->n_ticks; i++)
		if (res->ticks[i].requested > sum->peak_requested)
			sum->peak_requested = res->ticks[i].requested;
	latency_percentiles(s);
}

int glia_sim_run(const glia_api_spec *spec, const glia_sim_trace *trace,
                 const glia_sim_options *opt, glia_sim_result *res, char *err,
                 size_t errlen)
{
	sim s;
	char start[64];
	memset(res, 0, sizeof *res);
	if (check_run_args(trace, opt, err, errlen) < 0)
		return -1;
	size_t n_seconds = (size_t)floor(trace->rows[trace->n - 1].time_s) + 1;
	sim_init(&s, spec, trace, opt, res, n_seconds);
	for (size_t i = 0; i < n_seconds; i++) {
		double t = (double)i;
		glia_sim_second *sec = &res->seconds[i];
		step(&s, t, sec);
		if (i == 0) {
			snprintf(start, sizeof start, "start: init_replicas %d",
			         spec->autoscaling.init_replicas);
			record_tick(&s, t, sec, spec->autoscaling.init_replicas,
			            sec->inflight, start);
		} else if (t >= s.next_tick) {
			tick(&s, t, sec);
			s.next_tick += opt->interval_s;
		}
	}
	summarize(&s);
	sim_free(&s);
	return 0;
}

void glia_sim_result_free(glia_sim_result *res)
{
	free(res->seconds);
	free(res->ticks);
	memset(res, 0, sizeof *res);
}

/* ---- table and JSON ---- */

static void format_latency(double ms, char *out, size_t len)
{
	if (ms < 0)
		snprintf(out, len, "-");
	else
		snprintf(out, len, "%.0f", ms);
}

void glia_sim_print_table(FILE *f, const glia_sim_result *res)
{
	char lat[32];
	fprintf(f, "%7s %8s %9s %4s %4s %5s %9s %10s  %s\n", "time", "rps",
	        "in-flight", "rec", "req", "ready", "queue", "latency_ms",
	        "reason");
	for (size_t i = 0; i < res->n_ticks; i++) {
		const glia_sim_tick *k = &res->ticks[i];
		format_latency(k->latency_ms, lat, sizeof lat);
		fprintf(f, "%6.0fs %8.1f %9.2f %4d %4d %5d %9.1f %10s  %s\n",
		        k->t, k->rps, k->avg, k->recommended, k->requested,
		        k->ready, k->queue, lat, k->reason);
	}
}

void glia_sim_print_summary(FILE *f, const glia_sim_result *res)
{
	const glia_sim_summary *s = &res->summary;
	char dur[32], p50[32], p95[32], max[32];
	glia_autoscale_format_period(s->duration_s, dur, sizeof dur);
	format_latency(s->latency_p50_ms, p50, sizeof p50);
	format_latency(s->latency_p95_ms, p95, sizeof p95);
	format_latency(s->latency_max_ms, max, sizeof max);
	fprintf(f, "summary over %s:\n", dur);
	fprintf(f, "  replica-seconds    %.0f (%.2f replicas on average)\n",
	        s->replica_seconds,
	        s->duration_s > 0 ? s->replica_seconds / s->duration_s : 0);
	fprintf(f, "  peak replicas      %d requested, %d ready\n",
	        s->peak_requested, s->peak_ready);
	fprintf(f,
	        "  requests           %.0f arrived, %.0f served, %.0f "
	        "rejected (503), %.0f timed out (504), %.0f queued at the "
	        "end\n",
	        s->arrived, s->served, s->rejected, s->timed_out,
	        s->queued_at_end);
	fprintf(f, "  est. latency (ms)  p50 %s, p95 %s, max %s\n", p50, p95,
	        max);
}

static json_t *json_latency(double ms)
{
	return ms < 0 ? json_null() : json_real(round(ms * 10) / 10);
}

static json_t *json_settings(const glia_api_spec *spec,
                             const glia_sim_options *opt)
{
	return json_pack(
	    "{s:i, s:i, s:i, s:f, s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:f, "
	    "s:i, s:f, s:f, s:f}",
	    "min_replicas", spec->autoscaling.min_replicas, "max_replicas",
	    spec->autoscaling.max_replicas, "init_replicas",
	    spec->autoscaling.init_replicas, "target_replica_concurrency",
	    spec->autoscaling.target_replica_concurrency,
	    "max_replica_concurrency",
	    spec->autoscaling.max_replica_concurrency, "window_s",
	    spec->autoscaling.window_ms / 1000.0,
	    "downscale_stabilization_period_s",
	    spec->autoscaling.downscale_stabilization_period_ms / 1000.0,
	    "upscale_stabilization_period_s",
	    spec->autoscaling.upscale_stabilization_period_ms / 1000.0,
	    "max_downscale_factor", spec->autoscaling.max_downscale_factor,
	    "max_upscale_factor", spec->autoscaling.max_upscale_factor,
	    "downscale_tolerance", spec->autoscaling.downscale_tolerance,
	    "upscale_tolerance", spec->autoscaling.upscale_tolerance,
	    "replica_concurrency",
	    spec->predictor.processes_per_replica *
	        spec->predictor.threads_per_process,
	    "service_time_s", opt->service_s, "startup_time_s", opt->startup_s,
	    "interval_s", opt->interval_s);
}

static json_t *json_tick(const glia_sim_tick *k)
{
	return json_pack(
	    "{s:f, s:f, s:f, s:i, s:i, s:i, s:f, s:o, s:s}", "t", k->t, "rps",
	    k->rps, "avg_inflight", round(k->avg * 100) / 100, "recommended",
	    k->recommended, "requested", k->requested, "ready", k->ready,
	    "queue", round(k->queue * 10) / 10, "latency_ms",
	    json_latency(k->latency_ms), "reason", k->reason);
}

static json_t *json_summary(const glia_sim_summary *s)
{
	return json_pack(
	    "{s:f, s:f, s:i, s:i, s:f, s:f, s:f, s:f, s:f, s:o, s:o, s:o}",
	    "duration_s", s->duration_s, "replica_seconds", s->replica_seconds,
	    "peak_requested", s->peak_requested, "peak_ready", s->peak_ready,
	    "arrived", round(s->arrived), "served", round(s->served),
	    "rejected", round(s->rejected), "timed_out", round(s->timed_out),
	    "queued_at_end", round(s->queued_at_end), "latency_p50_ms",
	    json_latency(s->latency_p50_ms), "latency_p95_ms",
	    json_latency(s->latency_p95_ms), "latency_max_ms",
	    json_latency(s->latency_max_ms));
}

json_t *glia_sim_to_json(const glia_api_spec *spec, const glia_sim_options *opt,
                         const glia_sim_result *res)
{
	json_t *ticks = json_array();
	for (size_t i = 0; i < res->n_ticks; i++)
		json_array_append_new(ticks, json_tick(&res->ticks[i]));
	return json_pack("{s:s, s:o, s:o, s:o}", "api", spec->name, "settings",
	                 json_settings(spec, opt), "ticks", ticks, "summary",
	                 json_summary(&res->summary));
}

/* ---- SVG plot ---- */

#define SVG_W       960
#define SVG_LEFT    72
#define SVG_RIGHT   24
#define SVG_TOP     104
#define SVG_PANEL_H 130
#define SVG_GAP     34
#define SVG_BOTTOM  46
#define SVG_PLOT_W  (SVG_W - SVG_LEFT - SVG_RIGHT)

typedef enum { S_RPS, S_REQUESTED, S_READY, S_QUEUE, S_LATENCY } series;

typedef struct panel {
	const char *label;
	double top;  /* y of the panel's top edge */
	double ymax; /* value at the top edge */
	double step; /* between y ticks */
} panel;

static double series_value(const glia_sim_second *s, series which)
{
	switch (which) {
	case S_RPS:
		return s->rps;
	case S_REQUESTED:
		return s->requested;
	case S_READY:
		return s->ready;
	case S_QUEUE:
		return s->queue;
	case S_LATENCY:
		return s->latency_ms;
	}
	return 0;
}

/* 1, 2 or 5 times a power of ten, at least x. */
static double nice_step(double x)
{
	if (!(x > 0))
		return 1;
	double mag = pow(10, floor(log10(x)));
	double f = x / mag;
	return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

static void panel_scale(panel *pn, double max, int integer)
{
	pn->step = nice_step(max / 4);
	if (integer && pn->step < 1)
		pn->step = 1;
	pn->ymax = ceil(max / pn->step - 1e-9) * pn->step;
	if (pn->ymax <= 0)
		pn->ymax = pn->step;
}

static double series_max(const glia_sim_result *res, series which)
{
	double m = 0;
	for (size_t i = 0; i < res->n_seconds; i++)
		m = fmax(m, series_value(&res->seconds[i], which));
	return m;
}

static double x_of(const glia_sim_result *res, double t)
{
	return SVG_LEFT + SVG_PLOT_W * t / (double)res->n_seconds;
}

static double y_of(const panel *pn, double v)
{
	return pn->top + SVG_PANEL_H * (1 - fmin(v, pn->ymax) / pn->ymax);
}

/* A step line over the seconds; when there are more seconds than pixels,
 * each pixel column shows the largest value in it. Negative values (no
 * latency estimate) break the line. */
static void svg_series(FILE *f, const glia_sim_result *res, const panel *pn,
                       series which, const char *style)
{
	size_t n = res->n_seconds;
	size_t buckets = n < SVG_PLOT_W ? n : SVG_PLOT_W;
	int pen = 0;
	fprintf(f, "<path %s fill=\"none\" d=\"", style);
	for (size_t b = 0; b < buckets; b++) {
		size_t lo = b * n / buckets, hi = (b + 1) * n / buckets;
		double v = -1;
		for (size_t i = lo; i < hi; i++)
			v = fmax(v, series_value(&res->seconds[i], which));
		if (v < 0) {
			pen = 0;
			continue;
		}
		double x0 = x_of(res, (double)lo), x1 = x_of(res, (double)hi);
		if (pen)
			fprintf(f, "V%.1f", y_of(pn, v));
		else
			fprintf(f, "M%.1f %.1f", x0, y_of(pn, v));
		fprintf(f, "H%.1f", x1);
		pen = 1;
	}
	fprintf(f, "\"/>\n");
}

static void svg_y_axis(FILE *f, const panel *pn)
{
	fprintf(f,
	        "<rect x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%d\" "
	        "fill=\"none\" stroke=\"#888\"/>\n",
	        SVG_LEFT, pn->top, SVG_PLOT_W, SVG_PANEL_H);
	for (double v = 0; v <= pn->ymax + pn->step / 2; v += pn->step) {
		double y = y_of(pn, v);
		fprintf(f,
		        "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
		        "stroke=\"#e4e4e4\"/>\n"
		        "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g"
		        "</text>\n",
		        SVG_LEFT, y, SVG_LEFT + SVG_PLOT_W, y, SVG_LEFT - 6,
		        y + 4, v);
	}
	fprintf(f, "<text x=\"%d\" y=\"%.1f\" font-weight=\"bold\">%s</text>\n",
	        SVG_LEFT + 6, pn->top - 6, pn->label);
}

/* A time step with at most about ten ticks across the plot. */
static double time_step(double duration)
{
	static const double steps[] = {1,    2,    5,     10,    15,    30,
	                               60,   120,  300,   600,   900,   1800,
	                               3600, 7200, 10800, 21600, 43200, 86400};
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
		if (duration / steps[i] <= 10)
			return steps[i];
	return 86400 * ceil(duration / 86400 / 10);
}

static void svg_x_axis(FILE *f, const glia_sim_result *res, const panel *panels,
                       size_t n_panels)
{
	double dur = (double)res->n_seconds;
	double step = time_step(dur);
	double bottom = panels[n_panels - 1].top + SVG_PANEL_H;
	char label[32];
	for (double t = 0; t <= dur + 1e-9; t += step) {
		double x = x_of(res, t);
		for (size_t i = 0; i < n_panels; i++)
			fprintf(f,
			        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
			        "y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n",
			        x, panels[i].top, x,
			        panels[i].top + SVG_PANEL_H);
		glia_autoscale_format_period(t, label, sizeof label);
		fprintf(f,
		        "<text x=\"%.1f\" y=\"%.1f\" "
		        "text-anchor=\"middle\">%s</text>\n",
		        x, bottom + 16, label);
	}
	fprintf(
	    f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"middle\">time</text>\n",
	    SVG_LEFT + SVG_PLOT_W / 2, bottom + 36);
}

static void svg_title(FILE *f, const glia_api_spec *spec,
                      const glia_sim_options *opt, const glia_sim_result *res)
{
	char win[32], down[32], up[32], svc[32], start[32], tick[32];
	const typeof(spec->autoscaling) *a = &spec->autoscaling;
	glia_autoscale_format_period(a->window_ms / 1000.0, win, sizeof win);
	glia_autoscale_format_period(
	    a->downscale_stabilization_period_ms / 1000.0, down, sizeof down);
	glia_autoscale_format_period(
	    a->upscale_stabilization_period_ms / 1000.0, up, sizeof up);
	glia_autoscale_format_period(opt->service_s, svc, sizeof svc);
	glia_autoscale_format_period(opt->startup_s, start, sizeof start);
	glia_autoscale_format_period(opt->interval_s, tick, sizeof tick);
	/* API names are [a-z0-9-]: nothing to escape */
	fprintf(f,
	        "<text x=\"%d\" y=\"22\" font-size=\"16\" "
	        "font-weight=\"bold\">%s: autoscaling simulation</text>\n",
	        SVG_LEFT, spec->name);
	fprintf(f,
	        "<text x=\"%d\" y=\"42\">replicas %d..%d (init %d), target %g "
	        "in flight per replica (%d slot(s) each), "
	        "max_replica_concurrency %d, window %s</text>\n",
	        SVG_LEFT, a->min_replicas, a->max_replicas, a->init_replicas,
	        a->target_replica_concurrency,
	        spec->predictor.processes_per_replica *
	            spec->predictor.threads_per_process,
	        a->max_replica_concurrency, win);
	fprintf(f,
	        "<text x=\"%d\" y=\"58\">stabilization down %s / up %s, max "
	        "factors down %g / up %g, tolerances down %g / up %g</text>\n",
	        SVG_LEFT, down, up, a->max_downscale_factor,
	        a->max_upscale_factor, a->downscale_tolerance,
	        a->upscale_tolerance);
	fprintf(f,
	        "<text x=\"%d\" y=\"74\">service time %s, startup %s, tick %s; "
	        "%.0f replica-seconds, peak %d replicas, %.0f rejected (503), "
	        "%.0f timed out (504)</text>\n",
	        SVG_LEFT, svc, start, tick, res->summary.replica_seconds,
	        res->summary.peak_requested, res->summary.rejected,
	        res->summary.timed_out);
}

static void svg_body(FILE *f, const glia_api_spec *spec,
                     const glia_sim_options *opt, const glia_sim_result *res)
{
	panel pn[4] = {{.label = "load (requests/s)"},
	               {.label = "replicas: requested (dashed), ready"},
	               {.label = "queue (requests waiting)"},
	               {.label = "estimated latency (ms)"}};
	for (size_t i = 0; i < 4; i++)
		pn[i].top = SVG_TOP + (double)i * (SVG_PANEL_H + SVG_GAP);
	panel_scale(&pn[0], series_max(res, S_RPS), 0);
	panel_scale(&pn[1], series_max(res, S_REQUESTED), 1);
	panel_scale(&pn[2], series_max(res, S_QUEUE), 0);
	panel_scale(&pn[3], series_max(res, S_LATENCY), 0);
	svg_title(f, spec, opt, res);
	for (size_t i = 0; i < 4; i++)
		svg_y_axis(f, &pn[i]);
	svg_x_axis(f, res, pn, 4);
	svg_series(f, res, &pn[0], S_RPS, "stroke=\"#1f77b4\"");
	svg_series(f, res, &pn[1], S_READY,
	           "stroke=\"#2ca02c\" stroke-width=\"2\"");
	svg_series(f, res, &pn[1], S_REQUESTED,
	           "stroke=\"#ff7f0e\" stroke-dasharray=\"5 3\"");
	svg_series(f, res, &pn[2], S_QUEUE, "stroke=\"#9467bd\"");
	svg_series(f, res, &pn[3], S_LATENCY, "stroke=\"#d62728\"");
}

int glia_sim_write_svg(const char *path, const glia_api_spec *spec,
                       const glia_sim_options *opt, const glia_sim_result *res,
                       char *err, size_t errlen)
{
	int height = SVG_TOP + 4 * SVG_PANEL_H + 3 * SVG_GAP + SVG_BOTTOM;
	FILE *f = fopen(path, "w");
	if (!f)
		goto fail;
	fprintf(
	    f,
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
	    "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" "
	    "font-size=\"11\">\n"
	    "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
	    SVG_W, height, SVG_W, height);
	if (res->n_seconds > 0)
		svg_body(f, spec, opt, res);
	fprintf(f, "</svg>\n");
	if (ferror(f)) {
		fclose(f);
		errno = EIO;
		goto fail;
	}
	if (fclose(f) != 0)
		goto fail;
	return 0;
fail:
	set_err(err, errlen, "%s: %s", path, strerror(errno));
	return -1;
}

/* ---- the command ---- */

static const char usage[] =
    "usage: glia autoscale simulate FILE --trace TRACE.csv [--api NAME]\n"
    "         [--service-time DURATION] [--startup-time DURATION]\n"
    "         [--interval DURATION] [--plot OUT.svg] [-o json]\n"
    "\n"
    "Replays a request-rate trace through an API's autoscaling settings\n"
    "and prints the autoscaler's decisions tick by tick.\n"
    "\n"
    "  --trace FILE           CSV: time_s,rps[,service_time_ms]\n"
    "  --api NAME             the API in FILE (default the first)\n"
    "  --service-time D       per-request service time (default 100ms)\n"
    "  --startup-time D       from requested to ready (default 5s)\n"
    "  --interval D           autoscaling tick (default 10s)\n"
    "  --plot OUT.svg         the plot (default TRACE.svg next to the "
    "trace)\n"
    "  -o json                per-tick rows and summary as JSON\n";

typedef struct sim_args {
	const char *file, *trace, *api, *plot;
	glia_sim_options opt;
	int json;
} sim_args;

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "glia: autoscale simulate: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n\n%s", usage);
	return 2;
}

/* --service-time and friends. min_ms: the smallest value accepted. */
static int duration_arg(const char *name, const char *v, int64_t min_ms,
                        double *out)
{
	int64_t ms;
	if (glia_parse_duration_ms(v, &ms) < 0 || ms < min_ms) {
		fprintf(stderr,
		        "glia: autoscale simulate: %s: \"%s\" is not a "
		        "duration %s (like 100ms, 5s, 1m)\n",
		        name, v,
		        min_ms == 0   ? ">= 0"
		        : min_ms == 1 ? "> 0"
		                      : ">= 1s");
		return -1;
	}
	*out = (double)ms / 1000.0;
	return 0;
}

/* Matches "--name VALUE" or "--name=VALUE"; advances *i past the value. */
static int opt_value(int argc, char **argv, int *i, const char *name,
                     const char **value)
{
	size_t n = strlen(name);
	if (strncmp(argv[*i], name, n) != 0)
		return 0;
	if (argv[*i][n] == '=') {
		*value = argv[*i] + n + 1;
		return 1;
	}
	if (argv[*i][n] != '\0')
		return 0;
	if (*i + 1 >= argc)
		return -1;
	*value = argv[++*i];
	return 1;
}

typedef enum {
	A_TRACE,
	A_API,
	A_PLOT,
	A_OUTPUT,
	A_SERVICE,
	A_STARTUP,
	A_INTERVAL
} arg_id;

static const struct {
	const char *name;
	arg_id id;
} arg_names[] = {
    {"--trace", A_TRACE},
    {"--api", A_API},
    {"--plot", A_PLOT},
    {"-o", A_OUTPUT},
    {"--output", A_OUTPUT},
    {"--service-time", A_SERVICE},
    {"--startup-time", A_STARTUP},
    {"--interval", A_INTERVAL},
};

/* Stores an option's value: 0, or the exit status of a usage error. */
static int store_arg(arg_id id, const char *name, const char *v, sim_args *a)
{
	switch (id) {
	case A_TRACE:
		a->trace = v;
		return 0;
	case A_API:
		a->api = v;
		return 0;
	case A_PLOT:
		a->plot = v;
		return 0;
	case A_OUTPUT:
		if (strcmp(v, "json") && strcmp(v, "table"))
			return usage_error("-o takes json or table, not \"%s\"",
			                   v);
		a->json = strcmp(v, "json") == 0;
		return 0;
	case A_SERVICE:
		return duration_arg(name, v, 1, &a->opt.service_s) < 0 ? 2 : 0;
	case A_STARTUP:
		return duration_arg(name, v, 0, &a->opt.startup_s) < 0 ? 2 : 0;
	case A_INTERVAL:
		return duration_arg(name, v, 1000, &a->opt.interval_s) < 0 ? 2
		                                                           : 0;
	}
	return 2;
}

/* 0: an option and its value, stored; 1: not such an option; 2: usage
 * error. */
static int parse_opt(int argc, char **argv, int *i, sim_args *a)
{
	for (size_t k = 0; k < sizeof arg_names / sizeof arg_names[0]; k++) {
		const char *v = NULL;
		int r = opt_value(argc, argv, i, arg_names[k].name, &v);
		if (r < 0)
			return usage_error("%s needs a value",
			                   arg_names[k].name);
		if (r > 0)
			return store_arg(arg_names[k].id, arg_names[k].name, v,
			                 a);
	}
	return 1;
}

/* 0 to run, -1 after printing help (exit 0), else the exit status. */
static int parse_args(int argc, char **argv, sim_args *a)
{
	memset(a, 0, sizeof *a);
	a->opt = (glia_sim_options){
	    .service_s = 0.1, .startup_s = 5, .interval_s = 10};
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage, stdout);
			return -1;
		}
		int r = parse_opt(argc, argv, &i, a);
		if (r == 2)
			return 2;
		if (r == 0)
			continue;
		if (argv[i][0] == '-' && argv[i][1] != '\0')
			return usage_error("unknown option %s", argv[i]);
		if (a->file)
			return usage_error("unexpected argument \"%s\"",
			                   argv[i]);
		a->file = argv[i];
	}
	if (!a->file)
		return usage_error("%s", "missing FILE (the API's YAML file)");
	if (!a->trace)
		return usage_error("%s", "missing --trace TRACE.csv");
	return 0;
}

/* TRACE.csv -> TRACE.svg in the same directory. */
static char *default_plot_path(const char *trace)
{
	size_t n = strlen(trace);
	const char *slash = strrchr(trace, '/');
	const char *dot = strrchr(trace, '.');
	if (dot && (!slash || dot > slash + 1))
		n = (size_t)(dot - trace);
	return glia_sprintf("%.*s.svg", (int)n, trace);
}

static const glia_api_spec *pick_api(const char *file, const char *name,
                                     const glia_api_spec *specs, size_t n)
{
	if (!name)
		return &specs[0];
	for (size_t i = 0; i < n; i++)
		if (strcmp(specs[i].name, name) == 0)
			return &specs[i];
	fprintf(stderr, "glia: %s: no API named \"%s\"; it has:", file, name);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "%s %s", i ? "," : "", specs[i].name);
	fprintf(stderr, "\n");
	return NULL;
}

static char *read_or_complain(const char *path, size_t max, size_t *len)
{
	char *text = glia_read_file(path, max, len);
	if (!text && errno == EFBIG)
		fprintf(stderr, "glia: %s: larger than %zu MiB\n", path,
		        max >> 20);
	else if (!text)
		fprintf(stderr, "glia: %s: %s\n", path, strerror(errno));
	return text;
}

static int load_config(const char *file, glia_api_spec **specs, size_t *n)
{
	size_t len;
	glia_config_error cerr;
	char *text = read_or_complain(file, CONFIG_FILE_MAX, &len);
	if (!text)
		return -1;
	/* no project dir: the predictor need not exist to tune settings */
	int r = glia_config_parse(text, len, file, NULL, specs, n, &cerr);
	free(text);
	if (r < 0)
		fprintf(stderr, "glia: %s\n", cerr.message);
	return r;
}

static int load_trace(const char *file, glia_sim_trace *trace)
{
	size_t len;
	char err[512];
	char *text = read_or_complain(file, TRACE_FILE_MAX, &len);
	if (!text)
		return -1;
	int r = glia_sim_trace_parse(text, len, file, trace, err, sizeof err);
	free(text);
	if (r < 0)
		fprintf(stderr, "glia: %s\n", err);
	return r;
}

static int print_json(const glia_api_spec *spec, const sim_args *a,
                      const glia_sim_result *res, const char *plot)
{
	json_t *j = glia_sim_to_json(spec, &a->opt, res);
	json_object_set_new(j, "trace", json_string(a->trace));
	json_object_set_new(j, "plot", json_string(plot));
	int r = json_dumpf(j, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
	json_decref(j);
	fputc('\n', stdout);
	return r;
}

static int report(const glia_api_spec *spec, const sim_args *a,
                  const glia_sim_result *res)
{
	char err[512];
	char *plot =
	    a->plot ? glia_strdup(a->plot) : default_plot_path(a->trace);
	int ret = 1;
	if (glia_sim_write_svg(plot, spec, &a->opt, res, err, sizeof err) < 0) {
		fprintf(stderr, "glia: %s\n", err);
		goto done;
	}
	if (a->json) {
		if (print_json(spec, a, res, plot) < 0)
			goto done;
	} else {
		glia_sim_print_table(stdout, res);
		fputc('\n', stdout);
		glia_sim_print_summary(stdout, res);
		printf("plot: %s\n", plot);
	}
	ret = 0;
done:
	free(plot);
	return ret;
}

int glia_autoscale_simulate_main(int argc, char **argv)
{
	sim_args a;
	glia_api_spec *specs = NULL;
	size_t n_specs = 0;
	glia_sim_trace trace = {0};
	glia_sim_result res = {0};
	char err[512];
	int ret = 1;

	int r = parse_args(argc, argv, &a);
	if (r != 0)
		return r < 0 ? 0 : r;
	if (load_config(a.file, &specs, &n_specs) < 0 ||
	    load_trace(a.trace, &trace) < 0)
		goto done;
	const glia_api_spec *spec = pick_api(a.file, a.api, specs, n_specs);
	if (!spec)
		goto done;
	if (glia_sim_run(spec, &trace, &a.opt, &res, err, sizeof err) < 0) {
		fprintf(stderr, "glia: %s\n", err);
		goto done;
	}
	ret = report(spec, &a, &res);
done:
	fflush(stdout);
	glia_sim_result_free(&res);
	glia_sim_trace_free(&trace);
	if (specs)
		glia_api_specs_free(specs, n_specs);
	return ret;
}
