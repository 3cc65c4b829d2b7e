/* test_duration.c: durations, CPU and memory quantities, int-or-percent
 * values and their Kubernetes rounding. Each parser has a table of valid
 * inputs with the expected value and a table of inputs it must refuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

typedef struct valid_case {
	const char *in;
	int64_t want;
} valid_case;

typedef int (*parse_fn)(const char *, int64_t *);

static void run_valid(parse_fn parse, const valid_case *vc, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int64_t got = -12345;
		if (parse(vc[i].in, &got) != 0)
			fail_msg("\"%s\": refused, want %lld", vc[i].in,
			         (long long)vc[i].want);
		if (got != vc[i].want)
			fail_msg("\"%s\": got %lld, want %lld", vc[i].in,
			         (long long)got, (long long)vc[i].want);
	}
}

static void run_invalid(parse_fn parse, const char *const *in, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int64_t got = -12345;
		if (parse(in[i], &got) == 0)
			fail_msg("\"%s\": accepted as %lld, want refusal",
			         in[i], (long long)got);
		assert_int_equal(got, -12345);
	}
}

static void duration_accepts_units_compounds_and_bare_seconds(void **state)
{
	static const valid_case vc[] = {
	    {"250ms", 250},
	    {"10s", 10000},
	    {"5m", 300000},
	    {"1h", 3600000},
	    {"1d", 86400000},
	    {"7d", 604800000},
	    {"1h30m", 5400000},
	    {"1h30m15s", 5415000},
	    {"1m500ms", 60500},
	    {"30m1h", 5400000},
	    {"1.5s", 1500},
	    {".5s", 500},
	    {"0.25m", 15000},
	    {"1.5ms", 2}, /* fractions of a millisecond round up */
	    {"0.0001s", 1},
	    {"0", 0},
	    {"0s", 0},
	    {"0ms", 0},
	    {"10", 10000}, /* a bare number is seconds */
	    {"0.5", 500},
	    {"60000ms", 60000},
	    {"007s", 7000},
	    {"1.50000000000000000000000s", 1500},
	    {"999999999999999999ms", 999999999999999999LL},
	    {"106751991167d", 9223372036828800000LL},
	};
	run_valid(glia_parse_duration_ms, vc, N(vc));
}

static void duration_refuses_negative_empty_junk_and_overflow(void **state)
{
	static const char *const in[] = {
	    "",
	    "-1s",
	    "-1",
	    "+1s",
	    " 1s",
	    "1s ",
	    "1 s",
	    "s",
	    "ms",
	    "1x",
	    "1S",
	    "1sec",
	    "1h30",
	    "1.s",
	    "1.",
	    ".",
	    "1e3s",
	    "1e3",
	    "inf",
	    "nan",
	    "0x10s",
	    "1,5s",
	    "10s-",
	    "1..5s",
	    "1.2.3s",
	    "9223372036854775808ms",
	    "9223372036854775807ms1ms",
	    "1000000000000000000000h",
	    "99999999999999999999999999s",
	};
	int64_t ms;

	run_invalid(glia_parse_duration_ms, in, N(in));
	assert_int_equal(glia_parse_duration_ms(NULL, &ms), -1);
}

static void cpu_accepts_cores_and_millicores(void **state)
{
	static const valid_case vc[] = {
	    {"1", 1000},     {"2", 2000},    {"0.5", 500},  {".5", 500},
	    {"0.2", 200},    {"500m", 500},  {"1m", 1},     {"1500m", 1500},
	    {"0", 0},        {"0m", 0},      {"1.5", 1500}, {"0.0001", 1},
	    {"1.5m", 2},     {"1e3m", 1000}, {"1e-3", 1},   {"64", 64000},
	    {"2.000", 2000},
	};
	run_valid(glia_parse_cpu_millis, vc, N(vc));
}

static void cpu_refuses_junk_signs_and_other_suffixes(void **state)
{
	static const char *const in[] = {
	    "",
	    "-1",
	    "+1",
	    "m",
	    "1k",
	    "1M",
	    "1Mi",
	    "1 m",
	    " 1",
	    "1mm",
	    "abc",
	    "1.",
	    "0x1",
	    "inf",
	    "1e",
	    "99999999999999999999",
	    "9223372036854775808m",
	};
	run_invalid(glia_parse_cpu_millis, in, N(in));
}

static void mem_accepts_kubernetes_suffixes_and_exponents(void **state)
{
	static const valid_case vc[] = {
	    {"1024", 1024},
	    {"128974848", 128974848},
	    {"0", 0},
	    {"1Ki", 1024},
	    {"512Mi", 512LL << 20},
	    {"1Gi", 1LL << 30},
	    {"1Ti", 1LL << 40},
	    {"1Pi", 1LL << 50},
	    {"1Ei", 1LL << 60},
	    {"1k", 1000},
	    {"1K", 1000},
	    {"200M", 200000000},
	    {"1G", 1000000000},
	    {"2T", 2000000000000LL},
	    {"1P", 1000000000000000LL},
	    {"1E", 1000000000000000000LL},
	    {"1e9", 1000000000},
	    {"1E9", 1000000000},
	    {"1e+3", 1000},
	    {"129e6", 129000000},
	    {"1.5Gi", 3LL << 29},
	    {"0.5Ki", 512},
	    {"123Mi", 128974848},
	    {"0.5", 1}, /* fractions of a byte round up */
	    {"7Ei", 7LL << 60},
	};
	run_valid(glia_parse_mem_bytes, vc, N(vc));
}

