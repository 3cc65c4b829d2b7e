/* test_rollout.c: the rollout core (rollout.c) by tables.
 *
 * A world is a row of replicas written "<generation><state>[@created]":
 * S starting, R ready, F failed (backoff), L leaving (draining), e.g.
 * "1R 1R 2S"; without @, a replica's creation time is its position. A
 * plan is written "+<started> -<index> -<index> ..." (retirements in their
 * order), or "nothing".
 *
 * Cases are one decision on a world. Scenarios play a rollout step by
 * step: events change the world ("ready": every starting replica becomes
 * ready, "ready1": the first one does, "drained": leaving replicas are
 * gone, "fail": new ones fail, "restart": failed ones start again,
 * "crash=I": replica I dies, "desired=N", "gen=N"), then the plan is
 * decided, checked, carried out (retired ones leave, new ones are appended
 * as starting), and the world after it checked. A new case is one more
 * row. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollout.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define MAXR 64

typedef struct world {
	glia_rollout_params p;
	glia_rollout_replica r[MAXR];
	size_t n;
	double clock; /* the creation time of the next replica */
} world;

static const char state_letters[] = "SRFL"; /* glia_rollout_state order */

static glia_int_or_pct parse_iop(const char *s)
{
	glia_int_or_pct v;
	if (glia_parse_int_or_pct(s, &v) < 0)
		fail_msg("bad int-or-percent \"%s\" in the table", s);
	return v;
}

static void add_replica(world *w, int generation, glia_rollout_state st)
{
	assert_true(w->n < MAXR);
	w->r[w->n++] = (glia_rollout_replica){generation, st, w->clock++};
}

static void remove_replica(world *w, size_t i)
{
	memmove(&w->r[i], &w->r[i + 1], (w->n - i - 1) * sizeof w->r[0]);
	w->n--;
}

/* "desired=4 gen=2 surge=25% unavail=1 stop"; defaults: gen 1 and the
 * spec's 25% / 25%. */
static void set_param(world *w, const char *key, const char *val)
{
	if (strcmp(key, "desired") == 0)
		w->p.desired = atoi(val);
	else if (strcmp(key, "gen") == 0)
		w->p.generation = atoi(val);
	else if (strcmp(key, "surge") == 0)
		w->p.max_surge = parse_iop(val);
	else if (strcmp(key, "unavail") == 0)
		w->p.max_unavailable = parse_iop(val);
	else
		fail_msg("unknown parameter \"%s\" in the table", key);
}

static void parse_params(world *w, const char *s)
{
	char key[16], val[16];
	int used;
	w->p = (glia_rollout_params){.desired = 0, .generation = 1};
	w->p.max_surge = parse_iop("25%");
	w->p.max_unavailable = parse_iop("25%");
	while (*s) {
		s += strspn(s, " ");
		if (strncmp(s, "stop", 4) == 0) {
			w->p.stopping = 1;
			s += 4;
		} else if (sscanf(s, "%15[a-z]=%15[0-9%]%n", key, val, &used) ==
		           2) {
			set_param(w, key, val);
			s += used;
		} else if (*s) {
			fail_msg("bad parameters at \"%s\"", s);
		}
	}
}

static void parse_world(world *w, const char *s)
{
	int gen, used;
	char st;
	double at;
	w->n = 0;
	w->clock = 0;
	while (sscanf(s, " %d%c%n", &gen, &st, &used) == 2) {
		const char *letter = strchr(state_letters, st);
		if (!letter || !st)
			fail_msg("bad state '%c' in world", st);
		add_replica(w, gen,
		            (glia_rollout_state)(letter - state_letters));
		s += used;
		if (sscanf(s, "@%lf%n", &at, &used) == 1) {
			w->r[w->n - 1].created_at = at;
			s += used;
		}
	}
	assert_true(s[strspn(s, " ")] == '\0');
}

static void format_world(const world *w, char *out, size_t len)
{
	size_t k = 0;
	out[0] = '\0';
	for (size_t i = 0; i < w->n && k < len; i++)
		k += (size_t)snprintf(out + k, len - k, "%s%d%c", i ? " " : "",
		                      w->r[i].generation,
		                      state_letters[w->r[i].state]);
}

static void format_plan(const glia_rollout_plan *pl, char *out, size_t len)
{
	size_t k = 0;
	out[0] = '\0';
	if (pl->start == 0 && pl->n_retire == 0) {
		snprintf(out, len, "nothing");
		return;
	}
	if (pl->start)
		k += (size_t)snprintf(out, len, "+%d", pl->start);
	for (size_t i = 0; i < pl->n_retire && k < len; i++)
		k += (size_t)snprintf(out + k, len - k, "%s-%zu", k ? " " : "",
		                      pl->retire[i]);
}

