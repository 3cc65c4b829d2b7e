/* test_simulate.c: `glia autoscale simulate` (src/simulate.c): the trace
 * parser (valid traces and a table of bad ones with the line they must
 * name), the fluid model driven through the real autoscaler (steady load,
 * a step up and down, replica-seconds, scale to zero and back, timeouts),
 * and the outputs (SVG, JSON, the command's exit statuses). */
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "simulate.h"
#include "util.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define API                                                                    \
	"name: sim\n"                                                          \
	"kind: RealtimeAPI\n"                                                  \
	"predictor:\n"                                                         \
	"  type: python\n"                                                     \
	"  path: p.py\n"

static const glia_sim_options default_opt = {
    .service_s = 0.1, .startup_s = 5, .interval_s = 10};

static glia_api_spec *spec_of(const char *yaml)
{
	glia_api_spec *specs = NULL;
	size_t n = 0;
	glia_config_error err;
	if (glia_config_parse(yaml, strlen(yaml), "sim.yaml", NULL, &specs, &n,
	                      &err) != 0)
		fail_msg("spec: %s", err.message);
	return specs;
}

static void trace_of(const char *csv, glia_sim_trace *t)
{
	char err[256];
	if (glia_sim_trace_parse(csv, strlen(csv), "t.csv", t, err,
	                         sizeof err) != 0)
		fail_msg("trace: %s", err);
}

/* Runs yaml (the autoscaling block after API) over csv. */
static void run(const char *yaml, const char *csv, const glia_sim_options *opt,
                glia_sim_result *res)
{
	glia_api_spec *spec = spec_of(yaml);
	glia_sim_trace t;
	char err[256];
	trace_of(csv, &t);
	if (glia_sim_run(spec, &t, opt, res, err, sizeof err) != 0)
		fail_msg("run: %s", err);
	glia_sim_trace_free(&t);
	glia_api_specs_free(spec, 1);
}

/* Every request is served, rejected, timed out or still queued. */
static void assert_conserved(const glia_sim_result *res)
{
	const glia_sim_summary *s = &res->summary;
	double out = s->served + s->rejected + s->timed_out + s->queued_at_end;
	if (fabs(s->arrived - out) > 1e-6 * (1 + s->arrived))
		fail_msg("arrived %f but served+rejected+timed out+queued %f",
		         s->arrived, out);
}

/* ---- trace parsing ---- */

static void trace_parses_rows_comments_and_blank_lines(void **state)
{
	static const char csv[] = "\xef\xbb\xbf# a comment\n"
	                          "\n"
	                          "time_s, rps ,service_time_ms\r\n"
	                          "0,2\n"
	                          "   # indented comment\n"
	                          "30.5, 40 , 150\r\n"
	                          "60,0,\n"
	                          "\t\n"
	                          "120,1e1,0.5";
	glia_sim_trace t;
	trace_of(csv, &t);
	assert_int_equal(t.n, 4);
	assert_true(t.rows[0].time_s == 0 && t.rows[0].rps == 2);
	assert_true(t.rows[0].service_ms == 0);
	assert_true(t.rows[1].time_s == 30.5 && t.rows[1].rps == 40);
	assert_true(t.rows[1].service_ms == 150);
	assert_true(t.rows[2].rps == 0 && t.rows[2].service_ms == 0);
	assert_true(t.rows[3].rps == 10 && t.rows[3].service_ms == 0.5);
	glia_sim_trace_free(&t);
}

