/* autoscale.c: the replica-count recommendation of SPEC section 5 (see
 * autoscale.h and docs/autoscaling.md). Pure: the caller supplies the time,
 * the in-flight samples and the current replica count. */
#include "autoscale.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util.h"

/* Products like 10 * 1.1 come out as 11.000000000000002; without this slack
 * ceil() would give 12. */
#define CEIL_EPS 1e-9

/* Times at or after this are wall-clock seconds (printed as HH:MM:SS UTC);
 * smaller ones are simulated seconds since the start (printed as t=<s>s). */
#define WALL_CLOCK_MIN 1e9

void glia_autoscale_params_from_spec(const glia_api_spec *spec,
                                     glia_autoscale_params *p)
{
	memset(p, 0, sizeof *p);
	p->min_replicas = spec->autoscaling.min_replicas;
	p->max_replicas = spec->autoscaling.max_replicas;
	p->target_replica_concurrency =
	    spec->autoscaling.target_replica_concurrency;
	p->window_s = (double)spec->autoscaling.window_ms / 1000.0;
	p->downscale_stabilization_s =
	    (double)spec->autoscaling.downscale_stabilization_period_ms /
	    1000.0;
	p->upscale_stabilization_s =
	    (double)spec->autoscaling.upscale_stabilization_period_ms / 1000.0;
	p->max_downscale_factor = spec->autoscaling.max_downscale_factor;
	p->max_upscale_factor = spec->autoscaling.max_upscale_factor;
	p->downscale_tolerance = spec->autoscaling.downscale_tolerance;
	p->upscale_tolerance = spec->autoscaling.upscale_tolerance;
}

size_t glia_autoscale_window_cap(const glia_autoscale_params *p,
                                 double sample_period_s)
{
	if (sample_period_s <= 0)
		sample_period_s = 1;
	return (size_t)ceil(p->window_s / sample_period_s) + 2;
}

size_t glia_autoscale_history_cap(const glia_autoscale_params *p,
                                  double interval_s)
{
	double longest =
	    fmax(p->downscale_stabilization_s, p->upscale_stabilization_s);
	if (interval_s <= 0)
		interval_s = 1;
	return (size_t)ceil(longest / interval_s) + 2;
}

/* ---- ring buffers: index i (0 = oldest) lives at (head + i) % cap ---- */

/* The slot for a new entry; drops the oldest when full. */
static size_t ring_push(size_t *head, size_t *n, size_t cap)
{
	size_t pos;
	if (*n < cap) {
		pos = (*head + *n) % cap;
		(*n)++;
	} else {
		pos = *head;
		*head = (*head + 1) % cap;
	}
	return pos;
}

static int in_period(double t, double now, double period)
{
	return t > now - period && t <= now;
}

void glia_autoscale_window_init(glia_autoscale_window *w, size_t cap)
{
	if (cap == 0)
		cap = 1;
	w->t = glia_calloc(cap, sizeof *w->t);
	w->v = glia_calloc(cap, sizeof *w->v);
	w->cap = cap;
	w->head = 0;
	w->n = 0;
}

void glia_autoscale_window_free(glia_autoscale_window *w)
{
	free(w->t);
	free(w->v);
	memset(w, 0, sizeof *w);
}

void glia_autoscale_window_add(glia_autoscale_window *w, double t, double v)
{
	size_t pos = ring_push(&w->head, &w->n, w->cap);
	w->t[pos] = t;
	w->v[pos] = v;
}

double glia_autoscale_window_mean(const glia_autoscale_window *w, double now,
                                  double window_s)
{
	double sum = 0;
	size_t count = 0;
	for (size_t i = 0; i < w->n; i++) {
		size_t k = (w->head + i) % w->cap;
		if (!in_period(w->t[k], now, window_s))
			continue;
		sum += w->v[k];
		count++;
	}
	return count ? sum / (double)count : 0;
}

void glia_autoscale_history_init(glia_autoscale_history *h, size_t cap)
{
	if (cap == 0)
		cap = 1;
	h->t = glia_calloc(cap, sizeof *h->t);
	h->rec = glia_calloc(cap, sizeof *h->rec);
	h->cap = cap;
	h->head = 0;
	h->n = 0;
}