static void decide(const world *w, glia_rollout_plan *pl, size_t *retire)
{
	*pl = (glia_rollout_plan){.retire = retire};
	glia_rollout_decide(&w->p, w->r, w->n, pl);
}

static void apply_plan(world *w, const glia_rollout_plan *pl)
{
	for (size_t i = 0; i < pl->n_retire; i++)
		w->r[pl->retire[i]].state = GLIA_ROLLOUT_LEAVING;
	for (int i = 0; i < pl->start; i++)
		add_replica(w, w->p.generation, GLIA_ROLLOUT_STARTING);
}

static void set_state(world *w, glia_rollout_state from, glia_rollout_state to,
                      int current_only, int first_only)
{
	for (size_t i = 0; i < w->n; i++) {
		if (w->r[i].state != from ||
		    (current_only && w->r[i].generation != w->p.generation))
			continue;
		w->r[i].state = to;
		if (first_only)
			return;
	}
}

/* Every proc of replica i died: restarted in place, or let go. */
static void crash(world *w, size_t i)
{
	assert_true(i < w->n);
	if (glia_rollout_restarts(w->p.generation, w->r[i].generation))
		w->r[i].state = GLIA_ROLLOUT_FAILED;
	else
		remove_replica(w, i);
}

static void event(world *w, const char *ev)
{
	int v;
	if (strcmp(ev, "ready") == 0) {
		set_state(w, GLIA_ROLLOUT_STARTING, GLIA_ROLLOUT_READY, 0, 0);
	} else if (strcmp(ev, "ready1") == 0) {
		set_state(w, GLIA_ROLLOUT_STARTING, GLIA_ROLLOUT_READY, 0, 1);
	} else if (strcmp(ev, "fail") == 0) {
		set_state(w, GLIA_ROLLOUT_STARTING, GLIA_ROLLOUT_FAILED, 1, 0);
	} else if (strcmp(ev, "restart") == 0) {
		set_state(w, GLIA_ROLLOUT_FAILED, GLIA_ROLLOUT_STARTING, 0, 0);
	} else if (strcmp(ev, "drained") == 0) {
		for (size_t i = w->n; i-- > 0;)
			if (w->r[i].state == GLIA_ROLLOUT_LEAVING)
				remove_replica(w, i);
	} else if (sscanf(ev, "crash=%d", &v) == 1) {
		crash(w, (size_t)v);
	} else if (sscanf(ev, "desired=%d", &v) == 1) {
		w->p.desired = v;
	} else if (sscanf(ev, "gen=%d", &v) == 1) {
		w->p.generation = v;
	} else {
		fail_msg("unknown event \"%s\"", ev);
	}
}

/* "ready,drained" */
static void events(world *w, const char *list)
{
	char buf[128];
	snprintf(buf, sizeof buf, "%s", list);
	for (char *save = NULL, *ev = strtok_r(buf, ",", &save); ev;
	     ev = strtok_r(NULL, ",", &save))
		event(w, ev);
}

/* ---- one decision --------------------------------------------------- */

typedef struct row {
	const char *name;
	const char *params;
	const char *world;
	const char *plan;
} row;