static void trace_refuses_bad_lines_naming_them(void **state)
{
	static const struct {
		const char *csv;
		const char *want;
	} cases[] = {
	    {"", "t.csv: empty trace"},
	    {"# only a comment\n\n", "t.csv: empty trace"},
	    {"time_s,rps\n", "t.csv: no rows after the header"},
	    {"0,1\n", "t.csv:1: the header must be time_s,rps"},
	    {"time,rps\n0,1\n", "t.csv:1: the header must be"},
	    {"time_s,rps,extra\n", "t.csv:1: the header must be"},
	    {"time_s,rps\n0,1,100\n", "t.csv:2: want 2 fields: time_s,rps"},
	    {"time_s,rps,service_time_ms\n0\n", "t.csv:2: want 2 or 3 fields"},
	    {"time_s,rps,service_time_ms\n0,1,2,3\n", "t.csv:2: want 2 or 3"},
	    {"time_s,rps\n#\n0,x\n", "t.csv:3: rps is not a number"},
	    {"time_s,rps\n0,\n", "t.csv:2: rps is not a number"},
	    {"time_s,rps\nten,1\n", "t.csv:2: time_s is not a number"},
	    {"time_s,rps\n0,1\n5,2\n5,3\n", "t.csv:4: time_s must increase"},
	    {"time_s,rps\n9,1\n3,2\n", "t.csv:3: time_s must increase"},
	    {"time_s,rps\n-1,1\n", "t.csv:2: time_s must be from 0 to"},
	    {"time_s,rps\n604801,1\n", "t.csv:2: time_s must be from 0 to"},
	    {"time_s,rps\n0,-1\n", "t.csv:2: rps must be >= 0"},
	    {"time_s,rps\n0,nan\n", "t.csv:2: rps is not a number"},
	    {"time_s,rps\n0,inf\n", "t.csv:2: rps is not a number"},
	    {"time_s,rps\n0,1e999\n", "t.csv:2: rps is not a number"},
	    {"time_s,rps,service_time_ms\n0,1,0\n", "t.csv:2: service_time_ms"},
	    {"time_s,rps,service_time_ms\n0,1,-5\n",
	     "t.csv:2: service_time_ms"},
	    {"time_s,rps\n0,1 2\n", "t.csv:2: rps is not a number"},
	};
	for (size_t i = 0; i < N(cases); i++) {
		glia_sim_trace t = {0};
		char err[256] = "";
		int r = glia_sim_trace_parse(cases[i].csv, strlen(cases[i].csv),
		                             "t.csv", &t, err, sizeof err);
		if (r == 0)
			fail_msg("case %zu accepted, want \"%s\"", i,
			         cases[i].want);
		if (!strstr(err, cases[i].want))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err,
			         cases[i].want);
		assert_null(t.rows);
	}
}

static void trace_refuses_a_nul_and_an_overlong_line(void **state)
{
	static const char nul[] = "time_s,rps\n0,1\0\n";
	char long_line[2100], err[256];
	glia_sim_trace t;
	assert_int_equal(glia_sim_trace_parse(nul, sizeof nul - 1, "t.csv", &t,
	                                      err, sizeof err),
	                 -1);
	assert_non_null(strstr(err, "t.csv:2: NUL"));
	snprintf(long_line, sizeof long_line, "time_s,rps\n0,%02000d\n", 1);
	assert_int_equal(glia_sim_trace_parse(long_line, strlen(long_line),
	                                      "t.csv", &t, err, sizeof err),
	                 -1);
	assert_non_null(strstr(err, "t.csv:2: line longer"));
}

/* ---- the model ---- */

/* 40 rps * 0.1 s = 4 in flight; target 1 per replica: 4 replicas. */
static void constant_load_holds_four_replicas(void **state)
{
	glia_sim_result res;
	run(API "autoscaling:\n  init_replicas: 4\n",
	    "time_s,rps\n0,40\n1200,40\n", &default_opt, &res);
	assert_int_equal(res.n_seconds, 1201);
	for (size_t i = 0; i < res.n_ticks; i++) {
		assert_int_equal(res.ticks[i].requested, 4);
		assert_true(res.ticks[i].queue < 1e-9);
	}
	assert_true(fabs(res.ticks[5].avg - 4) < 1e-9);
	assert_true(res.summary.replica_seconds == 4 * 1201);
	assert_true(res.summary.rejected == 0);
	assert_true(res.summary.latency_max_ms == 100);
	assert_true(res.summary.served == res.summary.arrived);
	assert_conserved(&res);
	glia_sim_result_free(&res);
}

/* From one replica, the same load settles at 4 once the backlog is gone
 * and the downscale period has passed. */
static void constant_load_from_one_settles_at_four(void **state)
{
	glia_sim_result res;
	run(API "autoscaling:\n"
	        "  upscale_stabilization_period: 0s\n"
	        "  downscale_stabilization_period: 1m\n",
	    "time_s,rps\n0,40\n1800,40\n", &default_opt, &res);
	const glia_sim_tick *last = &res.ticks[res.n_ticks - 1];
	assert_int_equal(last->requested, 4);
	assert_int_equal(last->ready, 4);
	assert_true(res.summary.peak_requested >= 4);
	assert_true(res.summary.rejected == 0);
	assert_conserved(&res);
	glia_sim_result_free(&res);
}

static int requested_at(const glia_sim_result *res, double t)
{
	return res->seconds[(size_t)t].requested;
}

/* 10 rps, then 60 rps from t=300 to 900, then 10 rps: up to 6 replicas,
 * and down to 1 only after the downscale period. */
