/* test_autoscale.c: the recommendation of SPEC section 5, rule by rule.
 *
 * Each row of the table is one call of glia_autoscale_recommend: parameter
 * overrides on top of the spec defaults (target 1), the current count, the
 * mean in-flight, the time, the start time, the recommendations already in
 * the history, and the expected replicas, recommendation and a piece of the
 * reason. A new case is one more row. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "autoscale.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* 2023-11-14 22:13:20 UTC: a wall-clock start. */
#define WALL 1700000000.0

typedef struct row {
	const char *name;
	const char *params; /* "min=0 max=4 target=2 window=60 down=300 up=60
	                       mdf=0.75 muf=1.5 dt=0.05 ut=0.05 cap=64" */
	int cur;
	double avg, now, started_at;
	const char *hist; /* prior recommendations, "t:rec t:rec ..." */
	int want_replicas, want_recommended;
	const char *reason; /* a substring of the reason, or NULL */
} row;

static const row rows[] = {
    /* rule 1: rec = ceil(avg / target) */
    {"exact ceil: raw 1 stays 1", "", 1, 1.0, 1000, 0, "", 1, 1, "steady"},
    {"exact ceil: raw 3 from 2", "", 2, 3.0, 1000, 0, "", 3, 3, "scale up"},
    {"exact ceil: raw 2.5 from 4 is 3", "", 4, 2.5, 1000, 0, "", 3, 3,
     "scale down: avg in-flight 2.50 over 1m, target 1 per replica"},
    {"exact ceil: 0.3/0.1 = 2.9999999999999996 is 3", "target=0.1", 2, 0.3,
     1000, 0, "", 3, 3, NULL},
    {"exact ceil: 0.7/0.1 = 6.999999999999999 is 7", "target=0.1", 5, 0.7, 1000,
     0, "", 7, 7, NULL},
    {"exact ceil: 2.1/0.7 = 3.0000000000000004 is 3", "target=0.7 ut=0 muf=3",
     2, 2.1, 1000, 0, "", 3, 3, NULL},
    {"exact ceil: raw 0 with min 0 is 0", "min=0", 0, 0, 1000, 0, "", 0, 0,
     "steady"},
    {"target 2: avg 7.6 wants 4", "target=2", 3, 7.6, 1000, 0, "", 4, 4,
     "scale up: avg in-flight 7.60 over 1m, target 2 per replica"},

    /* rule 2: tolerance bands */
    {"within downscale tolerance: 38.5 of 40 stays 40", "", 40, 38.5, 1000, 0,
     "", 40, 40, "within tolerance of 40 replica(s)"},
    {"below downscale tolerance: 37.9 of 40 goes to 38", "", 40, 37.9, 1000, 0,
     "", 38, 38, "scale down"},
    {"downscale tolerance 0.2: 8.5 of 10 stays 10", "dt=0.2", 10, 8.5, 1000, 0,
     "", 10, 10, "within tolerance"},
    {"downscale tolerance edge: 8.0 of 10 is 8", "dt=0.2", 10, 8.0, 1000, 0, "",
     8, 8, "scale down"},
    {"within upscale tolerance: 10.4 of 10 stays 10", "", 10, 10.4, 1000, 0, "",
     10, 10, "within tolerance of 10 replica(s)"},
    {"upscale tolerance edge: 10.5 of 10 is 11", "", 10, 10.5, 1000, 0, "", 11,
     11, "scale up"},
    {"upscale tolerance 0.5: 14.9 of 10 stays 10", "ut=0.5", 10, 14.9, 1000, 0,
     "", 10, 10, "within tolerance"},
    {"upscale tolerance 0: 10.01 of 10 is 11", "ut=0", 10, 10.01, 1000, 0, "",
     11, 11, "scale up"},
    {"edge raw == cur: 5 of 5 is steady", "", 5, 5.0, 1000, 0, "", 5, 5,
     "steady: avg in-flight 5.00, target 1 per replica, 5 replica(s)"},
    {"edge raw == cur with tolerances 0", "dt=0 ut=0", 5, 5.0, 1000, 0, "", 5,
     5, "steady"},

    /* rule 3: step bounds */
    {"max_upscale_factor from 1: step of one to 2", "", 1, 10, 1000, 0, "", 2,
     2, "wants 10, step limited by max_upscale_factor 1.5"},
    {"max_upscale_factor from 2: ceil(3) = 3", "", 2, 10, 1000, 0, "", 3, 3,
     "max_upscale_factor"},
    {"max_upscale_factor from 10: 15", "", 10, 100, 1000, 0, "", 15, 15,
     "max_upscale_factor"},
    {"max_upscale_factor 3 from 10: 30", "muf=3", 10, 100, 1000, 0, "", 30, 30,
     NULL},
    {"max_upscale_factor 1.1 from 100: 110, not 111", "muf=1.1 max=1000", 100,
     1000, 1000, 0, "", 110, 110, NULL},
    {"max_upscale_factor 1.2 from 4: ceil(4.8) is 5", "muf=1.2", 4, 100, 1000,
     0, "", 5, 5, NULL},
    {"max_upscale_factor not reached: 4 to 5", "", 4, 5, 1000, 0, "", 5, 5,
     NULL},
    {"max_downscale_factor from 10: 8", "", 10, 1, 1000, 0, "", 8, 8,
     "wants 1, step limited by max_downscale_factor 0.75"},
    {"max_downscale_factor from 100: 75", "", 100, 0, 1000, 0, "", 75, 75,
     NULL},
    {"max_downscale_factor 0.5 from 10: 5", "mdf=0.5", 10, 0, 1000, 0, "", 5, 5,
     NULL},
    {"max_downscale_factor 0 is unlimited", "mdf=0 min=0", 10, 0, 1000, 0, "",
     0, 0, NULL},
    {"always a step of one down: 0.9 from 2 is 1", "mdf=0.9 min=0", 2, 0, 1000,
     0, "", 1, 1, NULL},
    {"always a step of one down: 1 to 0", "min=0", 1, 0, 1000, 0, "", 0, 0,
     NULL},
    {"from zero: step of one to 1", "min=0", 0, 5, 1000, 0, "", 1, 1,
     "scale up"},

    /* rule 4: min_replicas, max_replicas */
    {"at max_replicas: stays 4", "max=4", 4, 100, 1000, 0, "", 4, 4,
     "at max_replicas (4)"},
    {"up to max_replicas: 3 to 4", "max=4", 3, 100, 1000, 0, "", 4, 4,
     "at max_replicas (4)"},
    {"at min_replicas: stays 2", "min=2", 2, 0, 1000, 0, "", 2, 2,
     "at min_replicas (2)"},
    {"down to min_replicas: 4 to 3", "min=3 mdf=0", 4, 0, 1000, 0, "", 3, 3,
     "at min_replicas (3)"},
    {"above max_replicas after a redeploy: straight to max", "max=4", 10, 100,
     10, 0, "", 4, 4, "outside [min_replicas 1, max_replicas 4]"},
    {"below min_replicas after a redeploy: straight to min", "min=3", 1, 0, 10,
     0, "", 3, 3, "outside"},

    /* scale to zero */
    {"zero: idle within 5m of start is held", "min=0", 1, 0, 200, 0, "", 1, 0,
     "held: no scale-down within 5m of start (until t=300s)"},
    {"zero: idle after 5m of start goes to 0", "min=0", 1, 0, 300, 0, "", 0, 0,
     "scale down"},
    {"zero: a busy tick in the period holds 1", "min=0", 1, 0, 500, 0, "250:1",
     1, 0, "held by downscale stabilization until t=550s"},
    {"zero: any load wakes 0 to 1", "min=0", 0, 0.3, 1000, 0, "", 1, 1,
     "scale up"},

    /* rule 5: no scale-down or scale-up right after the start */
    {"no scale-down within the period after start", "", 4, 0, 100, 0, "", 4, 3,
     "no scale-down within 5m of start (until t=300s)"},
    {"no scale-down after start: wall clock", "", 4, 0, WALL + 100, WALL, "", 4,
     3, "(until 22:18:20 UTC)"},
    {"no scale-up within the period after start", "", 1, 5, 30, 0, "", 1, 2,
     "no scale-up within 1m of start (until t=60s)"},
    {"scale-up allowed once the period after start ends", "", 1, 5, 60, 0, "",
     2, 2, "scale up"},
    {"downscale period 0: no hold after start", "down=0", 4, 0, 1, 0, "", 3, 3,
     "scale down"},

    /* rule 5: stabilization over the history */
    {"downscale takes the max of the period: held", "", 8, 1, 1000, 0,
     "800:8 850:7 900:7", 8, 6,
     "held by downscale stabilization until t=1100s"},
    {"downscale takes the max of the period: partial", "", 8, 1, 1000, 0,
     "650:8 850:7 900:6", 7, 6, "until t=1150s"},
    {"downscale: max above cur keeps cur", "", 4, 1, 1000, 0, "900:9", 4, 3,
     "until t=1200s"},
    {"downscale: wall clock until", "", 4, 1, WALL + 1000, WALL, "1700000950:4",
     4, 3, "until 22:34:10 UTC"},
    {"upscale takes the min of the period: held", "", 2, 10, 1000, 0, "950:2",
     2, 3, "held by upscale stabilization until t=1010s"},
    {"upscale takes the min of the period: partial", "", 4, 20, 1000, 0,
     "950:5 990:6", 5, 6, "scale up to 5"},
    {"upscale: the min is the recommendation itself", "", 2, 10, 1000, 0,
     "960:3", 3, 3, "scale up"},
    {"downscale: an entry at the period's start is ignored", "", 4, 1, 1000, 0,
     "699:4 700:4", 3, 3, "scale down"},
    {"downscale: an entry just inside the period counts", "", 4, 1, 1000, 0,
     "701:4", 4, 3, "until t=1001s"},
    {"upscale: an entry at the period's start is ignored", "", 1, 5, 1000, 0,
     "940:1", 2, 2, "scale up"},
    {"upscale: an entry just inside counts", "", 1, 5, 1000, 0, "941:1", 1, 2,
     "until t=1001s"},
    {"history ring of 3 keeps the 8 at 850", "cap=3", 8, 1, 1000, 0,
     "800:8 850:8 900:6", 8, 6, "held"},
    {"history ring of 2 dropped both 8s", "cap=2", 8, 1, 1000, 0,
     "800:8 850:8 900:6", 6, 6, "scale down"},
};

