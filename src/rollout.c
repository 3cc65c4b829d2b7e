/* rollout.c: the plan of a rolling update, a scale up or down, a stop (see
 * rollout.h and docs/internals.md, "Rollouts"). Pure: the supervisor
 * describes its replicas, this decides, the supervisor carries it out and
 * asks again on the next event. */
#include "rollout.h"

#define NONE ((size_t)-1)

typedef struct counts {
	int cur, cur_ready; /* active replicas of the current generation */
	int old, old_ready; /* active replicas of older generations */
} counts;

static int is_active(const glia_rollout_replica *r)
{
	return r->state != GLIA_ROLLOUT_LEAVING;
}

static int is_ready(const glia_rollout_replica *r)
{
	return r->state == GLIA_ROLLOUT_READY;
}

static int is_old(const glia_rollout_params *p, const glia_rollout_replica *r)
{
	return r->generation != p->generation;
}

static void count(const glia_rollout_params *p,
                  const glia_rollout_replica *reps, size_t n, counts *c)
{
	*c = (counts){0};
	for (size_t i = 0; i < n; i++) {
		if (!is_active(&reps[i]))
			continue;
		if (is_old(p, &reps[i])) {
			c->old++;
			c->old_ready += is_ready(&reps[i]);
		} else {
			c->cur++;
			c->cur_ready += is_ready(&reps[i]);
		}
	}
}

/* The order replicas go in: not ready before ready, then the newest, then
 * the lower index. A total order, so "the next after the last one taken"
 * needs no record of what was taken. */
static int retires_before(const glia_rollout_replica *reps, size_t i, size_t k)
{
	int ready_i = is_ready(&reps[i]), ready_k = is_ready(&reps[k]);
	if (ready_i != ready_k)
		return !ready_i;
	if (reps[i].created_at != reps[k].created_at)
		return reps[i].created_at > reps[k].created_at;
	return i < k;
}

static void take(glia_rollout_plan *out, size_t i)
{
	out->retire[out->n_retire++] = i;
}

/* The replicas retire_first chooses from: ready old ones (a rolling
 * update's next victims), or current ones (a scale down's surplus). */
enum group { OLD_READY, CURRENT };

static int in_group(const glia_rollout_params *p, const glia_rollout_replica *r,
                    enum group g)
{
	if (!is_active(r))
		return 0;
	if (g == OLD_READY)
		return is_old(p, r) && is_ready(r);
	return !is_old(p, r);
}

/* Retires up to `want` replicas of group g, first in the retiring order.
 * Returns how many. */
static int retire_first(const glia_rollout_params *p,
                        const glia_rollout_replica *reps, size_t n,
                        enum group g, long long want, glia_rollout_plan *out)
{
	size_t last = NONE;
	int taken = 0;
	for (; want > 0; want--) {
		size_t best = NONE;
		for (size_t i = 0; i < n; i++) {
			if (!in_group(p, &reps[i], g))
				continue;
			if (last != NONE && !retires_before(reps, last, i))
				continue;
			if (best == NONE || retires_before(reps, i, best))
				best = i;
		}
		if (best == NONE)
			break;
		take(out, best);
		last = best;
		taken++;
	}
	return taken;
}

static long long max0(long long v)
{
	return v > 0 ? v : 0;
}

static long long min2(long long a, long long b)
{
	return a < b ? a : b;
}

/* One step of a rolling update: returns the old replicas left active. */
static int roll(const glia_rollout_params *p, const glia_rollout_replica *reps,
                size_t n, const counts *c, glia_rollout_plan *out)
{
	/* Old replicas that serve nothing leave first. */
	for (size_t i = 0; i < n; i++)
		if (is_active(&reps[i]) && is_old(p, &reps[i]) &&
		    !is_ready(&reps[i]))
			take(out, i);
	/* Ready old ones while enough stay ready. */
	long long ready = (long long)c->cur_ready + c->old_ready;
	long long lowest = (long long)p->desired - out->max_unavailable;
	int old = c->old_ready;
	old -=
	    retire_first(p, reps, n, OLD_READY, min2(old, ready - lowest), out);
	/* New ones within the surge. */
	long long room =
	    (long long)p->desired + out->max_surge - ((long long)c->cur + old);
	long long start = min2((long long)p->desired - c->cur, room);
	out->start = (int)max0(start);
	return old;
}

void glia_rollout_decide(const glia_rollout_params *p,
                         const glia_rollout_replica *reps, size_t n,
                         glia_rollout_plan *out)
{
	out->start = 0;
	out->n_retire = 0;
	out->max_surge = glia_int_or_pct_resolve(p->max_surge, p->desired, 1);
	out->max_unavailable =
	    glia_int_or_pct_resolve(p->max_unavailable, p->desired, 0);
	if (out->max_surge == 0 && out->max_unavailable == 0)
		out->max_unavailable = 1;
	if (p->stopping) {
		for (size_t i = 0; i < n; i++)
			if (is_active(&reps[i]))
				take(out, i);
		return;
	}
	counts c;
	count(p, reps, n, &c);
	int old = c.old > 0 ? roll(p, reps, n, &c, out) : 0;
	long long cur = (long long)c.cur + out->start;
	if (old == 0 && cur < p->desired) {
		out->start += (int)(p->desired - cur);
		cur = p->desired;
	}
	if (cur > p->desired)
		retire_first(p, reps, n, CURRENT, cur - p->desired, out);
}

int glia_rollout_restarts(int current_generation, int generation)
{
	return generation == current_generation;
}
