/* test_cli.c: the CLI's pure parts (argument parsing, tables, ages and
 * latencies, GLIA_HOME resolution) and the HTTP client against canned
 * answers from a forked one-shot server on a Unix socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "cli_internal.h"
#include "client.h"
#include "env.h"
#include "util.h"

/* ---- argument parsing ---- */

static int parse(glia_cli_args *a, char *err, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;
	va_start(ap, err);
	argv[argc++] = "glia";
	for (char *s; (s = va_arg(ap, char *)) != NULL && argc < 31;)
		argv[argc++] = s;
	va_end(ap);
	argv[argc] = NULL;
	return glia_cli_parse(argc, argv, a, err, 256);
}

static void test_parse_get_with_options_after_the_name(void **state)
{
	glia_cli_args a;
	char err[256];
	assert_int_equal(parse(&a, err, "get", "iris", "-o", "json", "-w",
			       NULL), 0);
	assert_string_equal(a.command, "get");
	assert_int_equal(a.n_pos, 1);
	assert_string_equal(a.pos[0], "iris");
	assert_true(a.json);
	assert_true(a.watch);
	assert_null(a.home);
}

static void test_parse_options_before_the_command(void **state)
{
	glia_cli_args a;
	char err[256];
	assert_int_equal(parse(&a, err, "--home", "/x/h", "-o", "json", "get",
			       NULL), 0);
	assert_string_equal(a.command, "get");
	assert_string_equal(a.home, "/x/h");
	assert_true(a.json);
	assert_int_equal(a.n_pos, 0);
}

static void test_parse_value_forms(void **state)
{
	glia_cli_args a;
	char err[256];
	assert_int_equal(parse(&a, err, "get", "-ojson", NULL), 0);
	assert_true(a.json);
	assert_int_equal(parse(&a, err, "get", "--output=json", "--home=/h",
			       NULL), 0);
	assert_true(a.json);
	assert_string_equal(a.home, "/h");
	assert_int_equal(parse(&a, err, "get", "-o", "table", NULL), 0);
	assert_false(a.json);
	assert_int_equal(parse(&a, err, "get", "-o", "yaml", NULL), -1);
	assert_non_null(strstr(err, "yaml"));
}

static void test_parse_deploy_wait_timeout(void **state)
{
	glia_cli_args a;
	char err[256];
	assert_int_equal(parse(&a, err, "deploy", NULL), 0);
	assert_int_equal(a.n_pos, 0);
	assert_false(a.wait);
	assert_int_equal(a.timeout_ms, -1);
	assert_int_equal(parse(&a, err, "deploy", "x.yaml", "--wait",
			       "--timeout", "90s", NULL), 0);
	assert_string_equal(a.pos[0], "x.yaml");
	assert_true(a.wait);
	assert_int_equal(a.timeout_ms, 90000);
	assert_string_equal(a.timeout, "90s");
	assert_int_equal(parse(&a, err, "deploy", "--timeout", "soon", NULL),
			 -1);
	assert_int_equal(parse(&a, err, "deploy", "a", "b", NULL), -1);
	assert_non_null(strstr(err, "too many"));
}

static void test_parse_dash_f_depends_on_the_command(void **state)
{
	glia_cli_args a;
	char err[256];
	assert_int_equal(parse(&a, err, "logs", "iris", "-f", NULL), 0);
	assert_true(a.follow);
	assert_false(a.force);
	assert_int_equal(parse(&a, err, "delete", "iris", "-f", NULL), 0);
	assert_true(a.force);
	assert_false(a.follow);
	assert_int_equal(parse(&a, err, "get", "-f", NULL), -1);
	assert_non_null(strstr(err, "-f"));
}

/* Cortex's habits: -e/--env and -y on every command, -o pretty|mixed,
 * delete -f (no prompt) apart from --no-drain, a JOB_ID positional. */
static void test_parse_cortex_habits(void **state)
{
	glia_cli_args a;
	char err[256];
	const char *cmds[] = {"deploy", "patch", "get", "version", "down"};
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		assert_int_equal(parse(&a, err, cmds[i], "-e", "far", "-y",
				       NULL), 0);
		assert_string_equal(a.env, "far");
		assert_true(a.yes);
	}
	assert_int_equal(parse(&a, err, "get", "--env=local", "-efar", NULL),
			 0);
	assert_string_equal(a.env, "far");
	assert_int_equal(parse(&a, err, "get", "--env", "", NULL), -1);
	assert_int_equal(parse(&a, err, "get", "-o", "mixed", NULL), 0);
	assert_true(a.json);
	assert_int_equal(parse(&a, err, "get", "-o", "pretty", NULL), 0);
	assert_false(a.json);
	assert_int_equal(parse(&a, err, "delete", "iris", "-f", "-c", NULL), 0);
	assert_true(a.force);
	assert_false(a.no_drain);
	assert_true(a.keep_cache);
	assert_int_equal(parse(&a, err, "delete", "iris", "--no-drain", NULL),
			 0);
	assert_true(a.no_drain);
	assert_int_equal(parse(&a, err, "deploy", "-f", NULL), 0);
	assert_true(a.force);
	assert_int_equal(parse(&a, err, "logs", "iris", "--no-follow", NULL),
			 0);
	assert_true(a.no_follow);
	assert_false(a.follow);
	assert_int_equal(parse(&a, err, "get", "iris", "job-1", "-v", NULL), 0);
	assert_int_equal(a.n_pos, 2);
	assert_true(a.verbose);
	assert_int_equal(parse(&a, err, "describe", "iris", "--no-drain",
			       NULL), -1);
}