static void set_param(glia_autoscale_params *p, size_t *cap, const char *key,
                      double v)
{
	if (strcmp(key, "min") == 0)
		p->min_replicas = (int)v;
	else if (strcmp(key, "max") == 0)
		p->max_replicas = (int)v;
	else if (strcmp(key, "target") == 0)
		p->target_replica_concurrency = v;
	else if (strcmp(key, "window") == 0)
		p->window_s = v;
	else if (strcmp(key, "down") == 0)
		p->downscale_stabilization_s = v;
	else if (strcmp(key, "up") == 0)
		p->upscale_stabilization_s = v;
	else if (strcmp(key, "mdf") == 0)
		p->max_downscale_factor = v;
	else if (strcmp(key, "muf") == 0)
		p->max_upscale_factor = v;
	else if (strcmp(key, "dt") == 0)
		p->downscale_tolerance = v;
	else if (strcmp(key, "ut") == 0)
		p->upscale_tolerance = v;
	else if (strcmp(key, "cap") == 0)
		*cap = (size_t)v;
	else
		fail_msg("unknown parameter \"%s\" in the table", key);
}

/* Spec defaults with target 1, then the row's "key=value" overrides. */
static void row_params(const char *spec, glia_autoscale_params *p, size_t *cap)
{
	char key[16];
	double v;
	int used;
	*p = (glia_autoscale_params){
	    .min_replicas = 1,
	    .max_replicas = 100,
	    .target_replica_concurrency = 1,
	    .window_s = 60,
	    .downscale_stabilization_s = 300,
	    .upscale_stabilization_s = 60,
	    .max_downscale_factor = 0.75,
	    .max_upscale_factor = 1.5,
	    .downscale_tolerance = 0.05,
	    .upscale_tolerance = 0.05,
	};
	*cap = 64;
	while (sscanf(spec, " %15[a-z]=%lf%n", key, &v, &used) == 2) {
		set_param(p, cap, key, v);
		spec += used;
	}
	assert_true(spec[strspn(spec, " ")] == '\0');
}