static void step_up_then_down_follows_with_stabilization(void **state)
{
	glia_sim_result res;
	run(API "autoscaling:\n"
	        "  max_replicas: 6\n"
	        "  downscale_stabilization_period: 2m\n"
	        "  max_downscale_factor: 0.5\n",
	    "time_s,rps\n0,10\n300,60\n900,10\n1800,10\n", &default_opt, &res);
	assert_int_equal(requested_at(&res, 299), 1);
	assert_int_equal(requested_at(&res, 899), 6);
	assert_int_equal(res.seconds[899].ready, 6);
	assert_int_equal(res.summary.peak_requested, 6);
	/* no scale-down within 2m of the load falling */
	for (double t = 900; t < 1020; t++)
		assert_int_equal(requested_at(&res, t), 6);
	assert_int_equal(requested_at(&res, 1800), 1);
	/* scaling up went through upscale stabilization */
	int held = 0;
	for (size_t i = 0; i < res.n_ticks; i++)
		held += strstr(res.ticks[i].reason,
		               "held by upscale stabilization") != NULL;
	assert_true(held > 0);
	assert_conserved(&res);
	glia_sim_result_free(&res);
}

/* Ticks at 10 and 20 add one replica each (ready 5 s later); seconds
 * 0..10 run 1, 11..20 run 2, 21..29 run 3: 11 + 20 + 27 = 58. */
static void replica_seconds_add_up(void **state)
{
	glia_sim_result res;
	run(API "autoscaling:\n"
	        "  upscale_stabilization_period: 0s\n"
	        "  max_upscale_factor: 1.01\n",
	    "time_s,rps\n0,20\n29,20\n", &default_opt, &res);
	assert_int_equal(res.n_seconds, 30);
	assert_true(res.summary.replica_seconds == 58);
	assert_int_equal(res.n_ticks, 3); /* t = 0, 10, 20 */
	assert_int_equal(res.ticks[1].requested, 2);
	assert_int_equal(res.ticks[2].requested, 3);
	assert_int_equal(res.seconds[14].ready, 1);
	assert_int_equal(res.seconds[15].ready, 2);
	assert_int_equal(res.seconds[24].ready, 2);
	assert_int_equal(res.seconds[25].ready, 3);
	assert_int_equal(res.summary.peak_ready, 3);
	assert_conserved(&res);
	glia_sim_result_free(&res);
}

static void idle_scales_to_zero_and_a_request_wakes_it(void **state)
{
	glia_sim_result res;
	run(API "autoscaling:\n"
	        "  min_replicas: 0\n"
	        "  init_replicas: 1\n"
	        "  downscale_stabilization_period: 1m\n",
	    "time_s,rps\n0,5\n60,0\n600,5\n700,5\n", &default_opt, &res);
	/* held for 1m after the start, then down to 0 */
	assert_int_equal(requested_at(&res, 59), 1);
	assert_int_equal(requested_at(&res, 599), 0);
	assert_int_equal(res.seconds[599].ready, 0);
	assert_true(res.seconds[599].latency_ms < 0);
	/* the first request starts one replica at once: ready 5 s later */
	assert_int_equal(requested_at(&res, 600), 1);
	assert_int_equal(res.seconds[604].ready, 0);
	assert_int_equal(res.seconds[605].ready, 1);
	assert_true(fabs(res.seconds[600].latency_ms - 5600) < 1e-6);
	assert_true(res.summary.rejected == 0 && res.summary.timed_out == 0);
	assert_true(res.summary.latency_max_ms >= 5000);
	assert_true(res.summary.replica_seconds < 701);
	assert_conserved(&res);
	glia_sim_result_free(&res);
}

/* One replica (max 1), 100 rps of 100 ms, 20 in flight at most, 2 s
 * timeout: most requests get 503 or 504, and the latency estimate is
 * capped at the timeout. */
static void overload_rejects_and_times_out(void **state)
{
	glia_sim_result res;
	run(API "autoscaling:\n"
	        "  max_replicas: 1\n"
	        "  max_replica_concurrency: 20\n"
	        "networking:\n"
	        "  timeout: 2s\n",
	    "time_s,rps\n0,100\n59,100\n", &default_opt, &res);
	assert_true(res.summary.rejected > 0);
	assert_true(res.summary.timed_out > 0);
	assert_true(fabs(res.summary.served - 600) < 1e-6);
	for (size_t i = 0; i < res.n_seconds; i++) {
		assert_true(res.seconds[i].inflight <= 20 + 1e-9);
		assert_true(res.seconds[i].latency_ms <= 2000);
	}
	assert_true(res.summary.latency_max_ms > 1999);
	assert_conserved(&res);
	glia_sim_result_free(&res);
}

