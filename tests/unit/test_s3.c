/* test_s3.c: the pure parts of src/s3.c: s3:// URLs and bucket rules, key
 * encoding and request URLs (AWS virtual-hosted and path-style, an
 * endpoint), the AWS files and the configuration they give, and the
 * ListObjectsV2 / error XML (entities, truncation, malformed input). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "s3.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void urls_split_into_bucket_and_key(void **state)
{
	static const struct {
		const char *url, *bucket, *key;
	} ok[] = {
	    {"s3://models/lin/1/model.pkl", "models", "lin/1/model.pkl"},
	    {"s3://models", "models", ""},
	    {"s3://models/", "models", ""},
	    {"s3://my.bucket-1/a b/&c", "my.bucket-1", "a b/&c"},
	    {"s3://abc//x", "abc", "/x"},
	};
	char err[256];

	for (size_t i = 0; i < N(ok); i++) {
		char *b = NULL, *k = NULL;
		if (glia_s3_parse_url(ok[i].url, &b, &k, err, sizeof err) != 0)
			fail_msg("%s: %s", ok[i].url, err);
		assert_string_equal(b, ok[i].bucket);
		assert_string_equal(k, ok[i].key);
		free(b);
		free(k);
	}
}

static void bad_urls_are_refused_with_the_rule(void **state)
{
	static const struct {
		const char *url, *want;
	} bad[] = {
	    {"http://models/x", "http://models/x: not an s3:// URL"},
	    {"s3://ab/x", "s3://ab/x: the bucket name must be 3 to 63 "
	                  "characters long (s3://BUCKET/KEY)"},
	    {"s3:///x", "s3:///x: the bucket name must be 3 to 63 characters "
	                "long (s3://BUCKET/KEY)"},
	    {"s3://My_Bucket", "s3://My_Bucket: the bucket name may hold only "
	                       "lower-case letters, digits, '.' and '-' "
	                       "(s3://BUCKET/KEY)"},
	    {"s3://-abc/x", "s3://-abc/x: the bucket name must start and end "
	                    "with a letter or a digit (s3://BUCKET/KEY)"},
	    {"s3://a..b/x", "s3://a..b/x: the bucket name may not hold \"..\" "
	                    "(s3://BUCKET/KEY)"},
	    {"s3://10.0.0.1/x", "s3://10.0.0.1/x: the bucket name may not be "
	                        "an IP address (s3://BUCKET/KEY)"},
	};
	char err[256];

	for (size_t i = 0; i < N(bad); i++) {
		char *b = NULL, *k = NULL;
		if (glia_s3_parse_url(bad[i].url, &b, &k, err, sizeof err) == 0)
			fail_msg("%s: accepted", bad[i].url);
		assert_string_equal(err, bad[i].want);
		assert_null(b);
	}
	char long_url[1200] = "s3://abc/";
	memset(long_url + 9, 'k', 1025);
	long_url[9 + 1025] = '\0';
	char *b = NULL, *k = NULL;
	assert_int_equal(glia_s3_parse_url(long_url, &b, &k, err, sizeof err),
	                 -1);
	assert_non_null(strstr(err, "the key is longer than 1024 bytes"));
}

static void keys_are_encoded_as_s3_signs_them(void **state)
{
	char *e = glia_s3_encode("a b/c+d&e=f~_.-é%", 1);
	assert_string_equal(e, "a%20b/c%2Bd%26e%3Df~_.-%C3%A9%25");
	free(e);
	e = glia_s3_encode("x/y", 0);
	assert_string_equal(e, "x%2Fy");
	free(e);
	e = glia_s3_encode("", 1);
	assert_string_equal(e, "");
	free(e);
}

static void request_urls_for_aws_and_an_endpoint(void **state)
{
	glia_s3_config aws = {.region = "eu-west-1"};
	glia_s3_config cn = {.region = "cn-north-1"};
	glia_s3_config local = {.region = "us-east-1",
	                        .endpoint = "http://127.0.0.1:9000"};
	char *u;

	u = glia_s3_object_url(&aws, "models", "lin/1/a b.pkl");
	assert_string_equal(u, "https://models.s3.eu-west-1.amazonaws.com/"
	                       "lin/1/a%20b.pkl");
	free(u);
	u = glia_s3_object_url(&aws, "my.models", "k");
	assert_string_equal(u,
	                    "https://s3.eu-west-1.amazonaws.com/my.models/k");
	free(u);
	u = glia_s3_object_url(&cn, "models", "k");
	assert_string_equal(u,
	                    "https://models.s3.cn-north-1.amazonaws.com.cn/k");
	free(u);
	u = glia_s3_object_url(&local, "models", "k/x");
	assert_string_equal(u, "http://127.0.0.1:9000/models/k/x");
	free(u);
	u = glia_s3_list_url(&aws, "models", "lin/", NULL, 0);
	assert_string_equal(u, "https://models.s3.eu-west-1.amazonaws.com/"
	                       "?list-type=2&prefix=lin%2F");
	free(u);
	/* parameters in byte order: the order SigV4 signs */
	u = glia_s3_list_url(&local, "models", "a b/", "1VIQ+mu/p5=", 2);
	assert_string_equal(u, "http://127.0.0.1:9000/models?continuation-"
	                       "token=1VIQ%2Bmu%2Fp5%3D&list-type=2&max-keys=2"
	                       "&prefix=a%20b%2F");
	free(u);
}