static void row_history(const char *spec, glia_autoscale_history *h)
{
	double t;
	int rec, used;
	while (sscanf(spec, " %lf:%d%n", &t, &rec, &used) == 2) {
		glia_autoscale_history_add(h, t, rec);
		spec += used;
	}
	assert_true(spec[strspn(spec, " ")] == '\0');
}

static void check_row(const row *r)
{
	glia_autoscale_params p;
	glia_autoscale_history h;
	glia_autoscale_decision d;
	size_t cap;

	row_params(r->params, &p, &cap);
	glia_autoscale_history_init(&h, cap);
	row_history(r->hist, &h);
	glia_autoscale_recommend(&p, r->cur, r->avg, r->now, r->started_at, &h,
	                         &d);
	glia_autoscale_history_free(&h);
	if (d.replicas != r->want_replicas ||
	    d.recommended != r->want_recommended)
		fail_msg("%s: replicas %d recommended %d, want %d and %d (%s)",
		         r->name, d.replicas, d.recommended, r->want_replicas,
		         r->want_recommended, d.reason);
	if (r->reason && !strstr(d.reason, r->reason))
		fail_msg("%s: reason \"%s\" lacks \"%s\"", r->name, d.reason,
		         r->reason);
	if ((d.held_until > 0) != (strstr(d.reason, "held") != NULL))
		fail_msg("%s: held_until %g with reason \"%s\"", r->name,
		         d.held_until, d.reason);
	if (d.avg != r->avg || d.reason[0] == '\0')
		fail_msg("%s: avg %g, reason \"%s\"", r->name, d.avg, d.reason);
}

