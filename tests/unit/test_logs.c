/* test_logs.c: replica logs (src/logs.c) in a temporary GLIA_HOME: size-capped
 * rotation of replica and gateway files, reading back with --tail across a
 * rotation, line order, request ids found in lines, and the JSON lines of
 * `glia logs --json`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "logs.h"
#include "util.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

typedef struct fixture {
	char home[64];
	glia_logs *logs;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);
	snprintf(f->home, sizeof f->home, "/tmp/glia-test-logs-XXXXXX");
	if (!mkdtemp(f->home))
		return -1;
	f->logs = glia_logs_new(f->home);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	glia_logs_remove(f->logs, "api");
	glia_logs_free(f->logs);
	char *logs = glia_sprintf("%s/logs", f->home);
	rmdir(logs);
	free(logs);
	rmdir(f->home);
	free(f);
	return 0;
}

static char *path_of(fixture *f, const char *name)
{
	return glia_sprintf("%s/logs/api/%s", f->home, name);
}

/* Size of logs/api/<name>, or -1 when it does not exist. */
static long file_size(fixture *f, const char *name)
{
	char *p = path_of(f, name);
	struct stat st;
	long size = stat(p, &st) == 0 ? (long)st.st_size : -1;
	free(p);
	return size;
}

static char *file_text(fixture *f, const char *name)
{
	char *p = path_of(f, name);
	size_t len;
	char *text = glia_read_file(p, 1 << 20, &len);
	free(p);
	return text;
}

/* "line-<i>" lines of the file, in order, into nums; their count. */
static size_t line_numbers(fixture *f, const char *name, int *nums, size_t max)
{
	char *text = file_text(f, name);
	size_t n = 0;
	for (char *p = text; p && (p = strstr(p, "line-")) != NULL; p += 5)
		if (n < max)
			nums[n++] = atoi(p + 5);
	free(text);
	return n;
}

static void write_lines(fixture *f, int fd, const char *replica, int from,
                        int to)
{
	for (int i = from; i < to; i++) {
		char line[64];
		int n = snprintf(line, sizeof line, "line-%d", i);
		glia_logs_line(f->logs, fd, "api", replica, line, (size_t)n);
	}
}

static void replica_log_rotates_at_the_cap_keeping_two_old_files(void **state)
{
	fixture *f = *state;
	/* Each stored line is "<24-char time> line-NN\n": 33 or 34 bytes. */
	glia_logs_set_rotation(f->logs, 200, 2);
	int fd = glia_logs_open(f->logs, "api", "r1");
	assert_true(fd >= 0);
	write_lines(f, fd, "r1", 0, 60);

	const char *names[] = {"r1.log", "r1.log.1", "r1.log.2"};
	for (size_t i = 0; i < N(names); i++) {
		long size = file_size(f, names[i]);
		assert_true(size > 0);
		assert_true(size <= 200);
	}
	assert_int_equal(file_size(f, "r1.log.3"), -1);

	/* Oldest to newest: .2, .1, .log hold the last lines, contiguous. */
	int nums[64], all[192];
	size_t total = 0;
	for (int i = 2; i >= 0; i--) {
		size_t n = line_numbers(f, names[i], nums, N(nums));
		for (size_t j = 0; j < n; j++)
			all[total++] = nums[j];
	}
	assert_true(total >= 12);
	assert_int_equal(all[total - 1], 59);
	for (size_t j = 1; j < total; j++)
		assert_int_equal(all[j], all[j - 1] + 1);
	close(fd);
}

static void rotation_keeps_the_fd_number_and_writes_the_new_file(void **state)
{
	fixture *f = *state;
	glia_logs_set_rotation(f->logs, 100, 1);
	int fd = glia_logs_open(f->logs, "api", "r2");
	write_lines(f, fd, "r2", 0, 4); /* 32 bytes each: the 4th rotates */
	assert_true(file_size(f, "r2.log.1") > 0);
	char *text = file_text(f, "r2.log");
	assert_non_null(strstr(text, "line-3"));
	assert_null(strstr(text, "line-0"));
	free(text);
	close(fd);
}

static void keep_zero_truncates_instead(void **state)
{
	fixture *f = *state;
	glia_logs_set_rotation(f->logs, 100, 0);
	int fd = glia_logs_open(f->logs, "api", "r3");
	write_lines(f, fd, "r3", 0, 20);
	assert_int_equal(file_size(f, "r3.log.1"), -1);
	assert_true(file_size(f, "r3.log") <= 100);
	int nums[8];
	size_t n = line_numbers(f, "r3.log", nums, N(nums));
	assert_true(n >= 1);
	assert_int_equal(nums[n - 1], 19);
	close(fd);
}