static void test_parse_logs_tail_and_replica(void **state)
{
	glia_cli_args a;
	char err[256];
	assert_int_equal(parse(&a, err, "logs", "iris", NULL), 0);
	assert_int_equal(a.tail, -1);
	assert_null(a.replica);
	assert_int_equal(parse(&a, err, "logs", "--tail", "20", "iris",
			       "--replica", "iris-0", NULL), 0);
	assert_int_equal(a.tail, 20);
	assert_string_equal(a.replica, "iris-0");
	assert_string_equal(a.pos[0], "iris");
	assert_int_equal(parse(&a, err, "logs", "iris", "--tail", "-3", NULL),
			 -1);
	assert_int_equal(parse(&a, err, "logs", "iris", "--tail", NULL), -1);
	assert_non_null(strstr(err, "needs a value"));
}

static void test_parse_missing_and_extra_arguments(void **state)
{
	glia_cli_args a;
	char err[256];
	assert_int_equal(parse(&a, err, "describe", NULL), -1);
	assert_non_null(strstr(err, "API name"));
	assert_int_equal(parse(&a, err, "predict", "iris", NULL), -1);
	assert_non_null(strstr(err, "payload"));
	assert_int_equal(parse(&a, err, "predict", "iris", "-", NULL), 0);
	assert_string_equal(a.pos[1], "-");
	assert_int_equal(parse(&a, err, "version", "x", NULL), -1);
	assert_int_equal(parse(&a, err, NULL), -1);
	assert_non_null(strstr(err, "missing command"));
}

static void test_parse_unknown_command_and_option(void **state)
{
	glia_cli_args a;
	char err[256];
	assert_int_equal(parse(&a, err, "frobnicate", NULL), -1);
	assert_non_null(strstr(err, "frobnicate"));
	assert_int_equal(parse(&a, err, "get", "--bogus", NULL), -1);
	assert_non_null(strstr(err, "--bogus"));
	assert_int_equal(parse(&a, err, "version", "--wait", NULL), -1);
}

static void test_parse_help_and_unimplemented(void **state)
{
	glia_cli_args a;
	char err[256];
	assert_int_equal(parse(&a, err, "--help", NULL), 0);
	assert_true(a.help);
	assert_int_equal(parse(&a, err, "get", "-h", NULL), 0);
	assert_true(a.help);
	assert_int_equal(parse(&a, err, "help", NULL), 0);
	assert_true(a.help);
	assert_int_equal(parse(&a, err, "job", "submit", "x", "y", "--zz",
			       NULL), 0);
	assert_true(a.unimplemented);
	assert_string_equal(a.command, "job");
}

static void test_parse_logs_json(void **state)
{
	glia_cli_args a;
	char err[256];
	assert_int_equal(parse(&a, err, "logs", "iris", "--json", "-f", NULL),
	                 0);
	assert_true(a.json);
	assert_true(a.follow);
	assert_int_equal(parse(&a, err, "logs", "iris", "-o", "json", NULL), 0);
	assert_true(a.json);
	assert_int_equal(parse(&a, err, "get", "--json", NULL), 0);
	assert_true(a.json);
	assert_int_equal(parse(&a, err, "logs", "iris", "--json=yes", NULL),
	                 -1);
	assert_int_equal(
	    parse(&a, err, "predict", "iris", "{}", "--json", NULL), -1);
}

static void test_parse_double_dash_ends_options(void **state)
{
	glia_cli_args a;
	char err[256];
	assert_int_equal(parse(&a, err, "predict", "iris", "--", "-1", NULL),
			 0);
	assert_int_equal(a.n_pos, 2);
	assert_string_equal(a.pos[1], "-1");
}

/* The command word wherever options put it (what the default env
 * needs: glia -y get). */
static void test_command_index_skips_options_and_their_values(void **state)
{
	char *a1[] = {"glia", "get", NULL};
	char *a2[] = {"glia", "-y", "get", NULL};
	char *a3[] = {"glia", "--home", "/h", "-o", "json", "delete", NULL};
	char *a4[] = {"glia", "--env=far", "--yes", "logs", "api", NULL};
	char *a5[] = {"glia", "-y", NULL};
	char *a6[] = {"glia", "-y", "--", "get", NULL};

	assert_int_equal(glia_cli_command_index(2, a1), 1);
	assert_int_equal(glia_cli_command_index(3, a2), 2);
	assert_int_equal(glia_cli_command_index(6, a3), 5);
	assert_int_equal(glia_cli_command_index(5, a4), 3);
	assert_int_equal(glia_cli_command_index(2, a5), 0);
	assert_int_equal(glia_cli_command_index(4, a6), 3);
}

/* ---- tables and formatting ---- */