static void recommendation_table_rule_by_rule(void **state)
{
	assert_true(N(rows) >= 40);
	for (size_t i = 0; i < N(rows); i++)
		check_row(&rows[i]);
}

static void recommendation_is_added_to_history(void **state)
{
	glia_autoscale_params p;
	glia_autoscale_history h;
	glia_autoscale_decision d;
	size_t cap;

	row_params("", &p, &cap);
	glia_autoscale_history_init(&h, cap);
	glia_autoscale_recommend(&p, 4, 0, 100, 0, &h, &d);
	assert_int_equal(h.n, 1);
	assert_int_equal(h.rec[0], 3); /* before stabilization held it at 4 */
	assert_true(h.t[0] == 100);
	assert_int_equal(d.replicas, 4);
	assert_true(d.held_until == 300);
	glia_autoscale_history_free(&h);
}

/* A load that falls from 8 to 1 in flight, ticking every 10 s from t=400
 * (long after the start): recommendations fall by the downscale factor,
 * but replicas stay at 8 until the 8 leaves the 5m period. */
static void downscale_waits_for_the_period_then_steps(void **state)
{
	glia_autoscale_params p;
	glia_autoscale_history h;
	glia_autoscale_decision d;
	size_t cap;
	int cur = 8;

	row_params("", &p, &cap);
	glia_autoscale_history_init(&h, glia_autoscale_history_cap(&p, 10));
	glia_autoscale_history_add(&h, 400, 8);
	for (double t = 410; t < 700; t += 10) {
		glia_autoscale_recommend(&p, cur, 1, t, 0, &h, &d);
		assert_int_equal(d.replicas, 8);
		assert_true(d.held_until == 700);
	}
	glia_autoscale_recommend(&p, cur, 1, 700, 0, &h, &d);
	assert_int_equal(d.recommended, 6);
	/* the max of (400, 700] is the first post-load recommendation, 6 */
	assert_int_equal(d.replicas, 6);
	glia_autoscale_history_free(&h);
}

typedef struct sample {
	double t, v;
} sample;

typedef struct window_case {
	const char *name;
	size_t cap;
	sample s[8];
	size_t n;
	double now, window_s, want;
} window_case;

static const window_case window_cases[] = {
    {"empty is 0", 8, {{0, 0}}, 0, 10, 60, 0},
    {"one sample", 8, {{10, 4}}, 1, 10, 60, 4},
    {"mean of all", 8, {{1, 1}, {2, 2}, {3, 3}, {4, 6}}, 4, 4, 60, 3},
    {"old samples ignored",
     8,
     {{1, 100}, {2, 100}, {60, 2}, {61, 4}},
     4,
     61,
     59,
     3},
    {"a sample exactly window_s old is out",
     8,
     {{1, 100}, {61, 5}},
     2,
     61,
     60,
     5},
    {"a sample just inside counts", 8, {{1.5, 7}, {61, 5}}, 2, 61, 60, 6},
    {"future samples ignored", 8, {{10, 2}, {20, 50}}, 2, 10, 60, 2},
    {"nothing in the window is 0", 8, {{1, 9}}, 1, 100, 60, 0},
    {"ring wrap keeps the newest",
     3,
     {{1, 9}, {2, 9}, {3, 1}, {4, 2}, {5, 3}},
     5,
     5,
     60,
     2},
    {"ring of one", 1, {{1, 9}, {2, 5}}, 2, 2, 60, 5},
};