static void existing_bytes_count_towards_the_cap(void **state)
{
	fixture *f = *state;
	glia_logs_set_rotation(f->logs, 0, 2); /* off */
	int fd = glia_logs_open(f->logs, "api", "r4");
	write_lines(f, fd, "r4", 0, 5); /* about 170 bytes */
	close(fd);
	assert_int_equal(file_size(f, "r4.log.1"), -1);

	glia_logs_set_rotation(f->logs, 200, 2);
	fd = glia_logs_open(f->logs, "api", "r4"); /* as after a restart */
	write_lines(f, fd, "r4", 5, 7);
	assert_true(file_size(f, "r4.log.1") > 0);
	assert_true(file_size(f, "r4.log") <= 200);
	close(fd);
}

static void a_line_longer_than_the_cap_gets_a_file_of_its_own(void **state)
{
	fixture *f = *state;
	char big[300];
	memset(big, 'x', sizeof big);
	glia_logs_set_rotation(f->logs, 100, 2);
	int fd = glia_logs_open(f->logs, "api", "r5");
	write_lines(f, fd, "r5", 0, 1);
	glia_logs_line(f->logs, fd, "api", "r5", big, sizeof big);
	write_lines(f, fd, "r5", 1, 2);
	assert_true(file_size(f, "r5.log.2") < 100); /* line-0 */
	assert_true(file_size(f, "r5.log.1") > 300); /* the long line */
	assert_true(file_size(f, "r5.log") < 100);   /* line-1 */
	close(fd);
}

static void gateway_access_log_rotates_too(void **state)
{
	fixture *f = *state;
	glia_logs_set_rotation(f->logs, 512, 2);
	for (int i = 0; i < 100; i++) {
		char line[128];
		int n =
		    snprintf(line, sizeof line,
		             "127.0.0.1 \"POST /api\" 200 2B 0.1ms rid=r%d", i);
		glia_logs_access(f->logs, "api", line, (size_t)n);
	}
	glia_logs_flush(f->logs);
	assert_true(file_size(f, "gateway.log") > 0);
	assert_true(file_size(f, "gateway.log") <= 512);
	assert_true(file_size(f, "gateway.log.1") > 0);
	assert_true(file_size(f, "gateway.log.1") <= 512);
	assert_true(file_size(f, "gateway.log.2") <= 512);
	char *text = file_text(f, "gateway.log");
	assert_non_null(strstr(text, "rid=r99\n"));
	free(text);
}

static void tail_reads_the_rotated_file_when_it_needs_older_lines(void **state)
{
	fixture *f = *state;
	glia_logs_set_rotation(f->logs, 200, 2);
	int fd = glia_logs_open(f->logs, "api", "r6");
	/* 32 bytes a line, 6 a file: .2 has 0-5, .1 6-11, .log 12 */
	write_lines(f, fd, "r6", 0, 13);
	int in_current[16];
	size_t cur = line_numbers(f, "r6.log", in_current, N(in_current));
	assert_int_equal(cur, 1);

	glia_buf out;
	glia_buf_init(&out, 0);
	glia_logs_read(f->logs, "api", NULL, 7, &out);
	int want = 6;
	size_t lines = 0;
	for (char *p = out.data; p && *p; lines++) {
		char expect[32];
		snprintf(expect, sizeof expect, "r6 line-%d\n", want++);
		assert_memory_equal(p, expect, strlen(expect));
		p = strchr(p, '\n') + 1;
	}
	assert_int_equal(lines, 7);
	glia_buf_free(&out);
	close(fd);
}

static void lines_of_one_millisecond_keep_their_order(void **state)
{
	fixture *f = *state;
	glia_logs_set_rotation(f->logs, 0, 2);
	int fd = glia_logs_open(f->logs, "api", "r7");
	write_lines(f, fd, "r7", 0, 3000);
	glia_buf out;
	glia_buf_init(&out, 0);
	glia_logs_read(f->logs, "api", "r7", -1, &out);
	int want = 0;
	for (char *p = out.data; p && *p; p = strchr(p, '\n') + 1) {
		char expect[32];
		snprintf(expect, sizeof expect, "r7 line-%d\n", want++);
		assert_memory_equal(p, expect, strlen(expect));
	}
	assert_int_equal(want, 3000);
	glia_buf_free(&out);
	close(fd);
}

/* ---- request ids ---- */

static void request_ids_are_found_in_each_kind_of_line(void **state)
{
	static const struct {
		const char *line;
		const char *id; /* NULL: none */
	} cases[] = {
	    {"[9f1c0a] hello from predict", "9f1c0a"},
	    {"[rid-77] Traceback (most recent call last):", "rid-77"},
	    {"[a]b] odd but valid", "a]b"},
	    {"[x]", "x"},
	    {"2024-05-01 12:00:00,123 INFO [rid-5] predicting now", "rid-5"},
	    {"2024-05-01 12:00:00,123 WARNING [-] outside a request", NULL},
	    {"127.0.0.1 \"POST /iris\" 200 18B 0.382ms rid=abc123", "abc123"},
	    {"127.0.0.1 \"POST /iris\" 200 18B 0.382ms rid=abc rest", "abc"},
	    {"[glia] starting (pid 12)", NULL},
	    {"[-] Traceback", NULL},
	    {"[1, 2, 3] a list printed outside a request", NULL},
	    {"[] empty", NULL},
	    {"plain output", NULL},
	    {"rid=notafield", NULL},
	    {"x rid= y", NULL},
	    {"", NULL},
	};
	for (size_t i = 0; i < N(cases); i++) {
		const char *id = NULL;
		size_t len = 0;
		int got = glia_logs_request_id(
		    cases[i].line, strlen(cases[i].line), &id, &len);
		if (!cases[i].id) {
			if (got)
				fail_msg("%s: found id %.*s", cases[i].line,
				         (int)len, id);
			continue;
		}
		if (!got)
			fail_msg("%s: no id found", cases[i].line);
		if (len != strlen(cases[i].id) ||
		    memcmp(id, cases[i].id, len) != 0)
			fail_msg("%s: got %.*s", cases[i].line, (int)len, id);
	}
}

