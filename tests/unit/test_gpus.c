/* test_gpus.c: the GPU inventory of compute.gpu: parsing --gpus lists,
 * exclusive allocation, release, and the CUDA_VISIBLE_DEVICES value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gpus.h"

static void parses_lists(void **state)
{
	glia_gpus g;
	char err[128] = "";

	assert_int_equal(glia_gpus_init(&g, "0,1,GPU-abc", err, sizeof err), 0);
	assert_int_equal(g.n, 3);
	assert_string_equal(g.names[2], "GPU-abc");
	glia_gpus_free(&g);
	assert_int_equal(glia_gpus_init(&g, "none", err, sizeof err), 0);
	assert_int_equal(g.n, 0);
	glia_gpus_free(&g);
	assert_int_equal(glia_gpus_init(&g, "0,,1", err, sizeof err), -1);
	assert_string_equal(err, "empty GPU name in \"0,,1\"");
	glia_gpus_free(&g);
}

static void allocates_exclusively(void **state)
{
	glia_gpus g;
	char err[128];
	int a, b, c;

	assert_int_equal(glia_gpus_init(&g, "0,1,2", err, sizeof err), 0);
	assert_int_equal(glia_gpus_take(&g, &a, 2), 0);
	assert_int_equal(glia_gpus_free_count(&g), 1);
	assert_int_equal(glia_gpus_held(&g, &a), 2);
	assert_int_equal(glia_gpus_take(&g, &b, 2), -1); /* all or nothing */
	assert_int_equal(glia_gpus_held(&g, &b), 0);
	assert_int_equal(glia_gpus_free_count(&g), 1);
	assert_int_equal(glia_gpus_take(&g, &b, 1), 0);
	char *va = glia_gpus_visible(&g, &a), *vb = glia_gpus_visible(&g, &b);
	char *vc = glia_gpus_visible(&g, &c);
	assert_string_equal(va, "0,1");
	assert_string_equal(vb, "2");
	assert_string_equal(vc, "");
	free(va);
	free(vb);
	free(vc);
	glia_gpus_release(&g, &a);
	assert_int_equal(glia_gpus_free_count(&g), 2);
	assert_int_equal(glia_gpus_take(&g, &c, 2), 0);
	vc = glia_gpus_visible(&g, &c);
	assert_string_equal(vc, "0,1");
	free(vc);
	assert_int_equal(glia_gpus_take(&g, &a, 0), 0); /* nothing asked */
	glia_gpus_free(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(parses_lists),
	    cmocka_unit_test(allocates_exclusively),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
