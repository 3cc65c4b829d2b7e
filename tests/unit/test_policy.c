/* Unit tests for policy.c (token bucket, API key text, CORS answers) and
 * keys.c (the keyring's lookups and exports): pure functions, time given. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "keys.h"
#include "policy.h"

/* ---- token bucket ---- */

static void bucket_gives_burst_then_refills_at_rate(void **state)
{
	glia_bucket b;
	glia_bucket_init(&b, 2.0, 3.0, 100.0);
	for (int i = 0; i < 3; i++)
		assert_true(glia_bucket_take(&b, 100.0) == 0);
	double wait = glia_bucket_take(&b, 100.0);
	assert_true(wait > 0.49 && wait < 0.51); /* 1 token at 2/s */
	assert_true(glia_bucket_take(&b, 100.25) > 0.24);
	assert_true(glia_bucket_take(&b, 100.5) == 0);
	/* idle for long: no more than burst piles up */
	for (int i = 0; i < 3; i++)
		assert_true(glia_bucket_take(&b, 1000.0) == 0);
	assert_true(glia_bucket_take(&b, 1000.0) > 0);
}

static void bucket_ignores_a_clock_going_back_and_refunds(void **state)
{
	glia_bucket b;
	glia_bucket_init(&b, 0.001, 1.0, 50.0);
	assert_true(glia_bucket_take(&b, 50.0) == 0);
	double wait = glia_bucket_take(&b, 10.0);
	assert_true(wait > 999 && wait < 1001);
	glia_bucket_refund(&b);
	assert_true(glia_bucket_take(&b, 10.0) == 0);
	glia_bucket_refund(&b);
	glia_bucket_refund(&b); /* never above burst */
	assert_true(glia_bucket_take(&b, 10.0) == 0);
	assert_true(glia_bucket_take(&b, 10.0) > 0);
}

static void retry_after_is_whole_seconds_at_least_one(void **state)
{
	assert_int_equal(glia_retry_after_s(0.0001), 1);
	assert_int_equal(glia_retry_after_s(1.0), 1);
	assert_int_equal(glia_retry_after_s(1.2), 2);
	assert_int_equal(glia_retry_after_s(999.9), 1000);
	assert_int_equal(glia_retry_after_s(-3), 1);
}