static const row rows[] = {
    /* fresh deploys, scaling up */
    {"fresh deploy of 3 starts 3", "desired=3", "", "+3"},
    {"fresh deploy of 1 with surge 0 and unavailable 0",
     "desired=1 surge=0 "
     "unavail=0",
     "", "+1"},
    {"scale up from 2 to 5 starts 3", "desired=5", "1R 1R", "+3"},
    {"scale up counts a starting replica", "desired=3", "1R 1S", "+1"},
    {"steady: nothing to do", "desired=2", "1R 1R", "nothing"},
    {"a failed replica holds its place (it restarts in place)", "desired=2",
     "1R 1F", "nothing"},
    {"leaving replicas count for nothing", "desired=2", "1R 1L 1L", "+1"},

    /* scaling down: which ones go */
    {"scale down: the newest ready goes", "desired=2", "1R 1R 1R", "-2"},
    {"scale down: not ready first, newest first, then the newest ready",
     "desired=1", "1R 1R 1S 1F", "-3 -2 -1"},
    {"scale down: a starting one goes before a newer ready one", "desired=1",
     "1S@1 1R@5", "-0"},
    {"scale down: equal times, the lower index first", "desired=1",
     "1R@5 1R@5 1R@1", "-0 -1"},
    {"scale down skips leaving ones", "desired=1", "1R 1L 1R", "-2"},
    {"scale to zero retires every replica, newest first", "desired=0", "1R 1R",
     "-1 -0"},
    {"scale to zero while starting", "desired=0", "1S", "-0"},
    {"at zero stays at zero", "desired=0", "", "nothing"},
    {"scale to zero during a rollout", "desired=0 gen=2", "1R 2S", "-0 -1"},

    /* stop: delete or shutdown */
    {"stop retires every replica in index order", "desired=2 gen=2 stop",
     "1R 2S 1L 2R", "-0 -1 -3"},
    {"stop with nothing left", "desired=2 stop", "1L", "nothing"},

    /* rolling updates */
    {"25%/25% of 4: one old goes, two new start", "desired=4 gen=2",
     "1R 1R 1R 1R", "+2 -3"},
    {"25% of 3: surge 1, unavailable 0: start first", "desired=3 gen=2",
     "1R 1R 1R", "+1"},
    {"surge 0 and unavailable 0 is unavailable 1",
     "desired=2 gen=2 surge=0 unavail=0", "1R 1R", "+1 -1"},
    {"old replicas not serving go at once, even with unavailable 0",
     "desired=2 gen=2 surge=1 unavail=0", "1R 1S 1F", "+2 -1 -2"},
    {"ready old ones go newest first", "desired=3 gen=2 surge=0 unavail=2",
     "1R@1 1R@3 1R@2", "+2 -1 -2"},
    {"new replica not ready yet: wait", "desired=2 gen=2 surge=1 unavail=0",
     "1R 1R 2S", "nothing"},
    {"new replica ready: one old goes, the next new starts",
     "desired=2 gen=2 surge=1 unavail=0", "1R 1R 2R", "+1 -1"},
    {"draining old ones do not count against the surge",
     "desired=2 gen=2 surge=1 unavail=0", "1R 1L 2R", "+1"},
    {"last old one goes once the new ones serve",
     "desired=2 gen=2 surge=1 unavail=0", "1R 2R 2R", "-0"},
    {"a redeploy mid-rollout: every older generation is old",
     "desired=2 gen=3 surge=1 unavail=0", "1R 2R 2S", "+1 -2"},
    {"scale down during a rollout: old ones first, then the newest",
     "desired=2 gen=2 surge=1 unavail=0", "1R 1R 2R 2R 2R", "-1 -0 -4"},
    {"scale up during a rollout waits for the surge",
     "desired=4 gen=2 surge=1 unavail=0", "1R 1R 2R", "+2"},
    {"a failing new generation: old ones keep serving",
     "desired=2 gen=2 surge=1 unavail=0", "1R 1R 2F", "nothing"},
    {"a failing new generation never takes the last old ones",
     "desired=2 gen=2 surge=1 unavail=1", "1R 2F 2F", "nothing"},
    {"an old replica that crashed is replaced by a new one",
     "desired=3 gen=2 surge=1 unavail=0", "1R 2R", "+2"},
    {"an old replica in backoff goes at once",
     "desired=2 gen=2 surge=1 unavail=0", "1F 1R", "+2 -0"},
};

static void check_row(const row *r)
{
	world w;
	size_t retire[MAXR];
	glia_rollout_plan pl;
	char got[256];

	parse_params(&w, r->params);
	parse_world(&w, r->world);
	decide(&w, &pl, retire);
	format_plan(&pl, got, sizeof got);
	if (strcmp(got, r->plan) != 0)
		fail_msg("%s: plan \"%s\", want \"%s\"", r->name, got, r->plan);
}

static void plan_table(void **state)
{
	assert_true(N(rows) >= 30);
	for (size_t i = 0; i < N(rows); i++)
		check_row(&rows[i]);
}

/* ---- rollouts step by step ------------------------------------------- */

typedef struct step {
	const char *events; /* applied before deciding; "" for none */
	const char *plan;
	const char *after; /* the world once the plan is carried out */
} step;

typedef struct scenario {
	const char *name;
	const char *params;
	const char *world;
	step steps[12];
} scenario;

