/* test_health.c: the probe schedule of a failed backend and when its
 * replica is restarted (health.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "health.h"

static void test_probe_delay_doubles_from_100ms_to_2s(void **state)
{
	(void)state;
	static const unsigned want[] = {100, 200, 400, 800, 1600, 2000, 2000};
	for (int i = 0; i < (int)(sizeof want / sizeof *want); i++)
		assert_int_equal(glia_probe_delay_ms(i), want[i]);
	/* no overflow however long it stays down */
	assert_int_equal(glia_probe_delay_ms(40), 2000);
	assert_int_equal(glia_probe_delay_ms(1 << 30), 2000);
	assert_int_equal(glia_probe_delay_ms(-1), 100);
}

static void test_restart_needs_both_failed_probes_and_time(void **state)
{
	(void)state;
	/* not restarted: too few probes failed, however long */
	assert_false(glia_unreachable_restart(0, 100.0));
	assert_false(glia_unreachable_restart(2, 100.0));
	/* not restarted: probes failed, but down too briefly */
	assert_false(glia_unreachable_restart(10, 0.0));
	assert_false(glia_unreachable_restart(10, 4.99));
	/* restarted */
	assert_true(glia_unreachable_restart(3, 5.0));
	assert_true(glia_unreachable_restart(8, 30.0));
}

static void test_bound_is_reached_within_the_schedule(void **state)
{
	(void)state;
	/* probes at 0.1, 0.3, 0.7, 1.5, 3.1, 5.1 s after the failure: the
	 * restart comes about 5 s after it, never before 3 probes failed */
	double t = 0;
	int failed = 0;
	while (!glia_unreachable_restart(failed, t)) {
		t += glia_probe_delay_ms(failed) / 1000.0;
		failed++;
		assert_true(failed < 100);
	}
	assert_true(failed >= GLIA_UNREACHABLE_PROBES);
	assert_true(t >= GLIA_UNREACHABLE_S && t < GLIA_UNREACHABLE_S + 2.1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_probe_delay_doubles_from_100ms_to_2s),
	    cmocka_unit_test(test_restart_needs_both_failed_probes_and_time),
	    cmocka_unit_test(test_bound_is_reached_within_the_schedule),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