static void mem_refuses_junk_and_overflow(void **state)
{
	static const char *const in[] = {
	    "",
	    "-1",
	    "+1",
	    "1m",
	    "1Mb",
	    "1MB",
	    "1mi",
	    "1 Gi",
	    "Gi",
	    "1ki",
	    "1.",
	    "abc",
	    "1e",
	    "1Gi ",
	    "8Ei",
	    "10E",
	    "1e19",
	    "1e400",
	    "99999999999999999999999",
	};
	run_invalid(glia_parse_mem_bytes, in, N(in));
}

static void int_or_pct_parses_ints_and_percents(void **state)
{
	static const struct {
		const char *in;
		int value, is_percent;
	} vc[] = {
	    {"0", 0, 0},
	    {"3", 3, 0},
	    {"25%", 25, 1},
	    {"0%", 0, 1},
	    {"100%", 100, 1},
	    {"120%", 120, 1},
	    {"2147483647", 2147483647, 0},
	};
	for (size_t i = 0; i < N(vc); i++) {
		glia_int_or_pct v = {-1, -1};
		if (glia_parse_int_or_pct(vc[i].in, &v) != 0)
			fail_msg("\"%s\": refused", vc[i].in);
		assert_int_equal(v.value, vc[i].value);
		assert_int_equal(v.is_percent, vc[i].is_percent);
	}
}

static void int_or_pct_refuses_negative_and_junk(void **state)
{
	static const char *const in[] = {
	    "",     "-1",   "-5%",  "+1",  "%",          "1.5", "1.5%",
	    "25 %", " 25%", "25%%", "abc", "2147483648", "1e3",
	};
	for (size_t i = 0; i < N(in); i++) {
		glia_int_or_pct v = {-1, -1};
		if (glia_parse_int_or_pct(in[i], &v) == 0)
			fail_msg("\"%s\": accepted", in[i]);
	}
}

static void int_or_pct_resolve_rounds_like_kubernetes(void **state)
{
	static const struct {
		glia_int_or_pct v;
		int total, round_up, want;
	} rc[] = {
	    {{25, 1}, 4, 1, 1},    {{25, 1}, 4, 0, 1},  {{25, 1}, 1, 1, 1},
	    {{25, 1}, 1, 0, 0},    {{25, 1}, 10, 1, 3}, {{25, 1}, 10, 0, 2},
	    {{50, 1}, 3, 1, 2},    {{50, 1}, 3, 0, 1},  {{100, 1}, 7, 1, 7},
	    {{100, 1}, 7, 0, 7},   {{0, 1}, 10, 1, 0},  {{0, 1}, 10, 0, 0},
	    {{1, 1}, 1, 1, 1},     {{99, 1}, 1, 0, 0},  {{120, 1}, 5, 1, 6},
	    {{33, 1}, 100, 0, 33}, {{25, 1}, 0, 1, 0},  {{3, 0}, 10, 1, 3},
	    {{3, 0}, 10, 0, 3},    {{0, 0}, 10, 1, 0},
	};
	for (size_t i = 0; i < N(rc); i++) {
		int got = glia_int_or_pct_resolve(rc[i].v, rc[i].total,
		                                  rc[i].round_up);
		if (got != rc[i].want)
			fail_msg("%d%s of %d (%s): got %d, want %d",
			         rc[i].v.value, rc[i].v.is_percent ? "%" : "",
			         rc[i].total, rc[i].round_up ? "up" : "down",
			         got, rc[i].want);
	}
}

static void
edit_distance_counts_insertions_deletions_substitutions(void **state)
{
	assert_int_equal(glia_edit_distance("", ""), 0);
	assert_int_equal(glia_edit_distance("abc", ""), 3);
	assert_int_equal(glia_edit_distance("", "abc"), 3);
	assert_int_equal(glia_edit_distance("kitten", "sitting"), 3);
	assert_int_equal(glia_edit_distance("name", "nme"), 1);
	assert_int_equal(glia_edit_distance("procesess_per_replica",
	                                    "processes_per_replica"),
	                 2);
	assert_int_equal(glia_edit_distance("type", "type"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(duration_accepts_units_compounds_and_bare_seconds),
	    cmocka_unit_test(duration_refuses_negative_empty_junk_and_overflow),
	    cmocka_unit_test(cpu_accepts_cores_and_millicores),
	    cmocka_unit_test(cpu_refuses_junk_signs_and_other_suffixes),
	    cmocka_unit_test(mem_accepts_kubernetes_suffixes_and_exponents),
	    cmocka_unit_test(mem_refuses_junk_and_overflow),
	    cmocka_unit_test(int_or_pct_parses_ints_and_percents),
	    cmocka_unit_test(int_or_pct_refuses_negative_and_junk),
	    cmocka_unit_test(int_or_pct_resolve_rounds_like_kubernetes),
	    cmocka_unit_test(
	        edit_distance_counts_insertions_deletions_substitutions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
