/* test_route.c: endpoint routing. Match cases are a table of path ->
 * endpoint and remainder over one fixed set of endpoints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "route.h"

static const char *endpoints[] = {"/a", "/a/b", "/iris", "/iris/v2", "/x-y.z"};

/* Each endpoint's target is its own name, so a match tells which one won. */
static glia_router *make_router(int with_root)
{
	glia_router *r = glia_router_new();

	for (size_t i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]); i++)
		assert_int_equal(
		    glia_router_add(r, endpoints[i], (void *)endpoints[i]), 0);
	if (with_root)
		assert_int_equal(glia_router_add(r, "/", (void *)"/"), 0);
	return r;
}

typedef struct match_case {
	const char *path;
	const char *endpoint; /* NULL: no match */
	const char *rest;
} match_case;

static void run_matches(const glia_router *r, const match_case *mc, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *rest = "unset";
		const char *got =
		    glia_router_match(r, mc[i].path, strlen(mc[i].path), &rest);
		if ((got == NULL) != (mc[i].endpoint == NULL) ||
		    (got && strcmp(got, mc[i].endpoint) != 0))
			fail_msg("path \"%s\": matched %s, want %s", mc[i].path,
			         got ? got : "nothing",
			         mc[i].endpoint ? mc[i].endpoint : "nothing");
		if (got && strcmp(rest, mc[i].rest) != 0)
			fail_msg("path \"%s\": rest \"%s\", want \"%s\"",
			         mc[i].path, rest, mc[i].rest);
	}
}

static void match_longest_prefix_on_segment_boundary(void **state)
{
	static const match_case mc[] = {
	    {"/a", "/a", ""},
	    {"/a/", "/a", "/"},
	    {"/a/b", "/a/b", ""},
	    {"/a/b/c", "/a/b", "/c"},
	    {"/a/bc", "/a", "/bc"},
	    {"/a/c/d", "/a", "/c/d"},
	    {"/ab", NULL, NULL},
	    {"/iris/predict", "/iris", "/predict"},
	    {"/iris/v2/predict", "/iris/v2", "/predict"},
	    {"/iris/v22", "/iris", "/v22"},
	    {"/iri", NULL, NULL},
	    {"/irisx", NULL, NULL},
	    {"/x-y.z/q", "/x-y.z", "/q"},
	    {"/", NULL, NULL},
	    {"", NULL, NULL},
	    {"a", NULL, NULL},
	    {"//a", NULL, NULL},
	};
	glia_router *r = make_router(0);

	run_matches(r, mc, sizeof(mc) / sizeof(mc[0]));
	glia_router_free(r);
}

static void root_endpoint_matches_everything_else(void **state)
{
	static const match_case mc[] = {
	    {"/", "/", ""},
	    {"/ab", "/", "/ab"},
	    {"/a/bc", "/a", "/bc"},
	    {"/a/b/c", "/a/b", "/c"},
	    {"/nothing/here", "/", "/nothing/here"},
	    {"//a", "/", "//a"},
	    {"a", NULL, NULL},
	};
	glia_router *r = make_router(1);

	run_matches(r, mc, sizeof(mc) / sizeof(mc[0]));
	glia_router_free(r);
}

/* The path need not be NUL-terminated at len; rest then ends at path + len. */
static void match_reads_only_len_bytes(void **state)
{
	glia_router *r = make_router(0);
	const char *path = "/a/b/c", *rest;

	assert_string_equal(glia_router_match(r, path, 4, &rest), "/a/b");
	assert_ptr_equal(rest, path + 4);
	path = "/abc";
	assert_string_equal(glia_router_match(r, path, 2, &rest), "/a");
	assert_ptr_equal(rest, path + 2);
	assert_null(glia_router_match(r, "/iris", 4, NULL));
	glia_router_free(r);
}

static void remove_drops_only_that_endpoint(void **state)
{
	glia_router *r = make_router(0);

	assert_int_equal(glia_router_count(r), 5);
	assert_int_equal(glia_router_remove(r, "/a/b"), 0);
	assert_int_equal(glia_router_count(r), 4);
	assert_int_equal(glia_router_remove(r, "/a/b"), -1);
	assert_int_equal(glia_router_remove(r, "/nope"), -1);
	const char *rest;
	assert_string_equal(glia_router_match(r, "/a/b/c", 6, &rest), "/a");
	assert_string_equal(rest, "/b/c");
	assert_int_equal(glia_router_remove(r, "/a"), 0);
	assert_null(glia_router_match(r, "/a/b/c", 6, &rest));
	assert_string_equal(glia_router_match(r, "/iris/v2", 8, NULL),
	                    "/iris/v2");
	/* A removed endpoint can be added again. */
	assert_int_equal(glia_router_add(r, "/a", (void *)"again"), 0);
	assert_string_equal(glia_router_match(r, "/a/z", 4, NULL), "again");
	glia_router_free(r);
}

static void duplicate_add_fails(void **state)
{
	glia_router *r = make_router(1);

	assert_int_equal(glia_router_add(r, "/a", (void *)"other"), -1);
	assert_int_equal(glia_router_add(r, "/", (void *)"other"), -1);
	assert_string_equal(glia_router_match(r, "/a", 2, NULL), "/a");
	assert_int_equal(glia_router_count(r), 6);
	glia_router_free(r);
}

static void malformed_endpoint_add_fails(void **state)
{
	static const char *bad[] = {"",     "a",     "a/b",  "/a/",
	                            "//",   "/a//b", "/a?b", "/a#b",
	                            "/a b", "/a\tb", "/\x7f"};
	glia_router *r = glia_router_new();

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (glia_router_add(r, bad[i], (void *)"x") != -1)
			fail_msg("endpoint \"%s\" was accepted", bad[i]);
	assert_int_equal(glia_router_count(r), 0);
	glia_router_free(r);
}

static void many_endpoints_stay_sorted(void **state)
{
	static char names[200][16];
	glia_router *r = glia_router_new();

	/* Insert in a scrambled order; every one must still be found. */
	for (int i = 0; i < 200; i++) {
		int k = (i * 73) % 200;
		snprintf(names[k], sizeof(names[k]), "/m%d", k);
		assert_int_equal(glia_router_add(r, names[k], names[k]), 0);
	}
	for (int i = 0; i < 200; i++) {
		char path[32];
		const char *rest;
		snprintf(path, sizeof(path), "/m%d/predict", i);
		assert_ptr_equal(
		    glia_router_match(r, path, strlen(path), &rest), names[i]);
		assert_string_equal(rest, "/predict");
	}
	for (int i = 0; i < 200; i += 2)
		assert_int_equal(glia_router_remove(r, names[i]), 0);
	assert_int_equal(glia_router_count(r), 100);
	for (int i = 0; i < 200; i++) {
		void *t =
		    glia_router_match(r, names[i], strlen(names[i]), NULL);
		assert_ptr_equal(t, i % 2 ? names[i] : NULL);
	}
	glia_router_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(match_longest_prefix_on_segment_boundary),
	    cmocka_unit_test(root_endpoint_matches_everything_else),
	    cmocka_unit_test(match_reads_only_len_bytes),
	    cmocka_unit_test(remove_drops_only_that_endpoint),
	    cmocka_unit_test(duplicate_add_fails),
	    cmocka_unit_test(malformed_endpoint_add_fails),
	    cmocka_unit_test(many_endpoints_stay_sorted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