/* ---- JSON lines ---- */

static json_t *one_json_line(const char *text, size_t len)
{
	glia_buf out;
	glia_buf_init(&out, 0);
	assert_int_equal(glia_logs_json_line(&out, "2026-11-23T14:35:07.123Z",
	                                     "iris-abc-0", text, len),
	                 0);
	assert_true(out.len > 0 && out.data[out.len - 1] == '\n');
	assert_null(memchr(out.data, '\n', out.len - 1));
	json_error_t err;
	json_t *j = json_loadb(out.data, out.len, 0, &err);
	if (!j)
		fail_msg("not JSON (%s): %s", err.text, out.data);
	glia_buf_free(&out);
	return j;
}

static void json_lines_carry_time_replica_request_id_and_message(void **state)
{
	const char *text = "[rid-1] said \"hi\"\tand \\ left";
	json_t *j = one_json_line(text, strlen(text));
	assert_string_equal(json_string_value(json_object_get(j, "time")),
	                    "2026-11-23T14:35:07.123Z");
	assert_string_equal(json_string_value(json_object_get(j, "replica")),
	                    "iris-abc-0");
	assert_string_equal(json_string_value(json_object_get(j, "request_id")),
	                    "rid-1");
	assert_string_equal(json_string_value(json_object_get(j, "message")),
	                    text);
	json_decref(j);

	j = one_json_line("no id here", 10);
	assert_true(json_is_null(json_object_get(j, "request_id")));
	json_decref(j);
}

static void json_lines_stay_valid_for_any_bytes(void **state)
{
	const char text[] = "ok \xc3\xa9 bad \xff\xfe ctl \x01 cut \xe2\x82";
	json_t *j = one_json_line(text, sizeof text - 1);
	assert_string_equal(json_string_value(json_object_get(j, "message")),
	                    "ok \xc3\xa9 bad \xef\xbf\xbd\xef\xbf\xbd ctl \x01 "
	                    "cut \xef\xbf\xbd\xef\xbf\xbd");
	json_decref(j);
}

static void read_in_json_gives_one_object_per_line(void **state)
{
	fixture *f = *state;
	int fd = glia_logs_open(f->logs, "api", "r8");
	glia_logs_line(f->logs, fd, "api", "r8", "[q1] printed", 12);
	const char *access = "127.0.0.1 \"POST /api\" 200 rid=q1";
	glia_logs_access(f->logs, "api", access, strlen(access));
	glia_logs_flush(f->logs);
	glia_buf out;
	glia_buf_init(&out, 0);
	glia_logs_read_fmt(f->logs, "api", NULL, -1, GLIA_LOG_JSON, &out);
	size_t n = 0;
	for (char *p = out.data; p && *p; n++) {
		char *nl = strchr(p, '\n');
		json_t *j = json_loadb(p, (size_t)(nl - p), 0, NULL);
		assert_non_null(j);
		assert_string_equal(
		    json_string_value(json_object_get(j, "request_id")), "q1");
		json_decref(j);
		p = nl + 1;
	}
	assert_int_equal(n, 2);
	glia_buf_free(&out);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        replica_log_rotates_at_the_cap_keeping_two_old_files, setup,
	        teardown),
	    cmocka_unit_test_setup_teardown(
	        rotation_keeps_the_fd_number_and_writes_the_new_file, setup,
	        teardown),
	    cmocka_unit_test_setup_teardown(keep_zero_truncates_instead, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        existing_bytes_count_towards_the_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        a_line_longer_than_the_cap_gets_a_file_of_its_own, setup,
	        teardown),
	    cmocka_unit_test_setup_teardown(gateway_access_log_rotates_too,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        tail_reads_the_rotated_file_when_it_needs_older_lines, setup,
	        teardown),
	    cmocka_unit_test_setup_teardown(
	        lines_of_one_millisecond_keep_their_order, setup, teardown),
	    cmocka_unit_test(request_ids_are_found_in_each_kind_of_line),
	    cmocka_unit_test(
	        json_lines_carry_time_replica_request_id_and_message),
	    cmocka_unit_test(json_lines_stay_valid_for_any_bytes),
	    cmocka_unit_test_setup_teardown(
	        read_in_json_gives_one_object_per_line, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
