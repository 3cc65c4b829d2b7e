/* rollout.h: which replicas of an API to start and which to retire, as a
 * pure function of what runs now (no clocks, no sockets, no allocation),
 * the way Kubernetes rolls a Deployment.
 *
 * The supervisor describes its replicas (generation, state, creation time)
 * after every event (a replica ready or gone, a deploy, the autoscaler's
 * count, a delete), calls glia_rollout_decide, retires the replicas the plan
 * names, in its order, and starts plan.start new ones of the current
 * generation. Calling it again after the plan was carried out, with nothing
 * else changed, plans nothing: a rollout advances one event at a time. */
#ifndef GLIA_ROLLOUT_H
#define GLIA_ROLLOUT_H

#include <stddef.h>

#include "config.h"

typedef enum glia_rollout_state {
	GLIA_ROLLOUT_STARTING, /* processes started, not ready yet */
	GLIA_ROLLOUT_READY,    /* serving */
	GLIA_ROLLOUT_FAILED,   /* crashed or failed to start: waiting to restart
	                          (backoff); still counts as one of its
	                          generation */
	GLIA_ROLLOUT_LEAVING,  /* already retired (draining, stopping): counts
	                          for nothing and is never named again */
} glia_rollout_state;

typedef struct glia_rollout_replica {
	int generation; /* the spec generation it runs */
	glia_rollout_state state;
	double created_at; /* any clock; larger is newer. Equal times: the lower
	                      index counts as the newer */
} glia_rollout_replica;

typedef struct glia_rollout_params {
	/* replicas requested (spec, autoscaler, demand); >= 0 */
	int desired;
	/* the current generation: what new replicas run */
	int generation;
	/* update_strategy, resolved against desired */
	glia_int_or_pct max_surge, max_unavailable;
	/* delete or shutdown: retire every replica */
	int stopping;
} glia_rollout_params;

typedef struct glia_rollout_plan {
	int start;       /* new replicas of the current generation to start */
	size_t *retire;  /* the caller's array, room for n entries: indexes
	                    into replicas[], in the order to retire them */
	size_t n_retire; /* entries of retire[] filled */
	int max_surge, max_unavailable; /* the update_strategy resolved
	                                   against desired */
} glia_rollout_plan;

/* Plans the next step for replicas[0..n) (LEAVING ones included or not:
 * they are ignored). Fills out->start, out->n_retire and out->retire[0..),
 * the resolved bounds; never names a replica twice nor a LEAVING one.
 *
 * Replicas of another generation than p->generation are "old", the others
 * "current"; READY ones serve, STARTING and FAILED ones do not.
 *   - stopping: retire every replica, in index order; start none.
 *   - While old replicas remain (a rolling update): old replicas that do
 *     not serve are retired at once; ready old ones, newest first, only as
 *     long as the ready replicas (old and current) stay at or above
 *     desired - max_unavailable; new ones are started only while the
 *     replicas (old and current, not counting those retiring) stay at or
 *     below desired + max_surge.
 *     max_surge is resolved rounding up, max_unavailable rounding down
 *     (percentages of desired); when both are 0, max_unavailable is 1.
 *     Current replicas that fail (FAILED, or never ready) hold their place
 *     and old ones keep serving: a broken new generation stops the rollout,
 *     it does not take the old one down.
 *   - With no old replica left: start replicas up to desired.
 *   - More current replicas than desired (scale down): retire the surplus,
 *     those not ready first, then the newest. */
void glia_rollout_decide(const glia_rollout_params *p,
                         const glia_rollout_replica *replicas, size_t n,
                         glia_rollout_plan *out);

/* Whether a replica of `generation` whose processes all died restarts in
 * place, with backoff (1: it is of the current generation), or is let go
 * (0: an old one crashed during a rollout; the next plan replaces it with a
 * new one rather than restarting the old version). */
int glia_rollout_restarts(int current_generation, int generation);

#endif