static const scenario scenarios[] = {
    {"rolling update 25%/25% of 4",
     "desired=4 gen=2",
     "1R 1R 1R 1R",
     {
         {"", "+2 -3", "1R 1R 1R 1L 2S 2S"},
         {"ready,drained", "+2 -2 -1", "1R 1L 1L 2R 2R 2S 2S"},
         {"ready,drained", "-0", "1L 2R 2R 2R 2R"},
         {"drained", "nothing", "2R 2R 2R 2R"},
     }},
    {"max_surge 0, max_unavailable 1: one old goes, then one new starts",
     "desired=3 gen=2 surge=0 unavail=1",
     "1R 1R 1R",
     {
         {"", "+1 -2", "1R 1R 1L 2S"},
         {"", "nothing", "1R 1R 1L 2S"},
         {"ready,drained", "+1 -1", "1R 1L 2R 2S"},
         {"ready,drained", "+1 -0", "1L 2R 2R 2S"},
         {"ready,drained", "nothing", "2R 2R 2R"},
     }},
    {"max_surge 1, max_unavailable 0: one new starts, then one old goes",
     "desired=3 gen=2 surge=1 unavail=0",
     "1R 1R 1R",
     {
         {"", "+1", "1R 1R 1R 2S"},
         {"", "nothing", "1R 1R 1R 2S"},
         {"ready", "+1 -2", "1R 1R 1L 2R 2S"},
         {"ready,drained", "+1 -1", "1R 1L 2R 2R 2S"},
         {"ready,drained", "-0", "1L 2R 2R 2R"},
         {"drained", "nothing", "2R 2R 2R"},
     }},
    {"a failed new generation: the old one serves until a fixed one rolls",
     "desired=2 gen=2 surge=1 unavail=0",
     "1R 1R",
     {
         {"", "+1", "1R 1R 2S"},
         {"fail", "nothing", "1R 1R 2F"},
         {"restart", "nothing", "1R 1R 2S"},
         {"fail", "nothing", "1R 1R 2F"},
         {"gen=3", "+1 -2", "1R 1R 2L 3S"},
         {"ready,drained", "+1 -1", "1R 1L 3R 3S"},
         {"ready,drained", "-0", "1L 3R 3R"},
         {"drained", "nothing", "3R 3R"},
     }},
    {"a failed new generation with 25%/25% of 4: three old ones serve",
     "desired=4 gen=2",
     "1R 1R 1R 1R",
     {
         {"", "+2 -3", "1R 1R 1R 1L 2S 2S"},
         {"fail,drained", "nothing", "1R 1R 1R 2F 2F"},
         {"restart,fail", "nothing", "1R 1R 1R 2F 2F"},
     }},
    {"crashes during a rollout: an old one is replaced, a new one restarts",
     "desired=3 gen=2 surge=1 unavail=0",
     "1R 1R 1R",
     {
         {"", "+1", "1R 1R 1R 2S"},
         {"crash=0", "+1", "1R 1R 2S 2S"},
         {"ready", "+1 -1", "1R 1L 2R 2R 2S"},
         {"crash=3", "nothing", "1R 1L 2R 2F 2S"},
         {"restart,ready,drained", "-0", "1L 2R 2R 2R"},
         {"drained", "nothing", "2R 2R 2R"},
     }},
    {"crash of a current replica: restarted in place, not replaced",
     "desired=2",
     "1R 1R",
     {
         {"crash=1", "nothing", "1R 1F"},
         {"restart", "nothing", "1R 1S"},
         {"ready", "nothing", "1R 1R"},
     }},
    {"scale up, then down: the starting one and the newest go",
     "desired=2",
     "1R 1R",
     {
         {"desired=4", "+2", "1R 1R 1S 1S"},
         {"ready1", "nothing", "1R 1R 1R 1S"},
         {"desired=2", "-3 -2", "1R 1R 1L 1L"},
         {"drained", "nothing", "1R 1R"},
     }},
    {"scale to zero and back",
     "desired=2",
     "1R 1R",
     {
         {"desired=0", "-1 -0", "1L 1L"},
         {"drained", "nothing", ""},
         {"desired=1", "+1", "1S"},
         {"ready", "nothing", "1R"},
     }},
};

static void play(const scenario *sc)
{
	world w;
	size_t retire[MAXR];
	glia_rollout_plan pl;
	char got[256];

	parse_params(&w, sc->params);
	parse_world(&w, sc->world);
	for (size_t i = 0; i < N(sc->steps) && sc->steps[i].plan; i++) {
		const step *st = &sc->steps[i];
		events(&w, st->events);
		decide(&w, &pl, retire);
		format_plan(&pl, got, sizeof got);
		if (strcmp(got, st->plan) != 0)
			fail_msg("%s, step %zu: plan \"%s\", want \"%s\"",
			         sc->name, i + 1, got, st->plan);
		apply_plan(&w, &pl);
		format_world(&w, got, sizeof got);
		if (strcmp(got, st->after) != 0)
			fail_msg("%s, step %zu: world \"%s\", want \"%s\"",
			         sc->name, i + 1, got, st->after);
		/* Carried out, the plan is done: asking again plans nothing. */
		decide(&w, &pl, retire);
		format_plan(&pl, got, sizeof got);
		if (strcmp(got, "nothing") != 0)
			fail_msg("%s, step %zu: asked again, plan \"%s\"",
			         sc->name, i + 1, got);
	}
}