static void rate_limit_argument_forms(void **state)
{
	double rps;
	int burst;
	assert_int_equal(glia_parse_rate_limit("10", &rps, &burst), 0);
	assert_true(rps == 10 && burst == 10);
	assert_int_equal(glia_parse_rate_limit("0.5", &rps, &burst), 0);
	assert_true(rps == 0.5 && burst == 1);
	assert_int_equal(glia_parse_rate_limit("2.5:7", &rps, &burst), 0);
	assert_true(rps == 2.5 && burst == 7);
	static const char *const bad[] = {"", "0", "-1", "x", "1:", "1:0",
	                                  "1:x", "1:2:3", "nan", "2000000"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_int_equal(glia_parse_rate_limit(bad[i], &rps, &burst),
		                 -1);
}

/* ---- API keys ---- */

static void generated_keys_are_well_formed_and_differ(void **state)
{
	char a[GLIA_KEY_LEN + 1], b[GLIA_KEY_LEN + 1];
	char id[GLIA_KEY_ID_LEN + 1];
	assert_int_equal(glia_key_generate(a), 0);
	assert_int_equal(glia_key_generate(b), 0);
	assert_int_equal(strlen(a), GLIA_KEY_LEN);
	assert_true(glia_key_well_formed(a, strlen(a)));
	assert_string_not_equal(a, b);
	assert_int_equal(strncmp(a, "glia_", 5), 0);
	assert_int_equal(glia_key_id_generate(id), 0);
	assert_int_equal(strlen(id), GLIA_KEY_ID_LEN);
	assert_int_equal(strspn(id, "0123456789abcdef"), GLIA_KEY_ID_LEN);
	assert_false(glia_key_well_formed(a, strlen(a) - 1));
	a[10] = 'A'; /* upper case is not in the alphabet */
	assert_false(glia_key_well_formed(a, strlen(a)));
	assert_false(glia_key_well_formed("glia_", 5));
}

static void key_is_read_from_bearer_then_x_api_key(void **state)
{
	size_t n = 0;
	const char *k = glia_key_from_headers("Bearer  abc ", NULL, &n);
	assert_non_null(k);
	assert_int_equal(n, 3);
	assert_memory_equal(k, "abc", 3);
	k = glia_key_from_headers("bearer xyz", "other", &n);
	assert_memory_equal(k, "xyz", n);
	k = glia_key_from_headers("Basic dXNlcg==", "k2", &n);
	assert_memory_equal(k, "k2", n);
	assert_null(glia_key_from_headers("Bearer   ", NULL, &n));
	assert_null(glia_key_from_headers(NULL, "  ", &n));
	assert_null(glia_key_from_headers(NULL, NULL, &n));
}

static void key_hash_is_sha256_and_compares_whole(void **state)
{
	unsigned char h[GLIA_KEY_HASH_LEN], g[GLIA_KEY_HASH_LEN];
	char hex[2 * GLIA_KEY_HASH_LEN + 1];
	glia_key_hash("abc", 3, h);
	glia_hex(h, sizeof h, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396"
	                         "177a9cb410ff61f20015ad");
	assert_int_equal(glia_unhex(hex, g, sizeof g), 0);
	assert_true(glia_key_hash_equal(h, g));
	g[31] ^= 1;
	assert_false(glia_key_hash_equal(h, g));
	assert_int_equal(glia_unhex("abc", g, sizeof g), -1);
	hex[0] = 'z';
	assert_int_equal(glia_unhex(hex, g, sizeof g), -1);
}

/* ---- keyring ---- */

static glia_key make_key(const char *id, const char *text, const char *api)
{
	glia_key k;
	memset(&k, 0, sizeof k);
	snprintf(k.id, sizeof k.id, "%s", id);
	k.name = "t";
	k.api = (char *)api;
	glia_key_hash(text, strlen(text), k.hash);
	return k;
}

static void keyring_finds_keys_by_text_and_forgets_removed(void **state)
{
	glia_keyring *r = glia_keyring_new();
	char texts[200][GLIA_KEY_LEN + 1], id[GLIA_KEY_ID_LEN + 1];
	for (int i = 0; i < 200; i++) { /* past the first table size */
		assert_int_equal(glia_key_generate(texts[i]), 0);
		snprintf(id, sizeof id, "%012d", i);
		glia_key k = make_key(id, texts[i], i % 2 ? "iris" : NULL);
		assert_int_equal(glia_keyring_add(r, &k, 0), 0);
	}
	assert_int_equal(glia_keyring_count(r), 200);
	glia_key dup = make_key("000000000000", texts[5], NULL);
	assert_int_equal(glia_keyring_add(r, &dup, 0), -1);
	for (int i = 0; i < 200; i++) {
		glia_key *k = glia_keyring_match(r, texts[i], GLIA_KEY_LEN);
		assert_non_null(k);
		snprintf(id, sizeof id, "%012d", i);
		assert_string_equal(k->id, id);
	}
	assert_int_equal(glia_keyring_remove(r, "000000000007"), 0);
	assert_null(glia_keyring_match(r, texts[7], GLIA_KEY_LEN));
	assert_int_equal(glia_keyring_remove(r, "000000000007"), -1);
	assert_non_null(glia_keyring_match(r, texts[8], GLIA_KEY_LEN));
	assert_null(glia_keyring_match(r, "glia_x", 6));
	glia_keyring_free(r);
}

static void keyring_export_loads_back_without_key_texts(void **state)
{
	glia_keyring *r = glia_keyring_new(), *back = glia_keyring_new();
	char text[GLIA_KEY_LEN + 1], err[256];
	assert_int_equal(glia_key_generate(text), 0);
	glia_key k = make_key("0123456789ab", text, "iris");
	k.rate_rps = 0.5;
	k.rate_burst = 2;
	assert_int_equal(glia_keyring_add(r, &k, 0), 0);
	json_t *doc = json_pack("{s:o}", "keys", glia_keyring_json(r, 1));
	char *dumped = json_dumps(doc, 0);
	assert_null(strstr(dumped, text));
	free(dumped);
	assert_int_equal(glia_keyring_load_json(back, doc, 0, err, sizeof err),
	                 0);
	glia_key *got = glia_keyring_match(back, text, GLIA_KEY_LEN);
	assert_non_null(got);
	assert_string_equal(got->api, "iris");
	assert_true(got->rate_rps == 0.5 && got->rate_burst == 2);
	json_decref(doc);
	doc = json_loads("{\"keys\": [{\"id\": \"x\"}]}", 0, NULL);
	assert_int_equal(glia_keyring_load_json(back, doc, 0, err, sizeof err),
	                 -1);
	assert_non_null(glia_keyring_match(back, text, GLIA_KEY_LEN));
	json_decref(doc);
	glia_keyring_free(r);
	glia_keyring_free(back);
}

/* ---- CORS ---- */

static glia_policy *cors_policy(const char *const *origins, size_t n_origins,
                                const char *const *headers, size_t n_headers)
{
	glia_policy_spec spec;
	char *m[] = {"GET", "POST"};
	memset(&spec, 0, sizeof spec);
	spec.cors.set = 1;
	spec.cors.allow_origins = (char **)origins;
	spec.cors.n_allow_origins = n_origins;
	spec.cors.allow_headers = (char **)headers;
	spec.cors.n_allow_headers = n_headers;
	spec.cors.allow_methods = m;
	spec.cors.n_allow_methods = 2;
	spec.cors.max_age_s = 600;
	return glia_policy_new(&spec, 0);
}

static void cors_preflight_and_answer_headers(void **state)
{
	static const char *const origins[] = {"https://app.example.com"};
	static const char *const headers[] = {"Content-Type", "Authorization"};
	glia_policy *p = cors_policy(origins, 1, headers, 2);
	char out[GLIA_CORS_LINES_MAX], why[300];
	glia_buf b;
	glia_buf_init(&b, 0);
	assert_int_equal(glia_cors_preflight(p, "https://APP.example.com", "POST",
	                                     "content-type,authorization", &b,
	                                     why, sizeof why),
	                 0);
	assert_non_null(strstr(b.data, "Access-Control-Allow-Origin: "
	                               "https://APP.example.com\r\n"));
	assert_non_null(strstr(b.data, "Access-Control-Allow-Methods: GET, "
	                               "POST\r\n"));
	assert_non_null(strstr(b.data, "Access-Control-Max-Age: 600\r\n"));
	glia_buf_reset(&b);
	assert_int_equal(glia_cors_preflight(p, "https://evil.example", "POST",
	                                     NULL, &b, why, sizeof why),
	                 -1);
	assert_non_null(strstr(why, "origin https://evil.example"));
	assert_int_equal(glia_cors_preflight(p, origins[0], "DELETE", NULL, &b,
	                                     why, sizeof why),
	                 -1);
	assert_int_equal(glia_cors_preflight(p, origins[0], "POST", "x-other",
	                                     &b, why, sizeof why),
	                 -1);
	assert_non_null(strstr(why, "header x-other"));
	assert_int_equal(b.len, 0);
	glia_cors_response_headers(p, origins[0], out, sizeof out);
	assert_string_equal(out, "Access-Control-Allow-Origin: "
	                         "https://app.example.com\r\nVary: Origin\r\n");
	glia_cors_response_headers(p, "https://evil.example", out, sizeof out);
	assert_string_equal(out, "Vary: Origin\r\n");
	glia_cors_response_headers(NULL, origins[0], out, sizeof out);
	assert_string_equal(out, "");
	glia_buf_free(&b);
	glia_policy_free(p);
}

static void cors_wildcards_echo_what_was_asked(void **state)
{
	static const char *const origins[] = {"*"};
	static const char *const headers[] = {"*"};
	glia_policy *p = cors_policy(origins, 1, headers, 1);
	char why[300];
	glia_buf b;
	glia_buf_init(&b, 0);
	assert_int_equal(glia_cors_preflight(p, "https://any.example", "GET",
	                                     "authorization, x-custom", &b,
	                                     why, sizeof why),
	                 0);
	assert_non_null(strstr(b.data, "Access-Control-Allow-Origin: *\r\n"));
	assert_non_null(strstr(b.data, "Access-Control-Allow-Headers: "
	                               "authorization, x-custom\r\n"));
	glia_buf_free(&b);
	glia_policy_free(p);
	glia_policy_spec none;
	memset(&none, 0, sizeof none);
	assert_null(glia_policy_new(&none, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(bucket_gives_burst_then_refills_at_rate),
	    cmocka_unit_test(bucket_ignores_a_clock_going_back_and_refunds),
	    cmocka_unit_test(retry_after_is_whole_seconds_at_least_one),
	    cmocka_unit_test(rate_limit_argument_forms),
	    cmocka_unit_test(generated_keys_are_well_formed_and_differ),
	    cmocka_unit_test(key_is_read_from_bearer_then_x_api_key),
	    cmocka_unit_test(key_hash_is_sha256_and_compares_whole),
	    cmocka_unit_test(keyring_finds_keys_by_text_and_forgets_removed),
	    cmocka_unit_test(keyring_export_loads_back_without_key_texts),
	    cmocka_unit_test(cors_preflight_and_answer_headers),
	    cmocka_unit_test(cors_wildcards_echo_what_was_asked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