static void window_mean_over_the_last_window(void **state)
{
	for (size_t i = 0; i < N(window_cases); i++) {
		const window_case *c = &window_cases[i];
		glia_autoscale_window w;
		glia_autoscale_window_init(&w, c->cap);
		for (size_t k = 0; k < c->n; k++)
			glia_autoscale_window_add(&w, c->s[k].t, c->s[k].v);
		double got =
		    glia_autoscale_window_mean(&w, c->now, c->window_s);
		glia_autoscale_window_free(&w);
		if (fabs(got - c->want) > 1e-12)
			fail_msg("%s: mean %g, want %g", c->name, got, c->want);
	}
}

static void window_ring_wraps_many_times(void **state)
{
	glia_autoscale_window w;
	glia_autoscale_window_init(&w, 61);
	for (int t = 0; t < 1000; t++)
		glia_autoscale_window_add(&w, t, t);
	assert_int_equal(w.n, 61);
	/* samples 940..999 are in (939, 999]: mean 969.5 */
	assert_true(glia_autoscale_window_mean(&w, 999, 60) == 969.5);
	glia_autoscale_window_free(&w);
}

static void history_ring_drops_the_oldest(void **state)
{
	glia_autoscale_history h;
	glia_autoscale_history_init(&h, 3);
	for (int i = 1; i <= 5; i++)
		glia_autoscale_history_add(&h, i * 10, i);
	assert_int_equal(h.n, 3);
	for (size_t i = 0; i < h.n; i++) {
		size_t k = (h.head + i) % h.cap;
		assert_int_equal(h.rec[k], 3 + (int)i);
	}
	glia_autoscale_history_free(&h);
}

static void params_from_spec_converts_milliseconds(void **state)
{
	static const char yaml[] = "- name: a\n"
	                           "  kind: RealtimeAPI\n"
	                           "  predictor:\n"
	                           "    type: python\n"
	                           "    path: p.py\n"
	                           "    processes_per_replica: 2\n"
	                           "    threads_per_process: 3\n"
	                           "  autoscaling:\n"
	                           "    min_replicas: 0\n"
	                           "    max_replicas: 7\n"
	                           "    window: 1m30s\n"
	                           "    downscale_stabilization_period: 250ms\n"
	                           "    max_upscale_factor: 2.5\n"
	                           "    upscale_tolerance: 0.1\n";
	glia_api_spec *specs = NULL;
	size_t n = 0;
	glia_config_error err;
	glia_autoscale_params p;

	assert_int_equal(glia_config_parse(yaml, sizeof yaml - 1, "t.yaml",
	                                   NULL, &specs, &n, &err),
	                 0);
	glia_autoscale_params_from_spec(&specs[0], &p);
	assert_int_equal(p.min_replicas, 0);
	assert_int_equal(p.max_replicas, 7);
	assert_true(p.target_replica_concurrency == 6);
	assert_true(p.window_s == 90);
	assert_true(p.downscale_stabilization_s == 0.25);
	assert_true(p.upscale_stabilization_s == 60);
	assert_true(p.max_downscale_factor == 0.75);
	assert_true(p.max_upscale_factor == 2.5);
	assert_true(p.downscale_tolerance == 0.05);
	assert_true(p.upscale_tolerance == 0.1);
	assert_int_equal(glia_autoscale_window_cap(&p, 1), 92);
	assert_int_equal(glia_autoscale_history_cap(&p, 10), 8);
	glia_api_specs_free(specs, n);
}

static void format_period_like_specs(void **state)
{
	static const struct {
		double s;
		const char *want;
	} cases[] = {
	    {0, "0s"},        {0.25, "250ms"}, {1, "1s"},   {1.5, "1.5s"},
	    {60, "1m"},       {90, "1m30s"},   {300, "5m"}, {3600, "1h"},
	    {3661, "1h1m1s"}, {7200, "2h"},
	};
	char out[32];
	for (size_t i = 0; i < N(cases); i++) {
		glia_autoscale_format_period(cases[i].s, out, sizeof out);
		assert_string_equal(out, cases[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(recommendation_table_rule_by_rule),
	    cmocka_unit_test(recommendation_is_added_to_history),
	    cmocka_unit_test(downscale_waits_for_the_period_then_steps),
	    cmocka_unit_test(window_mean_over_the_last_window),
	    cmocka_unit_test(window_ring_wraps_many_times),
	    cmocka_unit_test(history_ring_drops_the_oldest),
	    cmocka_unit_test(params_from_spec_converts_milliseconds),
	    cmocka_unit_test(format_period_like_specs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