static void rollout_scenarios_step_by_step(void **state)
{
	for (size_t i = 0; i < N(scenarios); i++)
		play(&scenarios[i]);
}

/* ---- bounds and convergence over a grid ------------------------------ */

static void count_world(const world *w, int *active, int *ready, int *cur)
{
	*active = *ready = *cur = 0;
	for (size_t i = 0; i < w->n; i++) {
		if (w->r[i].state == GLIA_ROLLOUT_LEAVING)
			continue;
		(*active)++;
		*ready += w->r[i].state == GLIA_ROLLOUT_READY;
		*cur += w->r[i].generation == w->p.generation &&
		        w->r[i].state == GLIA_ROLLOUT_READY;
	}
}

/* From `desired` ready replicas of generation 1 to as many of generation
 * 2, new replicas becoming ready one at a time: never more than desired +
 * max_surge replicas, never fewer than desired - max_unavailable ready,
 * done in a bounded number of steps. */
static void roll_grid_case(int desired, const char *surge, const char *unavail)
{
	world w;
	size_t retire[MAXR];
	glia_rollout_plan pl;
	char params[64];
	int active, ready, cur, steps;

	snprintf(params, sizeof params, "desired=%d gen=2 surge=%s unavail=%s",
	         desired, surge, unavail);
	parse_params(&w, params);
	w.n = 0;
	w.clock = 0;
	for (int i = 0; i < desired; i++)
		add_replica(&w, 1, GLIA_ROLLOUT_READY);
	for (steps = 0; steps < 4 * desired + 4; steps++) {
		decide(&w, &pl, retire);
		apply_plan(&w, &pl);
		count_world(&w, &active, &ready, &cur);
		if (active > desired + pl.max_surge ||
		    ready < desired - pl.max_unavailable)
			fail_msg("%s: step %d: %d active, %d ready", params,
			         steps, active, ready);
		if (cur == desired && active == desired)
			break;
		events(&w, "ready1,drained");
	}
	if (cur != desired || active != desired)
		fail_msg("%s: not done after %d steps", params, steps);
}

static void rollouts_keep_bounds_and_finish(void **state)
{
	static const char *surges[] = {"0", "1", "2", "25%", "50%", "100%"};
	static const char *unavails[] = {"0", "1", "25%", "50%", "100%"};
	for (int d = 0; d <= 8; d++)
		for (size_t s = 0; s < N(surges); s++)
			for (size_t u = 0; u < N(unavails); u++)
				roll_grid_case(d, surges[s], unavails[u]);
}

/* ---- resolving update_strategy, restarts ---------------------------- */

static void bounds_resolve_like_kubernetes(void **state)
{
	static const struct {
		int desired;
		const char *surge, *unavail;
		int want_surge, want_unavail;
	} cases[] = {
	    {4, "25%", "25%", 1, 1},   {3, "25%", "25%", 1, 0},
	    {1, "25%", "25%", 1, 0},   {10, "25%", "25%", 3, 2},
	    {0, "25%", "25%", 0, 1},   {5, "0", "0", 0, 1},
	    {5, "2", "0", 2, 0},       {5, "0", "3", 0, 3},
	    {5, "100%", "100%", 5, 5},
	};
	world w;
	size_t retire[MAXR];
	glia_rollout_plan pl;
	char params[64];
	for (size_t i = 0; i < N(cases); i++) {
		snprintf(params, sizeof params,
		         "desired=%d surge=%s unavail=%s", cases[i].desired,
		         cases[i].surge, cases[i].unavail);
		parse_params(&w, params);
		w.n = 0;
		decide(&w, &pl, retire);
		if (pl.max_surge != cases[i].want_surge ||
		    pl.max_unavailable != cases[i].want_unavail)
			fail_msg("%s: surge %d unavailable %d, want %d and %d",
			         params, pl.max_surge, pl.max_unavailable,
			         cases[i].want_surge, cases[i].want_unavail);
	}
}

static void only_current_generation_restarts_in_place(void **state)
{
	assert_true(glia_rollout_restarts(3, 3));
	assert_false(glia_rollout_restarts(3, 2));
	assert_false(glia_rollout_restarts(3, 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(plan_table),
	    cmocka_unit_test(rollout_scenarios_step_by_step),
	    cmocka_unit_test(rollouts_keep_bounds_and_finish),
	    cmocka_unit_test(bounds_resolve_like_kubernetes),
	    cmocka_unit_test(only_current_generation_restarts_in_place),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