static void trace_service_time_overrides_the_option(void **state)
{
	glia_sim_result res;
	run(API "autoscaling:\n  init_replicas: 4\n",
	    "time_s,rps,service_time_ms\n0,10\n10,10,200\n19,10,\n",
	    &default_opt, &res);
	assert_true(fabs(res.seconds[5].inflight - 1) < 1e-9);
	assert_true(fabs(res.seconds[15].inflight - 2) < 1e-9);
	assert_true(res.seconds[15].latency_ms == 200);
	assert_true(fabs(res.seconds[19].inflight - 1) < 1e-9);
	glia_sim_result_free(&res);
}

static void run_refuses_bad_options(void **state)
{
	glia_api_spec *spec = spec_of(API);
	glia_sim_trace t;
	glia_sim_result res;
	glia_sim_options opt = default_opt;
	char err[256];
	trace_of("time_s,rps\n0,1\n", &t);
	opt.interval_s = 0.5;
	assert_int_equal(glia_sim_run(spec, &t, &opt, &res, err, sizeof err),
	                 -1);
	assert_non_null(strstr(err, "interval"));
	glia_sim_result_free(&res);
	glia_sim_trace_free(&t);
	glia_api_specs_free(spec, 1);
}

/* ---- outputs ---- */

static char *temp_dir(void)
{
	char tmpl[] = "/tmp/glia-test-simulate-XXXXXX";
	char *d = mkdtemp(tmpl);
	assert_non_null(d);
	return glia_strdup(d);
}

static int count(const char *s, const char *needle)
{
	int n = 0;
	for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

static void svg_plot_is_well_formed(void **state)
{
	glia_api_spec *spec = spec_of(API);
	glia_sim_trace t;
	glia_sim_result res;
	char err[256];
	char *dir = temp_dir();
	char *path = glia_sprintf("%s/plot.svg", dir);
	trace_of("time_s,rps\n0,2\n100,50\n400,2\n900,2\n", &t);
	assert_int_equal(
	    glia_sim_run(spec, &t, &default_opt, &res, err, sizeof err), 0);
	assert_int_equal(
	    glia_sim_write_svg(path, spec, &default_opt, &res, err, sizeof err),
	    0);
	size_t len;
	char *svg = glia_read_file(path, 1 << 24, &len);
	assert_non_null(svg);
	assert_true(strncmp(svg, "<svg ", 5) == 0);
	assert_true(len > 7 && strcmp(svg + len - 7, "</svg>\n") == 0);
	assert_int_equal(count(svg, "<svg"), 1);
	assert_int_equal(count(svg, "<text"), count(svg, "</text>"));
	assert_int_equal(count(svg, "<path"), 5);
	assert_non_null(strstr(svg, "sim: autoscaling simulation"));
	assert_non_null(strstr(svg, "estimated latency (ms)"));
	free(svg);
	unlink(path);
	/* a directory that does not exist */
	free(path);
	path = glia_sprintf("%s/missing/plot.svg", dir);
	assert_int_equal(
	    glia_sim_write_svg(path, spec, &default_opt, &res, err, sizeof err),
	    -1);
	assert_non_null(strstr(err, "missing/plot.svg: "));
	rmdir(dir);
	free(path);
	free(dir);
	glia_sim_result_free(&res);
	glia_sim_trace_free(&t);
	glia_api_specs_free(spec, 1);
}

static void json_holds_ticks_and_summary(void **state)
{
	glia_api_spec *spec = spec_of(API);
	glia_sim_result res;
	run(API, "time_s,rps\n0,5\n60,5\n", &default_opt, &res);
	json_t *j = glia_sim_to_json(spec, &default_opt, &res);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "api")),
	                    "sim");
	assert_int_equal(json_array_size(json_object_get(j, "ticks")), 7);
	json_t *sum = json_object_get(j, "summary");
	assert_true(json_real_value(json_object_get(sum, "replica_seconds")) ==
	            61);
	assert_true(json_real_value(json_object_get(sum, "latency_p50_ms")) ==
	            100);
	json_t *set = json_object_get(j, "settings");
	assert_int_equal(
	    json_integer_value(json_object_get(set, "max_replicas")), 100);
	json_decref(j);
	glia_sim_result_free(&res);
	glia_api_specs_free(spec, 1);
}