static const char INI[] = "# comment\n"
                          "[default]\n"
                          "aws_access_key_id = DEF\n"
                          "aws_secret_access_key=defsecret \n"
                          "\n"
                          "[ team ]\r\n"
                          "; another comment\n"
                          "aws_access_key_id  =  TEAM\r\n"
                          "s3 =\n"
                          "  region = nested-not-used\n"
                          "[profile team]\n"
                          "region = eu-central-1\n";

static void ini_values_by_section(void **state)
{
	static const struct {
		const char *section, *key, *want;
	} rows[] = {
	    {"default", "aws_access_key_id", "DEF"},
	    {"default", "aws_secret_access_key", "defsecret"},
	    {"team", "aws_access_key_id", "TEAM"},
	    {"team", "aws_secret_access_key", NULL},
	    {"team", "region", NULL}, /* the nested one is not a key */
	    {"profile team", "region", "eu-central-1"},
	    {"nope", "aws_access_key_id", NULL},
	};

	for (size_t i = 0; i < N(rows); i++) {
		char *v = glia_s3_ini_get(INI, rows[i].section, rows[i].key);
		if (!rows[i].want) {
			if (v)
				fail_msg("[%s] %s: got \"%s\", want none",
				         rows[i].section, rows[i].key, v);
			continue;
		}
		if (!v)
			fail_msg("[%s] %s: missing", rows[i].section,
			         rows[i].key);
		assert_string_equal(v, rows[i].want);
		free(v);
	}
}

static const char *AWS_VARS[] = {
    "AWS_ACCESS_KEY_ID",   "AWS_SECRET_ACCESS_KEY",       "AWS_SESSION_TOKEN",
    "AWS_PROFILE",         "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
    "AWS_REGION",          "AWS_DEFAULT_REGION",          "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
};

static char home[64];

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int aws_setup(void **state)
{
	char path[128];

	for (size_t i = 0; i < N(AWS_VARS); i++)
		unsetenv(AWS_VARS[i]);
	snprintf(home, sizeof home, "/tmp/glia-test-s3-XXXXXX");
	if (!mkdtemp(home))
		return -1;
	setenv("HOME", home, 1);
	snprintf(path, sizeof path, "%s/.aws", home);
	mkdir(path, 0700);
	snprintf(path, sizeof path, "%s/.aws/credentials", home);
	write_text(path, "[default]\naws_access_key_id = FILEKEY\n"
	                 "aws_secret_access_key = filesecret\n"
	                 "[team]\naws_access_key_id = TEAMKEY\n"
	                 "aws_secret_access_key = teamsecret\n"
	                 "aws_session_token = teamtoken\n"
	                 "[half]\naws_access_key_id = HALF\n");
	snprintf(path, sizeof path, "%s/.aws/config", home);
	write_text(path, "[default]\nregion = eu-west-3\n"
	                 "[profile team]\nregion = ap-south-1\n");
	return 0;
}