static void test_table_pads_columns_and_trims_line_ends(void **state)
{
	glia_cli_table t;
	glia_buf out;
	glia_buf_init(&out, 0);
	glia_cli_table_init(&t, 3);
	glia_cli_table_cell(&t, "NAME");
	glia_cli_table_cell(&t, "STATUS");
	glia_cli_table_cell(&t, "X");
	glia_cli_table_cell(&t, "iris-classifier");
	glia_cli_table_cell(&t, NULL);
	glia_cli_table_cellf(&t, "%d", 42);
	glia_cli_table_cell(&t, "a");
	glia_cli_table_cell(&t, "two\nlines");
	glia_cli_table_cell(&t, "");
	glia_cli_table_format(&t, &out);
	assert_string_equal(out.data, "NAME             STATUS     X\n"
				      "iris-classifier  -          42\n"
				      "a                two lines\n");
	glia_cli_table_free(&t);
	glia_buf_free(&out);
}

static void test_table_counts_utf8_as_one_column(void **state)
{
	glia_cli_table t;
	glia_buf out;
	glia_buf_init(&out, 0);
	glia_cli_table_init(&t, 2);
	glia_cli_table_cell(&t, "\xc3\xa9t\xc3\xa9"); /* "été" */
	glia_cli_table_cell(&t, "x");
	glia_cli_table_cell(&t, "abcd");
	glia_cli_table_cell(&t, "y");
	glia_cli_table_format(&t, &out);
	assert_string_equal(out.data, "\xc3\xa9t\xc3\xa9   x\nabcd  y\n");
	glia_cli_table_free(&t);
	glia_buf_free(&out);
}