/* Runs the command with stdout and stderr in files; returns its status
 * and the output (malloc'd). */
static int run_main(const char *dir, char **argv, int argc, char **out)
{
	char *path = glia_sprintf("%s/out.txt", dir);
	fflush(stdout);
	fflush(stderr);
	int saved_out = dup(1), saved_err = dup(2);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 1);
	dup2(fd, 2);
	close(fd);
	int r = glia_autoscale_simulate_main(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(saved_out);
	close(saved_err);
	*out = glia_read_file(path, 1 << 24, NULL);
	unlink(path);
	free(path);
	return r;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void command_runs_and_reports_errors(void **state)
{
	char *dir = temp_dir();
	char *yaml = glia_sprintf("%s/glia.yaml", dir);
	char *csv = glia_sprintf("%s/load.csv", dir);
	char *svg = glia_sprintf("%s/load.svg", dir);
	char *out;
	write_file(yaml, "- name: sim\n"
	                 "  kind: RealtimeAPI\n"
	                 "  predictor: {type: python, path: p.py}\n"
	                 "- name: other\n"
	                 "  kind: RealtimeAPI\n"
	                 "  predictor: {type: python, path: p.py}\n");
	write_file(csv, "time_s,rps\n0,5\n120,5\n");

	char *ok[] = {"simulate",  yaml,         "--trace", csv,
	              "--api=sim", "--interval", "20s"};
	assert_int_equal(run_main(dir, ok, N(ok), &out), 0);
	assert_non_null(strstr(out, "summary over 2m1s"));
	assert_non_null(strstr(out, "replica-seconds    121"));
	assert_int_equal(access(svg, R_OK), 0);
	free(out);

	char *json[] = {"simulate", yaml,   "--trace", csv,
	                "-o",       "json", "--plot",  svg};
	assert_int_equal(run_main(dir, json, N(json), &out), 0);
	json_t *j = json_loads(out, 0, NULL);
	assert_non_null(j);
	assert_int_equal(json_array_size(json_object_get(j, "ticks")), 13);
	json_decref(j);
	free(out);

	char *no_api[] = {"simulate", yaml, "--trace", csv, "--api", "nope"};
	assert_int_equal(run_main(dir, no_api, N(no_api), &out), 1);
	assert_non_null(
	    strstr(out, "no API named \"nope\"; it has: sim, other"));
	free(out);

	char *no_trace[] = {"simulate", yaml};
	assert_int_equal(run_main(dir, no_trace, N(no_trace), &out), 2);
	assert_non_null(strstr(out, "missing --trace"));
	free(out);

	char *bad_opt[] = {"simulate", yaml, "--trace", csv, "--bogus"};
	assert_int_equal(run_main(dir, bad_opt, N(bad_opt), &out), 2);
	assert_non_null(strstr(out, "unknown option --bogus"));
	free(out);

	char *bad_dur[] = {"simulate", yaml,         "--trace",
	                   csv,        "--interval", "500ms"};
	assert_int_equal(run_main(dir, bad_dur, N(bad_dur), &out), 2);
	assert_non_null(strstr(out, "--interval"));
	free(out);

	char *missing[] = {"simulate", yaml, "--trace", "/nonexistent.csv"};
	assert_int_equal(run_main(dir, missing, N(missing), &out), 1);
	assert_non_null(strstr(out, "/nonexistent.csv: No such file"));
	free(out);

	unlink(svg);
	unlink(csv);
	unlink(yaml);
	rmdir(dir);
	free(svg);
	free(csv);
	free(yaml);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(trace_parses_rows_comments_and_blank_lines),
	    cmocka_unit_test(trace_refuses_bad_lines_naming_them),
	    cmocka_unit_test(trace_refuses_a_nul_and_an_overlong_line),
	    cmocka_unit_test(constant_load_holds_four_replicas),
	    cmocka_unit_test(constant_load_from_one_settles_at_four),
	    cmocka_unit_test(step_up_then_down_follows_with_stabilization),
	    cmocka_unit_test(replica_seconds_add_up),
	    cmocka_unit_test(idle_scales_to_zero_and_a_request_wakes_it),
	    cmocka_unit_test(overload_rejects_and_times_out),
	    cmocka_unit_test(trace_service_time_overrides_the_option),
	    cmocka_unit_test(run_refuses_bad_options),
	    cmocka_unit_test(svg_plot_is_well_formed),
	    cmocka_unit_test(json_holds_ticks_and_summary),
	    cmocka_unit_test(command_runs_and_reports_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
