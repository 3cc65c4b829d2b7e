/* test_procfs.c: /proc/<pid>/stat parsing (command names with spaces and
 * parentheses, malformed lines) and the process-group memory sum over the
 * real /proc for this test's own group. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "procfs.h"

#define TAIL                                                                   \
	" 1 1 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 2 0 12345 1000000 250 "      \
	"18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0"

static void parses_plain_and_odd_names(void **state)
{
	static const char *lines[] = {
	    "4242 (glia) S 1" TAIL,
	    "4242 (my worker) S 1" TAIL,
	    "4242 (a) b (c)) R 1" TAIL,
	};
	for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
		int pgrp = -1;
		long long rss = -1;
		assert_int_equal(glia_procfs_parse_stat(lines[i], &pgrp, &rss),
		                 0);
		assert_int_equal(pgrp, 1);
		assert_int_equal(rss, 250);
	}
}

static void refuses_malformed(void **state)
{
	int pgrp;
	long long rss;
	assert_int_equal(glia_procfs_parse_stat("4242 glia S 1 1", &pgrp, &rss),
	                 -1);
	assert_int_equal(
	    glia_procfs_parse_stat("4242 (glia) S 1 2 3", &pgrp, &rss), -1);
	assert_int_equal(glia_procfs_parse_stat("", &pgrp, &rss), -1);
}

static void sums_this_process_group(void **state)
{
	int groups[2] = {(int)getpgrp(), -12345};
	int64_t bytes[2] = {-1, -1};
	glia_procfs_group_rss(groups, 2, bytes);
	assert_true(bytes[0] > 1024 * 1024); /* at least this test's own RSS */
	assert_int_equal(bytes[1], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(parses_plain_and_odd_names),
	    cmocka_unit_test(refuses_malformed),
	    cmocka_unit_test(sums_this_process_group),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