static void test_age_units(void **state)
{
	char s[32];
	static const struct {
		double secs;
		const char *want;
	} cases[] = {
		{-3, "0s"},     {0, "0s"},        {5.9, "5s"},    {59, "59s"},
		{60, "1m"},     {3599, "59m"},    {3600, "1h"},   {7300, "2h"},
		{86399, "23h"}, {86400, "1d"},    {4 * 86400 + 5, "4d"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		glia_cli_format_age(cases[i].secs, s, sizeof s);
		assert_string_equal(s, cases[i].want);
	}
}

static void test_latency_units(void **state)
{
	char s[32];
	static const struct {
		double ms;
		const char *want;
	} cases[] = {
		{-1, "-"},      {0.421, "0.42ms"}, {1.2, "1.2ms"},
		{99.94, "99.9ms"}, {250, "250ms"}, {1500, "1.50s"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		glia_cli_format_latency(cases[i].ms, s, sizeof s);
		assert_string_equal(s, cases[i].want);
	}
}

static void test_count_units(void **state)
{
	char s[32];
	static const struct {
		long long n;
		const char *want;
	} cases[] = {
	    {0, "0"},
	    {999999, "999999"},
	    {1000000, "1M"},
	    {1234567, "1.23M"},
	    {12345678, "12.3M"},
	    {123456789, "123M"},
	    {999499999, "999M"},
	    {999500000, "1G"},
	    {1500000000, "1.5G"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		glia_cli_format_count(cases[i].n, s, sizeof s);
		assert_string_equal(s, cases[i].want);
	}
}

static void test_rate_units(void **state)
{
	char s[32];
	static const struct {
		double rps;
		const char *want;
	} cases[] = {
	    {-1, "-"},      {0, "0"},         {1.0 / 60, "0.02"},
	    {0.5, "0.50"},  {0.999, "1.0"},   {12.34, "12.3"},
	    {99.96, "100"}, {1234.4, "1234"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		glia_cli_format_rate(cases[i].rps, s, sizeof s);
		assert_string_equal(s, cases[i].want);
	}
}

/* ---- glia get screens ---- */

static json_t *load(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, 0, &err);
	if (!j)
		fail_msg("bad JSON in test: %s", err.text);
	return j;
}

#define NOW 1700000100.0

static const char list_json[] =
    "{\"apis\": [{\"name\": \"iris-classifier\", \"kind\": \"RealtimeAPI\","
    " \"status\": \"live\", \"replicas\": {\"requested\": 2, \"ready\": 2,"
    " \"up_to_date\": 2, \"failed\": 0},"
    " \"requests\": {\"total\": 24120, \"2xx\": 24000, \"4xx\": 100,"
    " \"5xx\": 20}, \"avg_latency_ms\": 1.5, \"last_update\": 1700000040.0,"
    " \"last_minute\": {\"rps\": 402.07, \"avg_latency_ms\": 0.821,"
    " \"p99_latency_ms\": 4.2, \"requests\": 24124}},"
    " {\"name\": \"idle\", \"kind\": \"RealtimeAPI\", \"status\": \"starting\","
    " \"replicas\": {\"requested\": 1, \"ready\": 0, \"up_to_date\": 0},"
    " \"requests\": {\"total\": 0, \"2xx\": 0, \"4xx\": 0, \"5xx\": 0},"
    " \"last_update\": 1700000099.0,"
    " \"last_minute\": {\"rps\": 0, \"avg_latency_ms\": 0,"
    " \"p99_latency_ms\": 0, \"requests\": 0}}]}";

static void test_get_table_has_minute_and_since_deploy_columns(void **state)
{
	json_t *j = load(list_json);
	glia_buf out;
	glia_buf_init(&out, 0);
	glia_cli_render_list(j, NOW, &out);
	assert_string_equal(
	    out.data,
	    "NAME             KIND         STATUS    REPLICAS  UP-TO-DATE  "
	    "RPS  AVG     P99    2XX    4XX  5XX  UPDATED\n"
	    "iris-classifier  RealtimeAPI  live      2/2       2           "
	    "402  0.82ms  4.2ms  24000  100  20   1m\n"
	    "idle             RealtimeAPI  starting  0/1       0           "
	    "0    -       -      0      0    0    1s\n");
	glia_buf_free(&out);
	json_decref(j);
}

/* A 25-character name and large counts still fit in 120 columns. */
static void test_get_table_fits_120_columns(void **state)
{
	json_t *j = load(list_json);
	json_t *api = json_array_get(json_object_get(j, "apis"), 0);
	json_object_set_new(api, "name",
	                    json_string("fraud-detector-production"));
	json_object_set_new(api, "status", json_string("updating"));
	json_object_set_new(json_object_get(api, "requests"), "2xx",
	                    json_integer(123400000));
	json_object_set_new(json_object_get(api, "requests"), "4xx",
	                    json_integer(999999));
	json_object_set_new(json_object_get(api, "requests"), "5xx",
	                    json_integer(99999));
	glia_buf out;
	glia_buf_init(&out, 0);
	glia_cli_render_list(j, NOW, &out);
	for (char *p = out.data; *p;) {
		char *nl = strchr(p, '\n');
		if ((size_t)(nl - p) > 120)
			fail_msg("line of %zu columns: %.*s", (size_t)(nl - p),
			         (int)(nl - p), p);
		p = nl + 1;
	}
	glia_buf_free(&out);
	json_decref(j);
}

static const char detail_json[] =
    "{\"name\": \"iris\", \"kind\": \"RealtimeAPI\", \"status\": \"live\","
    " \"url\": \"http://127.0.0.1:8888/iris\","
    " \"replicas\": {\"requested\": 2, \"ready\": 2, \"up_to_date\": 2},"
    " \"restarts\": 1, \"error\": null,"
    " \"requests\": {\"total\": 120, \"2xx\": 110, \"4xx\": 7, \"5xx\": 3},"
    " \"avg_latency_ms\": 1.25, \"last_update\": 1700000040.0,"
    " \"in_flight\": 1, \"queued\": 0,"
    " \"last_minute\": {\"rps\": 2.0, \"avg_latency_ms\": 1.1,"
    " \"p99_latency_ms\": 9.87, \"requests\": 120},"
    " \"predictions\": {\"model_type\": \"classification\","
    " \"classes\": {\"setosa\": 50, \"versicolor\": 40, \"virginica\": 20}},"
    " \"replica_list\": [{\"id\": \"iris-1a2b3c-aaaaa\", \"pids\": [101],"
    " \"state\": \"ready\", \"restarts\": 1, \"age_s\": 125.0,"
    " \"in_flight\": 1, \"requests\": 70, \"errors_5xx\": 3},"
    " {\"id\": \"iris-1a2b3c-bbbbb\", \"pids\": [102, 103],"
    " \"state\": \"ready\", \"restarts\": 0, \"age_s\": 30.0,"
    " \"in_flight\": 0, \"requests\": 50, \"errors_5xx\": 0}],"
    " \"recent_errors\": [{\"at\": 1700000095.0, \"status\": 500,"
    " \"request_id\": \"0f3a9c1d2e4b5a6c00000002\","
    " \"error\": \"ValueError: boom\"},"
    " {\"at\": 1700000010.0, \"status\": 400, \"request_id\": \"rid-1\","
    " \"error\": \"invalid JSON payload: Expecting value: line 1 column 1"
    " (char 0) and then some more text to make it long\"}]}";

static void test_get_detail_shows_minute_replicas_and_errors(void **state)
{
	json_t *j = load(detail_json);
	glia_buf out;
	glia_buf_init(&out, 0);
	glia_cli_render_detail(j, NOW, &out);
	assert_string_equal(
	    out.data,
	    "name:        iris\n"
	    "kind:        RealtimeAPI\n"
	    "status:      live\n"
	    "endpoint:    http://127.0.0.1:8888/iris\n"
	    "replicas:    2/2 ready\n"
	    "up-to-date:  2\n"
	    "restarts:    1\n"
	    "requests:    120 (2xx: 110, 4xx: 7, 5xx: 3)\n"
	    "avg latency: 1.2ms\n"
	    "last minute: 2.0 req/s, avg 1.1ms, p99 9.9ms (120 requests)\n"
	    "in flight:   1 (queued: 0)\n"
	    "predictions: setosa: 50, versicolor: 40, virginica: 20\n"
	    "last update: 1m ago\n"
	    "\n"
	    "ID                 STATE  PIDS     REQUESTS  5XX  IN-FLIGHT  "
	    "RESTARTS  AGE\n"
	    "iris-1a2b3c-aaaaa  ready  101      70        3    1          "
	    "1         2m\n"
	    "iris-1a2b3c-bbbbb  ready  102,103  50        0    0          "
	    "0         30s\n"
	    "\n"
	    "recent errors (newest first):\n"
	    "AGE  STATUS  REQUEST-ID                ERROR\n"
	    "5s   500     0f3a9c1d2e4b5a6c00000002  ValueError: boom\n"
	    "1m   400     rid-1                     invalid JSON payload: "
	    "Expecting value: line 1 column 1 (char 0) and t...\n");
	glia_buf_free(&out);
	json_decref(j);
}

static void test_get_detail_regression_predictions(void **state)
{
	json_t *j = load("{\"name\": \"r\", \"predictions\": {\"model_type\":"
	                 " \"regression\", \"count\": 4, \"min\": 0.5,"
	                 " \"max\": 12, \"avg\": 3.25}}");
	glia_buf out;
	glia_buf_init(&out, 0);
	glia_cli_render_detail(j, NOW, &out);
	assert_non_null(strstr(out.data, "predictions: 4 value(s), min 0.5, "
	                                 "avg 3.25, max 12\n"));
	assert_null(strstr(out.data, "recent errors"));
	glia_buf_free(&out);
	json_decref(j);
}

static void test_home_dir_resolution(void **state)
{
	char *h;
	setenv("HOME", "/home/u", 1);
	unsetenv("GLIA_HOME");
	h = glia_home_dir(NULL);
	assert_string_equal(h, "/home/u/.glia");
	free(h);
	setenv("GLIA_HOME", "/srv/glia/", 1);
	h = glia_home_dir(NULL);
	assert_string_equal(h, "/srv/glia");
	free(h);
	h = glia_home_dir("/flag/wins");
	assert_string_equal(h, "/flag/wins");
	free(h);
	h = glia_home_dir("~/g");
	assert_string_equal(h, "/home/u/g");
	free(h);
	char cwd[4096];
	assert_non_null(getcwd(cwd, sizeof cwd));
	h = glia_home_dir("rel");
	char *want = glia_sprintf("%s/rel", cwd);
	assert_string_equal(h, want);
	free(want);
	free(h);
	unsetenv("GLIA_HOME");
}

/* ---- the default env (glia env default) ---- */

static void write_envs(const char *dir, const char *text)
{
	char *path = glia_sprintf("%s/envs.json", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(path);
}

/* argv with the default applied, as one string ("" when argv itself is
 * returned; "NULL:STATUS" when refused). */
static char *with_default(const char *home, ...)
{
	char *argv[16] = {"glia"}, **v;
	int argc = 1, n, status = 0;
	va_list ap;
	va_start(ap, home);
	for (char *s; (s = va_arg(ap, char *)) != NULL && argc < 13;)
		argv[argc++] = s;
	va_end(ap);
	argv[argc++] = "--home";
	argv[argc++] = (char *)home;
	argv[argc] = NULL;
	v = glia_env_with_default(argc, argv, &n, &status);
	if (!v)
		return glia_sprintf("NULL:%d", status);
	if (v == argv)
		return glia_strdup("");
	assert_int_equal(n, argc + 2);
	assert_null(v[n]);
	assert_string_equal(v[n - 1], home); /* the rest follows */
	char *out = glia_sprintf("%s %s %s %s", v[1], v[2], v[3], v[4]);
	free(v[2]);
	free(v);
	return out;
}

static void test_env_default_argv(void **state)
{
	char dir[] = "/tmp/glia-envdef-XXXXXX", *s;
	assert_non_null(mkdtemp(dir));
	/* no envs.json: local, argv as it is */
	s = with_default(dir, "get", NULL);
	assert_string_equal(s, "");
	free(s);
	write_envs(dir, "{\"_default\": \"far\", \"far\": {\"provider\": "
			"\"glia\", \"url\": \"http://h:1\", \"token\": "
			"\"t\"}, \"kube\": {\"provider\": \"kubernetes\"}}");
	s = with_default(dir, "get", "api", NULL);
	assert_string_equal(s, "--env far get api");
	free(s);
	s = with_default(dir, "predict", "api", "-", NULL);
	assert_string_equal(s, "--env far predict api");
	free(s);
	/* options before the command: the default still applies */
	s = with_default(dir, "-y", "get", NULL);
	assert_string_equal(s, "--env far -y get");
	free(s);
	s = with_default(dir, "--yes", "delete", "x", NULL);
	assert_string_equal(s, "--env far --yes delete");
	free(s);
	s = with_default(dir, "-o", "json", "get", NULL);
	assert_string_equal(s, "--env far -o json");
	free(s);
	/* an env named, help, down, or a command without --env: as it is */
	const char *const *cases[] = {
	    (const char *const[]){"get", "-e", "local", NULL},
	    (const char *const[]){"-e", "local", "get", NULL},
	    (const char *const[]){"--env=far", "-y", "get", NULL},
	    (const char *const[]){"-y", "up", NULL},
	    (const char *const[]){"get", "-elocal", NULL},
	    (const char *const[]){"get", "--env=kube", NULL},
	    (const char *const[]){"logs", "api", "--env", "far", NULL},
	    (const char *const[]){"get", "--help", NULL},
	    (const char *const[]){"down", NULL},
	    (const char *const[]){"up", NULL},
	    (const char *const[]){"keys", "list", NULL},
	    (const char *const[]){"env", "list", NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const char *const *c = cases[i];
		s = with_default(dir, c[0], c[1], c[1] ? c[2] : NULL,
				 c[1] && c[2] ? c[3] : NULL, NULL);
		assert_string_equal(s, "");
		free(s);
	}
	/* a Kubernetes default: its commands, version here, others refused */
	write_envs(dir, "{\"_default\": \"kube\", \"kube\": "
			"{\"provider\": \"kubernetes\"}}");
	s = with_default(dir, "deploy", NULL);
	assert_string_equal(s, "--env kube deploy --home");
	free(s);
	s = with_default(dir, "version", NULL);
	assert_string_equal(s, "");
	free(s);
	s = with_default(dir, "-y", "version", NULL);
	assert_string_equal(s, "");
	free(s);
	s = with_default(dir, "-y", "predict", "api", "{}", NULL);
	assert_string_equal(s, "NULL:2");
	free(s);
	s = with_default(dir, "predict", "api", "{}", NULL);
	assert_string_equal(s, "NULL:2");
	free(s);
	/* an unreadable file is an error, not local */
	write_envs(dir, "{not json");
	s = with_default(dir, "get", NULL);
	assert_string_equal(s, "NULL:1");
	free(s);
	write_envs(dir, "{}");
	s = with_default(dir, "get", NULL);
	assert_string_equal(s, "");
	free(s);
	char *path = glia_sprintf("%s/envs.json", dir);
	unlink(path);
	free(path);
	rmdir(dir);
}

/* ---- URLs ---- */

static void test_parse_url(void **state)
{
	char host[64];
	int port;
	char *path;
	assert_int_equal(glia_client_parse_url("http://127.0.0.1:8888/iris",
					       host, sizeof host, &port, &path),
			 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 8888);
	assert_string_equal(path, "/iris");
	free(path);
	assert_int_equal(glia_client_parse_url("http://localhost", host,
					       sizeof host, &port, &path), 0);
	assert_string_equal(host, "localhost");
	assert_int_equal(port, 80);
	assert_string_equal(path, "/");
	free(path);
	assert_int_equal(glia_client_parse_url("http://[::1]:9/a/b?x=1", host,
					       sizeof host, &port, &path), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 9);
	assert_string_equal(path, "/a/b?x=1");
	free(path);
	static const char *const bad[] = {
		"https://x/", "http://", "http://:80/", "http://h:0/",
		"http://h:99999/", "http://h:8x/", "http://[::1/", "ftp://h",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(glia_client_parse_url(bad[i], host,
						       sizeof host, &port,
						       &path), -1);
}

static void test_url_encode(void **state)
{
	glia_buf b;
	glia_buf_init(&b, 0);
	assert_int_equal(glia_client_url_encode(&b, "a-b_c.d~9"), 0);
	assert_int_equal(glia_client_url_encode(&b, " /?&%"), 0);
	assert_string_equal(b.data, "a-b_c.d~9%20%2F%3F%26%25");
	glia_buf_free(&b);
}

/* ---- client against a one-shot server ---- */

typedef struct server {
	char dir[64];
	char sub[256];
	char path[300];
	pid_t pid;
	int req_fd; /* read end: the request as the server received it */
} server;

/* Reads a request (head and Content-Length body) from fd into b. */
static void read_request(int fd, glia_buf *b)
{
	char buf[4096];
	for (;;) {
		char *end = b->data ? strstr(b->data, "\r\n\r\n") : NULL;
		if (end) {
			char *cl = strcasestr(b->data, "Content-Length:");
			size_t want = (size_t)(end + 4 - b->data) +
				      (cl && cl < end ? strtoul(cl + 15, NULL, 10)
						      : 0);
			if (b->len >= want)
				return;
		}
		ssize_t n = read(fd, buf, sizeof buf);
		if (n <= 0)
			return;
		glia_buf_append(b, buf, (size_t)n);
	}
}

/* Child: accepts one connection, reports the request on the pipe, sends
 * resp in pieces of `piece` bytes (1 ms apart), then lingers `linger_ms`
 * before closing. */
static void serve_child(int lfd, int pipe_fd, const char *resp, size_t piece,
			int linger_ms)
{
	int c = accept(lfd, NULL, NULL);
	if (c < 0)
		_exit(1);
	glia_buf req;
	glia_buf_init(&req, 0);
	read_request(c, &req);
	glia_write_all(pipe_fd, req.data ? req.data : "", req.len);
	close(pipe_fd);
	size_t len = strlen(resp);
	for (size_t off = 0; off < len; off += piece) {
		size_t n = len - off < piece ? len - off : piece;
		glia_write_all(c, resp + off, n);
		usleep(1000);
	}
	usleep((useconds_t)linger_ms * 1000);
	close(c);
	_exit(0);
}

/* Starts a server on <fresh dir>[/<sub>]/glia.sock; a long sub makes the
 * path too long for sun_path (the client's /proc/self/fd route). */
static void server_start(server *s, const char *sub, const char *resp,
			 size_t piece, int linger_ms)
{
	const char *name = "glia.sock";
	snprintf(s->dir, sizeof s->dir, "/tmp/glia-test-cli-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->sub, sizeof s->sub, "%s%s%s", s->dir, sub ? "/" : "",
		 sub ? sub : "");
	if (sub)
		assert_int_equal(mkdir(s->sub, 0700), 0);
	snprintf(s->path, sizeof s->path, "%s/%s", s->sub, name);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	/* bind through a relative name so that long names fit */
	char cwd[4096];
	assert_non_null(getcwd(cwd, sizeof cwd));
	assert_int_equal(chdir(s->sub), 0);
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", name);
	int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(listen(lfd, 4), 0);
	int p[2];
	assert_int_equal(pipe(p), 0);
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0) {
		close(p[0]);
		serve_child(lfd, p[1], resp, piece, linger_ms);
	}
	close(p[1]);
	close(lfd);
	s->req_fd = p[0];
}

/* Stops the server; returns the request it received (malloc'd). */
static char *server_stop(server *s)
{
	kill(s->pid, SIGTERM);
	waitpid(s->pid, NULL, 0);
	glia_buf b;
	glia_buf_init(&b, 0);
	char buf[4096];
	ssize_t n;
	while ((n = read(s->req_fd, buf, sizeof buf)) > 0)
		glia_buf_append(&b, buf, (size_t)n);
	close(s->req_fd);
	unlink(s->path);
	if (strcmp(s->sub, s->dir))
		rmdir(s->sub);
	rmdir(s->dir);
	return b.data ? b.data : glia_strdup("");
}

static void test_request_content_length_answer(void **state)
{
	server s;
	server_start(&s, NULL,
		     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		     "Content-Length: 11\r\n\r\n{\"ok\":true}",
		     7, 0);
	glia_client_response r = {0};
	char err[256];
	int rc = glia_client_request(s.path, NULL, 0, "POST", "/v1/deploy",
				     "application/json", "{\"a\":1}", 7, 5000,
				     &r, err, sizeof err);
	char *req = server_stop(&s);
	assert_int_equal(rc, 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "application/json");
	assert_string_equal(r.body.data, "{\"ok\":true}");
	assert_non_null(strstr(req, "POST /v1/deploy HTTP/1.1\r\n"));
	assert_non_null(strstr(req, "Content-Type: application/json\r\n"));
	assert_non_null(strstr(req, "Content-Length: 7\r\n"));
	assert_non_null(strstr(req, "Connection: close\r\n"));
	assert_non_null(strstr(req, "\r\n\r\n{\"a\":1}"));
	free(req);
	glia_client_response_free(&r);
}

static void test_request_chunked_and_eof_answers(void **state)
{
	server s;
	server_start(&s, NULL,
		     "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n"
		     "\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
		     3, 0);
	glia_client_response r = {0};
	char err[256];
	int rc = glia_client_request(s.path, NULL, 0, "GET", "/x", NULL, NULL,
				     0, 5000, &r, err, sizeof err);
	free(server_stop(&s));
	assert_int_equal(rc, 0);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.body.data, "hello world");

	server_start(&s, NULL, "HTTP/1.1 200 OK\r\n\r\nuntil eof", 4,
		     0);
	rc = glia_client_request(s.path, NULL, 0, "GET", "/x", NULL, NULL, 0,
				 5000, &r, err, sizeof err);
	free(server_stop(&s));
	assert_int_equal(rc, 0);
	assert_string_equal(r.body.data, "until eof");
	glia_client_response_free(&r);
}

static void test_request_long_socket_path(void **state)
{
	char sub[120];
	memset(sub, 'd', sizeof sub - 1);
	sub[sizeof sub - 1] = '\0';
	server s;
	server_start(&s, sub, "HTTP/1.1 204 No Content\r\n\r\n", 64, 0);
	assert_true(strlen(s.path) >= sizeof(((struct sockaddr_un *)0)->sun_path));
	glia_client_response r = {0};
	char err[256];
	int rc = glia_client_request(s.path, NULL, 0, "DELETE", "/v1/apis/x",
				     NULL, NULL, 0, 5000, &r, err, sizeof err);
	char *req = server_stop(&s);
	assert_int_equal(rc, 0);
	assert_int_equal(r.status, 204);
	assert_int_equal(r.body.len, 0);
	assert_null(strstr(req, "Content-Length"));
	free(req);
	glia_client_response_free(&r);
}

static void test_request_no_daemon_is_econnect(void **state)
{
	glia_client_response r = {0};
	char err[256];
	int rc = glia_client_request("/nonexistent-dir/glia.sock", NULL, 0,
				     "GET", "/v1/apis", NULL, NULL, 0, 1000,
				     &r, err, sizeof err);
	assert_int_equal(rc, GLIA_CLIENT_ECONNECT);
	assert_non_null(strstr(err, "/nonexistent-dir/glia.sock"));
	glia_client_response_free(&r);
}

static void test_request_times_out(void **state)
{
	server s;
	server_start(&s, NULL, "", 1, 3000);
	glia_client_response r = {0};
	char err[256];
	uint64_t t0 = glia_now_ms();
	int rc = glia_client_request(s.path, NULL, 0, "GET", "/", NULL, NULL,
				     0, 300, &r, err, sizeof err);
	uint64_t took = glia_now_ms() - t0;
	free(server_stop(&s));
	assert_int_equal(rc, GLIA_CLIENT_ETIMEDOUT);
	assert_true(took >= 290 && took < 2000);
	glia_client_response_free(&r);
}

typedef struct collected {
	glia_buf body;
	int calls;
	int head_seen;
	int status;
	volatile sig_atomic_t *cancel_after_body;
} collected;

static int collect(void *ud, int status, const char *data, size_t len)
{
	collected *c = ud;
	c->status = status;
	if (len == 0) {
		c->head_seen = c->calls == 0;
	} else {
		glia_buf_append(&c->body, data, len);
		if (c->cancel_after_body && strstr(c->body.data, "two\n"))
			*c->cancel_after_body = 1;
	}
	c->calls++;
	return 0;
}

static void test_stream_chunked_in_small_pieces(void **state)
{
	server s;
	server_start(&s, NULL,
		     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
		     "transfer-encoding: chunked\r\n\r\n"
		     "4;ext=1\r\none\n\r\n4\r\ntwo\n\r\n0\r\nX-Trailer: 1\r\n\r\n",
		     1, 0);
	collected c = {.calls = 0};
	glia_buf_init(&c.body, 0);
	char err[256];
	int status;
	int rc = glia_client_stream(s.path, NULL, 0, "GET", "/logs", NULL, NULL,
				    0, 5000, NULL, collect, &c, &status, err,
				    sizeof err);
	free(server_stop(&s));
	assert_int_equal(rc, 0);
	assert_int_equal(status, 200);
	assert_true(c.head_seen);
	assert_string_equal(c.body.data, "one\ntwo\n");
	glia_buf_free(&c.body);
}

static void test_stream_cancel_ends_an_endless_answer(void **state)
{
	server s;
	server_start(&s, NULL,
		     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		     "4\r\none\n\r\n4\r\ntwo\n\r\n",
		     64, 5000);
	volatile sig_atomic_t cancel = 0;
	collected c = {.cancel_after_body = &cancel};
	glia_buf_init(&c.body, 0);
	char err[256];
	uint64_t t0 = glia_now_ms();
	int rc = glia_client_stream(s.path, NULL, 0, "GET", "/logs", NULL, NULL,
				    0, 0, &cancel, collect, &c, NULL, err,
				    sizeof err);
	uint64_t took = glia_now_ms() - t0;
	free(server_stop(&s));
	assert_int_equal(rc, GLIA_CLIENT_ECANCELED);
	assert_true(took < 2000);
	assert_string_equal(c.body.data, "one\ntwo\n");
	glia_buf_free(&c.body);
}

static void test_stream_rejects_bad_chunk_size(void **state)
{
	server s;
	server_start(&s, NULL,
		     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		     "zz\r\nhello\r\n0\r\n\r\n",
		     64, 0);
	collected c = {.calls = 0};
	glia_buf_init(&c.body, 0);
	char err[256];
	int rc = glia_client_stream(s.path, NULL, 0, "GET", "/", NULL, NULL, 0,
				    5000, NULL, collect, &c, NULL, err,
				    sizeof err);
	free(server_stop(&s));
	assert_int_equal(rc, GLIA_CLIENT_EFAIL);
	assert_non_null(strstr(err, "chunked"));
	glia_buf_free(&c.body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_get_with_options_after_the_name),
	    cmocka_unit_test(test_parse_options_before_the_command),
	    cmocka_unit_test(test_parse_value_forms),
	    cmocka_unit_test(test_parse_deploy_wait_timeout),
	    cmocka_unit_test(test_parse_dash_f_depends_on_the_command),
	    cmocka_unit_test(test_parse_logs_tail_and_replica),
	    cmocka_unit_test(test_parse_missing_and_extra_arguments),
	    cmocka_unit_test(test_parse_unknown_command_and_option),
	    cmocka_unit_test(test_parse_help_and_unimplemented),
	    cmocka_unit_test(test_parse_logs_json),
	    cmocka_unit_test(test_parse_double_dash_ends_options),
	    cmocka_unit_test(test_command_index_skips_options_and_their_values),
	    cmocka_unit_test(test_parse_cortex_habits),
	    cmocka_unit_test(test_table_pads_columns_and_trims_line_ends),
	    cmocka_unit_test(test_table_counts_utf8_as_one_column),
	    cmocka_unit_test(test_age_units),
	    cmocka_unit_test(test_latency_units),
	    cmocka_unit_test(test_count_units),
	    cmocka_unit_test(test_rate_units),
	    cmocka_unit_test(
	        test_get_table_has_minute_and_since_deploy_columns),
	    cmocka_unit_test(test_get_table_fits_120_columns),
	    cmocka_unit_test(test_get_detail_shows_minute_replicas_and_errors),
	    cmocka_unit_test(test_get_detail_regression_predictions),
	    cmocka_unit_test(test_home_dir_resolution),
	    cmocka_unit_test(test_parse_url),
	    cmocka_unit_test(test_url_encode),
	    cmocka_unit_test(test_request_content_length_answer),
	    cmocka_unit_test(test_request_chunked_and_eof_answers),
	    cmocka_unit_test(test_request_long_socket_path),
	    cmocka_unit_test(test_request_no_daemon_is_econnect),
	    cmocka_unit_test(test_request_times_out),
	    cmocka_unit_test(test_stream_chunked_in_small_pieces),
	    cmocka_unit_test(test_stream_cancel_ends_an_endless_answer),
	    cmocka_unit_test(test_stream_rejects_bad_chunk_size),
	    cmocka_unit_test(test_env_default_argv),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