static int aws_teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
	return system(cmd) == 0 ? 0 : -1;
}

static void config_from_the_default_files(void **state)
{
	glia_s3_config c;
	char err[256];

	assert_int_equal(glia_s3_config_load(&c, err, sizeof err), 0);
	assert_string_equal(c.access_key, "FILEKEY");
	assert_string_equal(c.secret_key, "filesecret");
	assert_null(c.session_token);
	assert_string_equal(c.region, "eu-west-3");
	assert_null(c.endpoint);
	glia_s3_config_free(&c);
}

static void config_from_a_profile(void **state)
{
	glia_s3_config c;
	char err[256];

	setenv("AWS_PROFILE", "team", 1);
	assert_int_equal(glia_s3_config_load(&c, err, sizeof err), 0);
	assert_string_equal(c.access_key, "TEAMKEY");
	assert_string_equal(c.session_token, "teamtoken");
	assert_string_equal(c.region, "ap-south-1");
	glia_s3_config_free(&c);
	setenv("AWS_PROFILE", "ghost", 1);
	assert_int_equal(glia_s3_config_load(&c, err, sizeof err), -1);
	assert_non_null(strstr(err, "AWS_PROFILE=ghost: no [ghost] in "));
	setenv("AWS_PROFILE", "half", 1);
	assert_int_equal(glia_s3_config_load(&c, err, sizeof err), -1);
	assert_string_equal(err, "profile half has aws_access_key_id but no "
	                         "aws_secret_access_key");
	unsetenv("AWS_PROFILE");
}