void glia_autoscale_history_free(glia_autoscale_history *h)
{
	free(h->t);
	free(h->rec);
	memset(h, 0, sizeof *h);
}

void glia_autoscale_history_add(glia_autoscale_history *h, double t, int rec)
{
	size_t pos = ring_push(&h->head, &h->n, h->cap);
	h->t[pos] = t;
	h->rec[pos] = rec;
}

/* Largest (sign 1) or smallest (sign -1) recommendation in
 * (now - period, now]; `fallback` when there is none. */
static int history_extreme(const glia_autoscale_history *h, double now,
                           double period, int sign, int fallback)
{
	int best = fallback, found = 0;
	for (size_t i = 0; i < h->n; i++) {
		size_t k = (h->head + i) % h->cap;
		if (!in_period(h->t[k], now, period))
			continue;
		if (!found || sign * h->rec[k] > sign * best)
			best = h->rec[k];
		found = 1;
	}
	return best;
}

/* When the last recommendation in the period that blocks a move past
 * `replicas` leaves it: entries >= replicas (sign 1, downscale) or
 * <= replicas (sign -1, upscale). */
static double history_release(const glia_autoscale_history *h, double now,
                              double period, int sign, int replicas)
{
	double until = now;
	for (size_t i = 0; i < h->n; i++) {
		size_t k = (h->head + i) % h->cap;
		if (!in_period(h->t[k], now, period))
			continue;
		if (sign * h->rec[k] >= sign * replicas)
			until = fmax(until, h->t[k] + period);
	}
	return until;
}

/* ---- formatting ---- */

void glia_autoscale_format_period(double seconds, char *out, size_t len)
{
	double whole = round(seconds);
	if (seconds <= 0) {
		snprintf(out, len, "0s");
		return;
	}
	if (seconds < 1) {
		snprintf(out, len, "%gms", round(seconds * 1e6) / 1e3);
		return;
	}
	if (fabs(seconds - whole) > 1e-6) {
		snprintf(out, len, "%gs", seconds);
		return;
	}
	long s = (long)whole;
	long h = s / 3600, m = s / 60 % 60, sec = s % 60;
	int n = 0;
	out[0] = '\0';
	if (h)
		n += snprintf(out + n, len - (size_t)n, "%ldh", h);
	if (m && (size_t)n < len)
		n += snprintf(out + n, len - (size_t)n, "%ldm", m);
	if (sec && (size_t)n < len)
		snprintf(out + n, len - (size_t)n, "%lds", sec);
}

/* "12:03:10 UTC" for wall-clock times, "t=310s" for simulated ones. */
static void format_time(double t, char *out, size_t len)
{
	if (t >= WALL_CLOCK_MIN) {
		time_t secs = (time_t)ceil(t);
		struct tm tm;
		gmtime_r(&secs, &tm);
		snprintf(out, len, "%02d:%02d:%02d UTC", tm.tm_hour, tm.tm_min,
		         tm.tm_sec);
	} else {
		snprintf(out, len, t == floor(t) ? "t=%.0fs" : "t=%.1fs", t);
	}
}

/* ---- the recommendation ---- */

/* What the steps before stabilization found, for the reason text. */
typedef struct stage {
	int want;      /* ceil(raw), or cur when within a tolerance band */
	int tolerated; /* ceil(raw) != cur but raw was within a band */
	int stepped;   /* want after the max_*_factor step bounds */
} stage;

static int ceil_int(double x)
{
	double c = ceil(x - CEIL_EPS);
	if (c > (double)INT_MAX)
		return INT_MAX;
	if (c < (double)INT_MIN)
		return INT_MIN;
	return (int)c;
}

