/* s3.h: objects on S3 and S3-compatible stores (s3://bucket/key), for
 * models today and the batch file listers later.
 *
 * The configuration is found like the AWS CLI finds it (docs/models.md):
 * credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
 * AWS_SESSION_TOKEN, else the shared credentials file (and the config
 * file) for AWS_PROFILE or "default", else none (anonymous, unsigned
 * requests for public buckets); the region from AWS_REGION /
 * AWS_DEFAULT_REGION, else the config file, else us-east-1; an endpoint
 * from AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL (path-style URLs there).
 * Requests are signed with AWS Signature V4 by libcurl.
 *
 * Error contract: int functions return 0 or -1 with a message in err
 * ("s3://b/k: AccessDenied: Access Denied (HTTP 403)"); what a function
 * allocates is freed with the matching _free. */
#ifndef GLIA_S3_H
#define GLIA_S3_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define GLIA_S3_KEY_MAX     1024        /* S3's own limit, in bytes */
#define GLIA_S3_MAX_KEYS    100000      /* objects one listing returns */
#define GLIA_S3_PAGE_MAX    (16u << 20) /* bytes of one listing page */
#define GLIA_S3_ERRBODY_MAX (64u << 10) /* bytes of an error answer kept */
#define GLIA_S3_FILE_MAX    (1u << 20) /* bytes of ~/.aws/{credentials,config} */

typedef struct glia_s3_config {
	char *access_key; /* NULL: anonymous, requests unsigned */
	char *secret_key;
	char *session_token; /* NULL without */
	char *region;        /* never NULL */
	char *endpoint;      /* "http(s)://host[:port][/path]" or NULL (AWS) */
} glia_s3_config;

typedef struct glia_s3_object {
	char *key;
	long long size;
	char *etag;            /* as S3 gives it, quotes included */
	int64_t last_modified; /* seconds since the epoch; 0 when unknown */
} glia_s3_object;

typedef struct glia_s3_list {
	glia_s3_object *items;
	size_t n, cap;
	int truncated;    /* the last page parsed said IsTruncated */
	char *next_token; /* its NextContinuationToken, or NULL */
} glia_s3_list;

/* 1 when s starts with "s3://". */
int glia_s3_is_url(const char *s);

/* Splits "s3://bucket[/key]" (key may be empty) after checking the bucket
 * name (3-63 of a-z 0-9 . -, starting and ending with a letter or digit,
 * no "..", not an IP address) and the key's length. */
int glia_s3_parse_url(const char *url, char **bucket, char **key, char *err,
                      size_t errlen);

/* The configuration from the environment and the AWS files. */
int glia_s3_config_load(glia_s3_config *c, char *err, size_t errlen);
void glia_s3_config_free(glia_s3_config *c);

/* The value of key in [section] of an INI text such as ~/.aws/credentials
 * (whitespace trimmed, '#' and ';' comment lines skipped): a new string,
 * or NULL when absent. */
char *glia_s3_ini_get(const char *text, const char *section, const char *key);

/* s URI-encoded as S3 wants: unreserved characters (A-Z a-z 0-9 - _ . ~)
 * kept, '/' kept when keep_slash, every other byte %XX (upper case). */
char *glia_s3_encode(const char *s, int keep_slash);

/* The URL of an object (key "" for the bucket itself) and of one
 * ListObjectsV2 page (its query in canonical order, as SigV4 signs it;
 * token NULL for the first page). */
char *glia_s3_object_url(const glia_s3_config *c, const char *bucket,
                         const char *key);
char *glia_s3_list_url(const glia_s3_config *c, const char *bucket,
                       const char *prefix, const char *token, int max_keys);

/* Parses one ListObjectsV2 answer, appending its objects to out (at most
 * max_keys in all: -1 when more) and setting truncated / next_token. */
int glia_s3_parse_list(const char *xml, size_t n, glia_s3_list *out,
                       size_t max_keys, char *err, size_t errlen);
void glia_s3_list_free(glia_s3_list *l);

/* "Code: Message" of an S3 <Error> answer into out ("" when there is
 * none). */
void glia_s3_parse_error(const char *xml, size_t n, char *out, size_t len);

/* An ISO 8601 UTC time ("2024-01-02T03:04:05.000Z") as epoch seconds;
 * -1 when malformed. */
int64_t glia_s3_parse_time(const char *s);

/* Decodes the XML entities of s[0..n) (&amp; &lt; &gt; &quot; &apos;
 * &#N; &#xN;): a new string, or NULL when an entity is malformed. */
char *glia_s3_xml_text(const char *s, size_t n);

/* GET url (s3://bucket/key) into out, at most max_bytes (0: no cap; a
 * bigger object fails with "larger than max_bytes", *too_big set). */
int glia_s3_get(const glia_s3_config *c, const char *url, FILE *out,
                long long max_bytes, int *too_big, char *err, size_t errlen);

/* HEAD url: 1 with the object's size, etag (caller frees) and mtime; 0
 * when there is no such object (HTTP 404); -1 on an error. */
int glia_s3_head(const glia_s3_config *c, const char *url, long long *size,
                 char **etag, int64_t *mtime, char *err, size_t errlen);

/* Every object whose key starts with the prefix of url (s3://bucket/prefix),
 * at most max_keys (0: GLIA_S3_MAX_KEYS; more is an error unless
 * max_keys was given, when the first max_keys are returned), asked
 * page_keys at a time (0: S3's default, 1000). */
int glia_s3_list_prefix(const glia_s3_config *c, const char *url,
                        size_t max_keys, int page_keys, glia_s3_list *out,
                        char *err, size_t errlen);

#endif