static void environment_wins_over_files(void **state)
{
	glia_s3_config c;
	char err[256];

	setenv("AWS_ACCESS_KEY_ID", "ENVKEY", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
	setenv("AWS_SESSION_TOKEN", "envtoken", 1);
	setenv("AWS_DEFAULT_REGION", "us-west-2", 1);
	setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000//", 1);
	assert_int_equal(glia_s3_config_load(&c, err, sizeof err), 0);
	assert_string_equal(c.access_key, "ENVKEY");
	assert_string_equal(c.session_token, "envtoken");
	assert_string_equal(c.region, "us-west-2");
	assert_string_equal(c.endpoint, "http://127.0.0.1:9000");
	glia_s3_config_free(&c);
	setenv("AWS_REGION", "eu-north-1", 1);
	setenv("AWS_ENDPOINT_URL_S3", "https://s3.example", 1);
	assert_int_equal(glia_s3_config_load(&c, err, sizeof err), 0);
	assert_string_equal(c.region, "eu-north-1");
	assert_string_equal(c.endpoint, "https://s3.example");
	glia_s3_config_free(&c);
	setenv("AWS_ENDPOINT_URL_S3", "s3.example", 1);
	assert_int_equal(glia_s3_config_load(&c, err, sizeof err), -1);
	assert_string_equal(err, "AWS_ENDPOINT_URL_S3=s3.example: expected "
	                         "http://HOST[:PORT] or https://HOST[:PORT]");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_ENDPOINT_URL_S3");
	assert_int_equal(glia_s3_config_load(&c, err, sizeof err), -1);
	assert_string_equal(err, "AWS_ACCESS_KEY_ID is set but "
	                         "AWS_SECRET_ACCESS_KEY is not");
	for (size_t i = 0; i < N(AWS_VARS); i++)
		unsetenv(AWS_VARS[i]);
}

static void no_credentials_anywhere_is_anonymous(void **state)
{
	glia_s3_config c;
	char err[256];

	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
	setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
	assert_int_equal(glia_s3_config_load(&c, err, sizeof err), 0);
	assert_null(c.access_key);
	assert_null(c.secret_key);
	assert_string_equal(c.region, "us-east-1");
	glia_s3_config_free(&c);
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	unsetenv("AWS_CONFIG_FILE");
}

static const char PAGE[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
    "<Name>b</Name><Prefix>m/</Prefix>"
    "<NextContinuationToken>1VIQ+mu/p5=&amp;</NextContinuationToken>"
    "<IsTruncated>true</IsTruncated>"
    "<Contents><Key>m/1/a&amp;b&lt;c&gt;&quot;&apos;&#65;&#x2603;.txt</Key>"
    "<LastModified>2024-01-02T03:04:05.000Z</LastModified>"
    "<ETag>&quot;5d41&quot;</ETag><Size>5</Size></Contents>"
    "<Contents><Key>m/2/b</Key><Size>12345678901</Size>"
    "<LastModified>1970-01-01T00:01:00Z</LastModified>"
    "<ETag>&quot;e2&quot;</ETag></Contents>"
    "<Contents><Key>m/3/c</Key><Size>0</Size></Contents>"
    "</ListBucketResult>";

static void list_pages_parse_with_entities_and_truncation(void **state)
{
	glia_s3_list l = {0};
	char err[256];

	assert_int_equal(
	    glia_s3_parse_list(PAGE, strlen(PAGE), &l, 100, err, sizeof err),
	    0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.items[0].key, "m/1/a&b<c>\"'A\xe2\x98\x83.txt");
	assert_string_equal(l.items[0].etag, "\"5d41\"");
	assert_int_equal(l.items[0].size, 5);
	assert_int_equal(l.items[0].last_modified, 1704164645);
	assert_int_equal(l.items[1].size, 12345678901LL);
	assert_int_equal(l.items[1].last_modified, 60);
	assert_string_equal(l.items[2].etag, "");
	assert_int_equal(l.items[2].last_modified, 0);
	assert_true(l.truncated);
	assert_string_equal(l.next_token, "1VIQ+mu/p5=&");
	/* a second page appends; the cap stops it */
	assert_int_equal(
	    glia_s3_parse_list(PAGE, strlen(PAGE), &l, 4, err, sizeof err), 1);
	assert_int_equal(l.n, 4);
	glia_s3_list_free(&l);
	assert_null(l.items);

	const char *last = "<ListBucketResult><IsTruncated>false</IsTruncated>"
	                   "</ListBucketResult>";
	assert_int_equal(
	    glia_s3_parse_list(last, strlen(last), &l, 100, err, sizeof err),
	    0);
	assert_int_equal(l.n, 0);
	assert_false(l.truncated);
	assert_null(l.next_token);
	glia_s3_list_free(&l);
}

static void malformed_lists_are_refused(void **state)
{
	static const struct {
		const char *xml, *want;
	} bad[] = {
	    {"<Error><Code>NoSuchBucket</Code></Error>",
	     "not a ListObjectsV2 answer"},
	    {"<ListBucketResult><Contents><Key>k</Key>",
	     "malformed ListObjectsV2 answer (<Contents> not closed)"},
	    {"<ListBucketResult><Contents><Size>1</Size></Contents>",
	     "malformed ListObjectsV2 answer (an object without a valid Key, "
	     "Size, ETag or LastModified)"},
	    {"<ListBucketResult><Contents><Key></Key></Contents>",
	     "malformed ListObjectsV2 answer (an object without a valid Key, "
	     "Size, ETag or LastModified)"},
	    {"<ListBucketResult><Contents><Key>k</Key><Size>-1</Size>"
	     "</Contents>",
	     "malformed ListObjectsV2 answer (an object without a valid Key, "
	     "Size, ETag or LastModified)"},
	    {"<ListBucketResult><Contents><Key>a&bogus;</Key></Contents>",
	     "malformed ListObjectsV2 answer (an object without a valid Key, "
	     "Size, ETag or LastModified)"},
	    {"<ListBucketResult><Contents><Key>k</Key><ETag>&#0;</ETag>"
	     "</Contents>",
	     "malformed ListObjectsV2 answer (an object without a valid Key, "
	     "Size, ETag or LastModified)"},
	    {"<ListBucketResult><NextContinuationToken>&#xD800;"
	     "</NextContinuationToken>",
	     "malformed ListObjectsV2 answer (NextContinuationToken)"},
	};
	char err[256];

	for (size_t i = 0; i < N(bad); i++) {
		glia_s3_list l = {0};
		if (glia_s3_parse_list(bad[i].xml, strlen(bad[i].xml), &l, 100,
		                       err, sizeof err) != -1)
			fail_msg("case %zu accepted", i);
		assert_string_equal(err, bad[i].want);
		glia_s3_list_free(&l);
	}
}

static void entities_decode_or_refuse(void **state)
{
	static const struct {
		const char *in, *want;
	} rows[] = {
	    {"plain", "plain"},
	    {"&amp;&lt;&gt;&quot;&apos;", "&<>\"'"},
	    {"&#65;&#x41;&#X41;", NULL}, /* &#X is not XML */
	    {"&#x10FFFF;", "\xf4\x8f\xbf\xbf"},
	    {"&#x110000;", NULL},
	    {"&#xDFFF;", NULL},
	    {"&#123456789;", NULL},
	    {"&amp", NULL},
	    {"&;", NULL},
	    {"&#;", NULL},
	    {"&#x;", NULL},
	};

	for (size_t i = 0; i < N(rows); i++) {
		char *got = glia_s3_xml_text(rows[i].in, strlen(rows[i].in));
		if (!rows[i].want) {
			if (got)
				fail_msg("%s: got \"%s\", want a refusal",
				         rows[i].in, got);
			continue;
		}
		if (!got)
			fail_msg("%s: refused", rows[i].in);
		assert_string_equal(got, rows[i].want);
		free(got);
	}
}

static void error_bodies_and_times(void **state)
{
	char out[128];
	const char *e =
	    "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code>"
	    "<Message>Access &amp; Denied</Message></Error>";

	glia_s3_parse_error(e, strlen(e), out, sizeof out);
	assert_string_equal(out, "AccessDenied: Access & Denied");
	e = "<Error><Code>NoSuchKey</Code></Error>";
	glia_s3_parse_error(e, strlen(e), out, sizeof out);
	assert_string_equal(out, "NoSuchKey");
	glia_s3_parse_error("<html>", 6, out, sizeof out);
	assert_string_equal(out, "");

	assert_int_equal(glia_s3_parse_time("2024-01-02T03:04:05.000Z"),
	                 1704164645);
	assert_int_equal(glia_s3_parse_time("2024-01-02T03:04:05Z"),
	                 1704164645);
	assert_int_equal(glia_s3_parse_time("2024-01-02T03:04:05"), -1);
	assert_int_equal(glia_s3_parse_time("2024-13-02T03:04:05Z"), -1);
	assert_int_equal(glia_s3_parse_time("Tue, 02 Jan 2024 03:04:05 GMT"),
	                 -1);
	assert_int_equal(glia_s3_parse_time(""), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(urls_split_into_bucket_and_key),
	    cmocka_unit_test(bad_urls_are_refused_with_the_rule),
	    cmocka_unit_test(keys_are_encoded_as_s3_signs_them),
	    cmocka_unit_test(request_urls_for_aws_and_an_endpoint),
	    cmocka_unit_test(ini_values_by_section),
	    cmocka_unit_test(config_from_the_default_files),
	    cmocka_unit_test(config_from_a_profile),
	    cmocka_unit_test(environment_wins_over_files),
	    cmocka_unit_test(no_credentials_anywhere_is_anonymous),
	    cmocka_unit_test(list_pages_parse_with_entities_and_truncation),
	    cmocka_unit_test(malformed_lists_are_refused),
	    cmocka_unit_test(entities_decode_or_refuse),
	    cmocka_unit_test(error_bodies_and_times),
	};
	return cmocka_run_group_tests(tests, aws_setup, aws_teardown);
}