static int clamp(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* Tolerance bands, then the step bounds, then [min_replicas, max_replicas]. */
static int bounded_recommendation(const glia_autoscale_params *p, int cur,
                                  double raw, stage *st)
{
	double c = cur;
	int rec = ceil_int(raw);
	st->tolerated = 0;
	if ((c * (1 - p->downscale_tolerance) < raw && raw < c) ||
	    (c < raw && raw < c * (1 + p->upscale_tolerance))) {
		st->tolerated = rec != cur;
		rec = cur;
	}
	st->want = rec;
	int down = ceil_int(c * p->max_downscale_factor);
	int up = ceil_int(c * p->max_upscale_factor);
	int lo = cur - 1 < down ? cur - 1 : down;
	int hi = cur < INT_MAX && cur + 1 > up ? cur + 1 : up;
	st->stepped = clamp(rec, lo, hi);
	return clamp(st->stepped, p->min_replicas, p->max_replicas);
}

/* "; wants N, step limited by ..." when a bound cut the recommendation
 * short; "" otherwise. */
static void limit_note(const glia_autoscale_params *p, const stage *st, int rec,
                       char *out, size_t len)
{
	out[0] = '\0';
	if (st->want > st->stepped && st->stepped == rec)
		snprintf(out, len,
		         "; wants %d, step limited by "
		         "max_upscale_factor %g",
		         st->want, p->max_upscale_factor);
	else if (st->want < st->stepped && st->stepped == rec)
		snprintf(out, len,
		         "; wants %d, step limited by "
		         "max_downscale_factor %g",
		         st->want, p->max_downscale_factor);
	else if (st->stepped > rec)
		snprintf(out, len, "; wants %d, at max_replicas (%d)", st->want,
		         p->max_replicas);
	else if (st->stepped < rec)
		snprintf(out, len, "; wants %d, at min_replicas (%d)", st->want,
		         p->min_replicas);
}

static void reason_move(const glia_autoscale_params *p, const stage *st,
                        int cur, glia_autoscale_decision *d)
{
	char win[32], note[100];
	glia_autoscale_format_period(p->window_s, win, sizeof win);
	limit_note(p, st, d->recommended, note, sizeof note);
	snprintf(d->reason, sizeof d->reason,
	         "scale %s: avg in-flight %.2f over %s, target %g per "
	         "replica%s",
	         d->replicas > cur ? "up" : "down", d->avg, win,
	         p->target_replica_concurrency, note);
}

static void reason_steady(const glia_autoscale_params *p, const stage *st,
                          int cur, glia_autoscale_decision *d)
{
	if (st->stepped > cur && cur >= p->max_replicas)
		snprintf(d->reason, sizeof d->reason,
		         "at max_replicas (%d): avg in-flight %.2f wants %d",
		         p->max_replicas, d->avg, st->want);
	else if (st->stepped < cur && cur <= p->min_replicas)
		snprintf(d->reason, sizeof d->reason,
		         "at min_replicas (%d): avg in-flight %.2f",
		         p->min_replicas, d->avg);
	else if (st->tolerated)
		snprintf(d->reason, sizeof d->reason,
		         "steady: avg in-flight %.2f, within tolerance of %d "
		         "replica(s)",
		         d->avg, cur);
	else
		snprintf(d->reason, sizeof d->reason,
		         "steady: avg in-flight %.2f, target %g per replica, "
		         "%d replica(s)",
		         d->avg, p->target_replica_concurrency, cur);
}

/* Applies one stabilization period (sign 1: downscale, -1: upscale) to a
 * recommendation on the far side of cur. Returns 1 when that holds the
 * count away from the recommendation (the reason is then written). */
static int stabilize(const glia_autoscale_params *p, int cur, double now,
                     double started_at, const glia_autoscale_history *hist,
                     int sign, glia_autoscale_decision *d)
{
	double period = sign > 0 ? p->downscale_stabilization_s
	                         : p->upscale_stabilization_s;
	const char *dir = sign > 0 ? "downscale" : "upscale";
	char per[32], when[32];
	glia_autoscale_format_period(period, per, sizeof per);
	if (now - started_at < period) {
		d->replicas = cur;
		d->held_until = started_at + period;
		format_time(d->held_until, when, sizeof when);
		snprintf(d->reason, sizeof d->reason,
		         "held: no scale-%s within %s of start (until %s); "
		         "recommendation %d, avg in-flight %.2f",
		         sign > 0 ? "down" : "up", per, when, d->recommended,
		         d->avg);
		return 1;
	}
	int extreme = history_extreme(hist, now, period, sign, d->recommended);
	/* downscale: min(cur, largest); upscale: max(cur, smallest) */
	d->replicas = sign * extreme > sign * cur ? cur : extreme;
	if (d->replicas == d->recommended)
		return 0;
	d->held_until = history_release(hist, now, period, sign, d->replicas);
	format_time(d->held_until, when, sizeof when);
	snprintf(d->reason, sizeof d->reason,
	         "held by %s stabilization until %s: recommendation %d, "
	         "%s of the last %s %d; avg in-flight %.2f",
	         dir, when, d->recommended, sign > 0 ? "largest" : "smallest",
	         per, extreme, d->avg);
	if (d->replicas != cur) {
		size_t n = strlen(d->reason);
		snprintf(d->reason + n, sizeof d->reason - n,
		         "; scale %s to %d", sign > 0 ? "down" : "up",
		         d->replicas);
	}
	return 1;
}

/* Rules, in order (SPEC section 5; docs/autoscaling.md has an example):
 *
 *  1. raw = avg / target_replica_concurrency; rec = ceil(raw) (computed as
 *     ceil(raw - 1e-9) so that float noise like 3.0000000000000004 is 3).
 *  2. Tolerance: rec = cur when cur*(1-downscale_tolerance) < raw < cur or
 *     cur < raw < cur*(1+upscale_tolerance).
 *  3. Step bounds: rec is held within
 *     [min(cur-1, ceil(cur*max_downscale_factor)),
 *      max(cur+1, ceil(cur*max_upscale_factor))]:
 *     a step of one is always allowed.
 *  4. rec is held within [min_replicas, max_replicas]. The result is
 *     out->recommended, and is added to hist at `now`.
 *  5. Stabilization, when rec < cur: no scale-down at all while
 *     now - started_at < downscale period (out->replicas = cur); after
 *     that, out->replicas = min(cur, the largest recommendation in
 *     (now - period, now]). When rec > cur, the same with the upscale
 *     period, the smallest recommendation and max(cur, ...).
 *     When this holds the count away from rec, out->held_until is when the
 *     recommendations blocking the next move leave the period (or when the
 *     after-start period ends); otherwise it is 0.
 *  6. out->replicas is finally held within [min_replicas, max_replicas], so
 *     that lowering max_replicas (or raising min_replicas) on a redeploy
 *     takes effect at the next tick whatever the history says.
 *
 * Times in reasons are HH:MM:SS UTC when now >= 1e9 (wall clock), else
 * "t=<seconds>s" (simulated time). */
void glia_autoscale_recommend(const glia_autoscale_params *p, int cur,
                              double avg, double now, double started_at,
                              glia_autoscale_history *hist,
                              glia_autoscale_decision *out)
{
	double target = p->target_replica_concurrency > 0
	                    ? p->target_replica_concurrency
	                    : 1;
	stage st;
	int held = 0;
	memset(out, 0, sizeof *out);
	out->avg = avg;
	out->raw = avg / target;
	out->recommended = bounded_recommendation(p, cur, out->raw, &st);
	glia_autoscale_history_add(hist, now, out->recommended);
	out->replicas = out->recommended;
	if (out->recommended != cur)
		held = stabilize(p, cur, now, started_at, hist,
		                 out->recommended < cur ? 1 : -1, out);
	int final = clamp(out->replicas, p->min_replicas, p->max_replicas);
	if (final != out->replicas) {
		out->replicas = final;
		out->held_until = 0;
		snprintf(out->reason, sizeof out->reason,
		         "scale %s to %d: outside [min_replicas %d, "
		         "max_replicas %d]",
		         final < cur ? "down" : "up", final, p->min_replicas,
		         p->max_replicas);
		return;
	}
	if (held)
		return;
	if (out->replicas != cur)
		reason_move(p, &st, cur, out);
	else
		reason_steady(p, &st, cur, out);
}
