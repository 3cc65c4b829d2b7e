/* s3.c: see s3.h. URLs, configuration and XML are pure functions (tested
 * in tests/unit/test_s3.c, the XML also fuzzed); the requests below them
 * go through libcurl, which signs them (CURLOPT_AWS_SIGV4). */
#include "s3.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

#define CONNECT_TIMEOUT_S 30
#define STALL_TIMEOUT_S   60 /* below 1 byte/s for this long: give up */
#define EMPTY_SHA256                                                           \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define EMPTY_PAGES_MAX 1000 /* truncated pages in a row without an object */

static int errf(char *err, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int errf(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -1;
}

/* ------------------------------------------------------------------ URLs */

int glia_s3_is_url(const char *s)
{
	return s && strncmp(s, "s3://", 5) == 0;
}

static int bucket_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
	       ch == '.' || ch == '-';
}

static int alnum_lower(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

/* NULL when name is a valid bucket name, else why not. */
static const char *bucket_problem(const char *name, size_t n)
{
	char ip[64];
	struct in_addr addr;

	if (n < 3 || n > 63)
		return "must be 3 to 63 characters long";
	for (size_t i = 0; i < n; i++)
		if (!bucket_char(name[i]))
			return "may hold only lower-case letters, digits, '.' "
			       "and '-'";
	if (!alnum_lower(name[0]) || !alnum_lower(name[n - 1]))
		return "must start and end with a letter or a digit";
	if (memmem(name, n, "..", 2))
		return "may not hold \"..\"";
	memcpy(ip, name, n);
	ip[n] = '\0';
	if (inet_pton(AF_INET, ip, &addr) == 1)
		return "may not be an IP address";
	return NULL;
}

int glia_s3_parse_url(const char *url, char **bucket, char **key, char *err,
                      size_t errlen)
{
	const char *b, *k, *why;
	size_t blen;

	if (!glia_s3_is_url(url))
		return errf(err, errlen, "%s: not an s3:// URL", url);
	b = url + 5;
	blen = strcspn(b, "/");
	why = bucket_problem(b, blen);
	if (why)
		return errf(err, errlen,
		            "%s: the bucket name %s (s3://BUCKET/KEY)", url,
		            why);
	k = b[blen] == '/' ? b + blen + 1 : "";
	if (strlen(k) > GLIA_S3_KEY_MAX)
		return errf(err, errlen,
		            "%.64s...: the key is longer than %d "
		            "bytes",
		            url, GLIA_S3_KEY_MAX);
	*bucket = glia_strndup(b, blen);
	*key = glia_strdup(k);
	return 0;
}

char *glia_s3_encode(const char *s, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	glia_buf b;

	glia_buf_init(&b, 0);
	glia_buf_puts(&b, "");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
		if (isalnum(*p) || strchr("-_.~", *p) ||
		    (keep_slash && *p == '/'))
			glia_buf_append(&b, p, 1);
		else
			glia_buf_append(&b, enc, 3);
	}
	return b.data;
}

/* Where the bucket's objects are: "ENDPOINT/bucket" (path-style, also
 * for bucket names with dots on AWS) or "https://bucket.s3.REGION..."
 * (virtual-hosted); *path_style says which. */
static char *bucket_base(const glia_s3_config *c, const char *bucket,
                         int *path_style)
{
	const char *domain = strncmp(c->region, "cn-", 3) == 0
	                         ? "amazonaws.com.cn"
	                         : "amazonaws.com";

	*path_style = c->endpoint != NULL || strchr(bucket, '.') != NULL;
	if (c->endpoint)
		return glia_sprintf("%s/%s", c->endpoint, bucket);
	if (*path_style)
		return glia_sprintf("https://s3.%s.%s/%s", c->region, domain,
		                    bucket);
	return glia_sprintf("https://%s.s3.%s.%s", bucket, c->region, domain);
}

char *glia_s3_object_url(const glia_s3_config *c, const char *bucket,
                         const char *key)
{
	int path_style;
	char *base = bucket_base(c, bucket, &path_style);
	char *enc = glia_s3_encode(key, 1);
	char *url = glia_sprintf("%s/%s", base, enc);

	free(base);
	free(enc);
	return url;
}

char *glia_s3_list_url(const glia_s3_config *c, const char *bucket,
                       const char *prefix, const char *token, int max_keys)
{
	int path_style;
	char *base = bucket_base(c, bucket, &path_style);
	glia_buf q;

	/* SigV4 signs the query as sent: parameters in byte order */
	glia_buf_init(&q, 0);
	glia_buf_puts(&q, base);
	glia_buf_puts(&q, path_style ? "?" : "/?");
	if (token) {
		char *t = glia_s3_encode(token, 0);
		glia_buf_printf(&q, "continuation-token=%s&", t);
		free(t);
	}
	glia_buf_puts(&q, "list-type=2");
	if (max_keys > 0)
		glia_buf_printf(&q, "&max-keys=%d", max_keys);
	char *p = glia_s3_encode(prefix, 0);
	glia_buf_printf(&q, "&prefix=%s", p);
	free(p);
	free(base);
	return q.data;
}

/* --------------------------------------------------------- configuration */

static const char *skip_space(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
		p++;
	return p;
}

static const char *trim_end(const char *start, const char *end)
{
	while (end > start &&
	       (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		end--;
	return end;
}

static int span_is(const char *s, const char *e, const char *want)
{
	size_t n = strlen(want);
	return (size_t)(e - s) == n && memcmp(s, want, n) == 0;
}

/* The value of key in [section] (key NULL: "" when the section exists). */
static char *ini_scan(const char *text, const char *section, const char *key)
{
	int in = 0;

	for (const char *line = text; line && *line;) {
		const char *eol = strchr(line, '\n');
		const char *end = eol ? eol : line + strlen(line);
		const char *p = skip_space(line, end), *e = trim_end(p, end);

		if (line[0] != ' ' && line[0] != '\t' && p < e && *p == '[' &&
		    e[-1] == ']') {
			const char *s = skip_space(p + 1, e - 1);
			in = span_is(s, trim_end(s, e - 1), section);
			if (in && !key)
				return glia_strdup("");
		} else if (in && key && line[0] != ' ' && line[0] != '\t' &&
		           p < e && *p != '#' && *p != ';') {
			const char *eq = memchr(p, '=', (size_t)(e - p));
			if (eq && span_is(p, trim_end(p, eq), key)) {
				const char *v = skip_space(eq + 1, e);
				return glia_strndup(v, (size_t)(e - v));
			}
		}
		line = eol ? eol + 1 : NULL;
	}
	return NULL;
}

char *glia_s3_ini_get(const char *text, const char *section, const char *key)
{
	if (!text || !section || !key)
		return NULL;
	return ini_scan(text, section, key);
}

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

/* A file's path from the environment variable, else ~/.aws/<name>. */
static char *aws_file(const char *var, const char *name)
{
	const char *v = env(var), *home = env("HOME");

	if (v && strncmp(v, "~/", 2) == 0 && home)
		return glia_sprintf("%s/%s", home, v + 2);
	if (v)
		return glia_strdup(v);
	return home ? glia_sprintf("%s/.aws/%s", home, name) : NULL;
}

/* The text of an AWS file ("" when it does not exist). */
static int read_aws_file(const char *path, char **out, char *err, size_t len)
{
	*out = path ? glia_read_file(path, GLIA_S3_FILE_MAX, NULL) : NULL;
	if (*out)
		return 0;
	if (path && errno != ENOENT && errno != ENOTDIR)
		return errf(err, len, "cannot read %s: %s", path,
		            errno == EFBIG ? "larger than 1 MiB"
		                           : strerror(errno));
	*out = glia_strdup("");
	return 0;
}

typedef struct aws_files {
	char *cred_path, *conf_path, *cred, *conf;
	char *profile, *conf_section; /* "X" and "profile X" (or "default") */
	int explicit_profile;
} aws_files;

static void aws_files_free(aws_files *f)
{
	free(f->cred_path);
	free(f->conf_path);
	free(f->cred);
	free(f->conf);
	free(f->profile);
	free(f->conf_section);
}

static int aws_files_load(aws_files *f, char *err, size_t len)
{
	const char *profile = env("AWS_PROFILE");

	memset(f, 0, sizeof *f);
	f->explicit_profile = profile != NULL;
	f->profile = glia_strdup(profile ? profile : "default");
	f->conf_section = strcmp(f->profile, "default") == 0
	                      ? glia_strdup("default")
	                      : glia_sprintf("profile %s", f->profile);
	f->cred_path = aws_file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
	f->conf_path = aws_file("AWS_CONFIG_FILE", "config");
	if (read_aws_file(f->cred_path, &f->cred, err, len) < 0 ||
	    read_aws_file(f->conf_path, &f->conf, err, len) < 0)
		return -1;
	return 0;
}

/* key of the profile: the credentials file first, then the config file. */
static char *profile_value(const aws_files *f, const char *key)
{
	char *v = ini_scan(f->cred, f->profile, key);
	if (!v)
		v = ini_scan(f->conf, f->conf_section, key);
	if (v && !*v) {
		free(v);
		v = NULL;
	}
	return v;
}

static int profile_exists(const aws_files *f)
{
	char *a = ini_scan(f->cred, f->profile, NULL);
	char *b = ini_scan(f->conf, f->conf_section, NULL);
	int found = a || b;

	free(a);
	free(b);
	return found;
}

static int load_credentials(glia_s3_config *c, const aws_files *f, char *err,
                            size_t len)
{
	const char *id = env("AWS_ACCESS_KEY_ID"),
	           *secret = env("AWS_SECRET_ACCESS_KEY");

	if (id || secret) {
		if (!id || !secret)
			return errf(
			    err, len, "%s is set but %s is not",
			    id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
			    id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
		c->access_key = glia_strdup(id);
		c->secret_key = glia_strdup(secret);
		if (env("AWS_SESSION_TOKEN"))
			c->session_token =
			    glia_strdup(env("AWS_SESSION_TOKEN"));
		return 0;
	}
	if (f->explicit_profile && !profile_exists(f))
		return errf(err, len,
		            "AWS_PROFILE=%s: no [%s] in %s and no "
		            "[%s] in %s",
		            f->profile, f->profile,
		            f->cred_path ? f->cred_path : "~/.aws/credentials",
		            f->conf_section,
		            f->conf_path ? f->conf_path : "~/.aws/config");
	c->access_key = profile_value(f, "aws_access_key_id");
	c->secret_key = profile_value(f, "aws_secret_access_key");
	c->session_token = profile_value(f, "aws_session_token");
	if (!c->access_key != !c->secret_key)
		return errf(err, len, "profile %s has %s but no %s", f->profile,
		            c->access_key ? "aws_access_key_id"
		                          : "aws_secret_access_key",
		            c->access_key ? "aws_secret_access_key"
		                          : "aws_access_key_id");
	return 0;
}

static int load_region(glia_s3_config *c, const aws_files *f, char *err,
                       size_t len)
{
	const char *r = env("AWS_REGION");

	if (!r)
		r = env("AWS_DEFAULT_REGION");
	c->region = r ? glia_strdup(r) : profile_value(f, "region");
	if (!c->region)
		c->region = glia_strdup("us-east-1");
	size_t n = strlen(c->region);
	if (n == 0 || n > 64 ||
	    strspn(c->region, "abcdefghijklmnopqrstuvwxyz0123456789-") != n)
		return errf(err, len,
		            "region %.64s: expected a name such as "
		            "us-east-1",
		            c->region);
	return 0;
}

static int load_endpoint(glia_s3_config *c, char *err, size_t len)
{
	const char *name = "AWS_ENDPOINT_URL_S3", *e = env(name);

	if (!e) {
		name = "AWS_ENDPOINT_URL";
		e = env(name);
	}
	if (!e)
		return 0;
	if (strncmp(e, "http://", 7) != 0 && strncmp(e, "https://", 8) != 0)
		return errf(err, len,
		            "%s=%.200s: expected http://HOST[:PORT] or "
		            "https://HOST[:PORT]",
		            name, e);
	size_t n = strlen(e);
	while (n > 8 && e[n - 1] == '/')
		n--;
	c->endpoint = glia_strndup(e, n);
	return 0;
}

int glia_s3_config_load(glia_s3_config *c, char *err, size_t errlen)
{
	aws_files f;
	int rc;

	memset(c, 0, sizeof *c);
	rc = aws_files_load(&f, err, errlen);
	if (rc == 0)
		rc = load_credentials(c, &f, err, errlen);
	if (rc == 0)
		rc = load_region(c, &f, err, errlen);
	if (rc == 0)
		rc = load_endpoint(c, err, errlen);
	aws_files_free(&f);
	if (rc < 0)
		glia_s3_config_free(c);
	return rc;
}

void glia_s3_config_free(glia_s3_config *c)
{
	free(c->access_key);
	free(c->secret_key);
	free(c->session_token);
	free(c->region);
	free(c->endpoint);
	memset(c, 0, sizeof *c);
}

/* ------------------------------------------------------------------- XML */

static void put_utf8(char **o, unsigned long cp)
{
	char *p = *o;

	if (cp < 0x80) {
		*p++ = (char)cp;
	} else if (cp < 0x800) {
		*p++ = (char)(0xC0 | (cp >> 6));
		*p++ = (char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		*p++ = (char)(0xE0 | (cp >> 12));
		*p++ = (char)(0x80 | ((cp >> 6) & 0x3F));
		*p++ = (char)(0x80 | (cp & 0x3F));
	} else {
		*p++ = (char)(0xF0 | (cp >> 18));
		*p++ = (char)(0x80 | ((cp >> 12) & 0x3F));
		*p++ = (char)(0x80 | ((cp >> 6) & 0x3F));
		*p++ = (char)(0x80 | (cp & 0x3F));
	}
	*o = p;
}

/* A numeric entity's body ("#65" or "#x41"): 0 and the code point, or -1. */
static int char_ref(const char *s, size_t n, unsigned long *cp)
{
	int base = 10;
	unsigned long v = 0;

	if (n < 2 || s[0] != '#')
		return -1;
	s++, n--;
	if (s[0] == 'x') {
		base = 16;
		s++, n--;
	}
	if (n == 0 || n > 8)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int d = isdigit((unsigned char)s[i]) ? s[i] - '0'
		        : base == 16 && isxdigit((unsigned char)s[i])
		            ? tolower((unsigned char)s[i]) - 'a' + 10
		            : -1;
		if (d < 0)
			return -1;
		v = v * (unsigned long)base + (unsigned long)d;
	}
	if (v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return -1;
	*cp = v;
	return 0;
}

static int named_entity(const char *s, size_t n, char *out)
{
	static const struct {
		const char *name;
		char ch;
	} names[] = {{"amp", '&'},
	             {"lt", '<'},
	             {"gt", '>'},
	             {"quot", '"'},
	             {"apos", '\''}};

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (span_is(s, s + n, names[i].name)) {
			*out = names[i].ch;
			return 0;
		}
	return -1;
}

char *glia_s3_xml_text(const char *s, size_t n)
{
	char *out = glia_malloc(n + 1), *o = out;
	const char *end = s + n;

	while (s < end) {
		if (*s != '&') {
			*o++ = *s++;
			continue;
		}
		const char *semi = memchr(s, ';', (size_t)(end - s));
		unsigned long cp;
		char ch;
		if (!semi || semi - s > 12)
			goto fail;
		if (named_entity(s + 1, (size_t)(semi - s - 1), &ch) == 0)
			*o++ = ch;
		else if (char_ref(s + 1, (size_t)(semi - s - 1), &cp) == 0)
			put_utf8(&o, cp); /* at most 4 bytes for >= 4 in */
		else
			goto fail;
		s = semi + 1;
	}
	*o = '\0';
	return out;
fail:
	free(out);
	return NULL;
}

/* The text of the first <name>...</name> in [p, end): 1 with *val, *vlen
 * and *after set (after the closing tag), 0 when absent, -1 when the
 * element is not closed. */
static int element(const char *p, const char *end, const char *name,
                   const char **val, size_t *vlen, const char **after)
{
	char open[40], close[41];
	int no = snprintf(open, sizeof open, "<%s>", name);
	int nc = snprintf(close, sizeof close, "</%s>", name);
	const char *s = memmem(p, (size_t)(end - p), open, (size_t)no), *e;

	if (!s)
		return 0;
	s += no;
	e = memmem(s, (size_t)(end - s), close, (size_t)nc);
	if (!e)
		return -1;
	*val = s;
	*vlen = (size_t)(e - s);
	if (after)
		*after = e + nc;
	return 1;
}

/* The decoded text of <name> in [p, end) into *out (NULL when absent). */
static int element_text(const char *p, const char *end, const char *name,
                        char **out)
{
	const char *v;
	size_t n;
	int rc = element(p, end, name, &v, &n, NULL);

	*out = NULL;
	if (rc <= 0)
		return rc;
	*out = glia_s3_xml_text(v, n);
	return *out ? 1 : -1;
}

int64_t glia_s3_parse_time(const char *s)
{
	struct tm tm = {0};
	int y, mo, d, h, mi, sec, used = 0;

	if (!s ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec,
	           &used) != 6 ||
	    used != 19)
		return -1;
	s += used;
	if (*s == '.')
		for (s++; isdigit((unsigned char)*s); s++)
			;
	if (strcmp(s, "Z") != 0 || y < 1970 || mo < 1 || mo > 12 || d < 1 ||
	    d > 31 || h > 23 || mi > 59 || sec > 60)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	return (int64_t)timegm(&tm);
}

static long long parse_size(const char *v, size_t n)
{
	long long x = 0;

	if (n == 0 || n > 18)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)v[i]))
			return -1;
		x = x * 10 + (v[i] - '0');
	}
	return x;
}

static void list_push(glia_s3_list *l, glia_s3_object *o)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->items = glia_realloc(l->items, l->cap * sizeof(*l->items));
	}
	l->items[l->n++] = *o;
}

static void object_free(glia_s3_object *o)
{
	free(o->key);
	free(o->etag);
}

/* One <Contents> block [p, end) into o. */
static int parse_contents(const char *p, const char *end, glia_s3_object *o,
                          char *err, size_t len)
{
	const char *v;
	size_t n;
	char *when = NULL;

	memset(o, 0, sizeof *o);
	if (element_text(p, end, "Key", &o->key) <= 0 || !o->key[0])
		goto bad;
	if (element(p, end, "Size", &v, &n, NULL) == 1 &&
	    (o->size = parse_size(v, n)) < 0)
		goto bad;
	if (element_text(p, end, "ETag", &o->etag) < 0 ||
	    element_text(p, end, "LastModified", &when) < 0)
		goto bad;
	if (when) {
		int64_t t = glia_s3_parse_time(when);
		o->last_modified = t < 0 ? 0 : t;
		free(when);
	}
	if (!o->etag)
		o->etag = glia_strdup("");
	return 0;
bad:
	free(when);
	object_free(o);
	return errf(err, len,
	            "malformed ListObjectsV2 answer (an object "
	            "without a valid Key, Size, ETag or LastModified)");
}

static int parse_tail(const char *xml, const char *end, glia_s3_list *out,
                      char *err, size_t len)
{
	const char *v;
	size_t n;

	out->truncated = element(xml, end, "IsTruncated", &v, &n, NULL) == 1 &&
	                 span_is(v, v + n, "true");
	free(out->next_token);
	if (element_text(xml, end, "NextContinuationToken", &out->next_token) <
	    0)
		return errf(err, len,
		            "malformed ListObjectsV2 answer "
		            "(NextContinuationToken)");
	return 0;
}

int glia_s3_parse_list(const char *xml, size_t n, glia_s3_list *out,
                       size_t max_keys, char *err, size_t errlen)
{
	const char *p = xml, *end = xml + n, *v, *after;
	size_t vlen;
	int rc;

	if (!memmem(xml, n, "<ListBucketResult", 17))
		return errf(err, errlen, "not a ListObjectsV2 answer");
	while ((rc = element(p, end, "Contents", &v, &vlen, &after)) == 1) {
		glia_s3_object o;
		if (out->n >= max_keys)
			return 1;
		if (parse_contents(v, v + vlen, &o, err, errlen) < 0)
			return -1;
		list_push(out, &o);
		p = after;
	}
	if (rc < 0)
		return errf(err, errlen,
		            "malformed ListObjectsV2 answer "
		            "(<Contents> not closed)");
	return parse_tail(xml, end, out, err, errlen);
}

void glia_s3_list_free(glia_s3_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		object_free(&l->items[i]);
	free(l->items);
	free(l->next_token);
	memset(l, 0, sizeof *l);
}

void glia_s3_parse_error(const char *xml, size_t n, char *out, size_t len)
{
	char *code = NULL, *msg = NULL;
	const char *end = xml + n;

	out[0] = '\0';
	if (!xml || !memmem(xml, n, "<Error>", 7))
		return;
	element_text(xml, end, "Code", &code);
	element_text(xml, end, "Message", &msg);
	if (code && msg && *msg)
		snprintf(out, len, "%s: %s", code, msg);
	else if (code)
		snprintf(out, len, "%s", code);
	free(code);
	free(msg);
}

/* ------------------------------------------------------------- requests */

typedef struct req {
	FILE *out;        /* a 2xx body goes here, else into body */
	glia_buf body;    /* capped: GLIA_S3_PAGE_MAX */
	glia_buf errbody; /* a non-2xx body, capped, truncated quietly */
	long long max_bytes, got;
	int too_big;
	long status;
	CURL *curl;
	char etag[256];
	char region_hint[64];
} req;

static size_t write_cb(char *data, size_t size, size_t n, void *arg)
{
	req *r = arg;
	size_t len = size * n;

	if (r->status == 0)
		curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->status < 200 || r->status >= 300) {
		size_t room = GLIA_S3_ERRBODY_MAX - r->errbody.len;
		glia_buf_append(&r->errbody, data, len < room ? len : room);
		return len;
	}
	r->got += (long long)len;
	if (r->max_bytes > 0 && r->got > r->max_bytes) {
		r->too_big = 1;
		return 0; /* curl stops with CURLE_WRITE_ERROR */
	}
	if (r->out)
		return fwrite(data, 1, len, r->out);
	if (glia_buf_append(&r->body, data, len) < 0) {
		r->too_big = 1;
		return 0;
	}
	return len;
}

/* Copies the value of header "name: value" in line into out. */
static void header_value(const char *line, size_t n, const char *name,
                         char *out, size_t len)
{
	size_t k = strlen(name);

	if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
		return;
	const char *v = skip_space(line + k + 1, line + n);
	const char *e = v;
	while (e < line + n && *e != '\r' && *e != '\n')
		e++;
	snprintf(out, len, "%.*s", (int)(e - v), v);
}

static size_t header_cb(char *data, size_t size, size_t n, void *arg)
{
	req *r = arg;

	header_value(data, size * n, "ETag", r->etag, sizeof r->etag);
	header_value(data, size * n, "x-amz-bucket-region", r->region_hint,
	             sizeof r->region_hint);
	return size * n;
}

static struct curl_slist *sign(CURL *curl, const glia_s3_config *c)
{
	struct curl_slist *h = NULL;
	char *sigv4, *token;

	if (!c->access_key)
		return NULL;
	sigv4 = glia_sprintf("aws:amz:%s:s3", c->region);
	curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, sigv4);
	free(sigv4); /* libcurl keeps its own copy */
	curl_easy_setopt(curl, CURLOPT_USERNAME, c->access_key);
	curl_easy_setopt(curl, CURLOPT_PASSWORD, c->secret_key);
	/* libcurl 7.88 signs the empty payload but does not send its hash;
	 * S3 requires the header (and curl signs the headers it is given) */
	h = curl_slist_append(h, "x-amz-content-sha256: " EMPTY_SHA256);
	if (c->session_token) {
		token =
		    glia_sprintf("x-amz-security-token: %s", c->session_token);
		h = curl_slist_append(h, token);
		free(token);
	}
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
	return h;
}

/* One request (HEAD with nobody); r->status set. */
static CURLcode perform(const glia_s3_config *c, const char *url, req *r,
                        int nobody, char *curl_err)
{
	CURL *curl = curl_easy_init();
	struct curl_slist *h;
	CURLcode rc;

	if (!curl)
		return CURLE_FAILED_INIT;
	r->curl = curl;
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
	curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, (long)STALL_TIMEOUT_S);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
	if (nobody) {
		curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
		curl_easy_setopt(curl, CURLOPT_FILETIME, 1L);
	}
	h = sign(curl, c);
	rc = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(h);
	return rc;
}

static const char *status_reason(long status)
{
	switch (status) {
	case 301:
		return "PermanentRedirect: the bucket is in another region";
	case 400:
		return "BadRequest";
	case 403:
		return "AccessDenied: access denied (check the credentials "
		       "and the bucket's policy)";
	case 404:
		return "NotFound: no such bucket or object";
	default:
		return status >= 500 ? "the S3 service failed"
		                     : "unexpected "
		                       "answer";
	}
}

/* The error message of a finished request that did not succeed. */
static int request_error(const char *url, req *r, CURLcode rc,
                         const char *curl_err, char *err, size_t len)
{
	char what[512];
	char hint[200] = "";

	if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && r->status >= 300))
		return errf(err, len, "%s: %s", url,
		            curl_err[0] ? curl_err : curl_easy_strerror(rc));
	glia_s3_parse_error(r->errbody.data ? r->errbody.data : "",
	                    r->errbody.len, what, sizeof what);
	if (!what[0])
		snprintf(what, sizeof what, "%s", status_reason(r->status));
	if (r->region_hint[0])
		snprintf(hint, sizeof hint,
		         "; the bucket is in region %s: set "
		         "AWS_REGION=%s",
		         r->region_hint, r->region_hint);
	return errf(err, len, "%s: %s (HTTP %ld)%s", url, what, r->status,
	            hint);
}

static void req_init(req *r, FILE *out, long long max_bytes)
{
	memset(r, 0, sizeof *r);
	r->out = out;
	r->max_bytes = max_bytes;
	glia_buf_init(&r->body, GLIA_S3_PAGE_MAX);
	glia_buf_init(&r->errbody, 0);
}

static void req_free(req *r)
{
	if (r->curl)
		curl_easy_cleanup(r->curl);
	glia_buf_free(&r->body);
	glia_buf_free(&r->errbody);
}

static int ok(req *r, CURLcode rc)
{
	return rc == CURLE_OK && r->status >= 200 && r->status < 300;
}

/* The object's request URL from s3://bucket/key (a key required). */
static char *object_request_url(const glia_s3_config *c, const char *url,
                                char *err, size_t len)
{
	char *bucket, *key, *out = NULL;

	if (glia_s3_parse_url(url, &bucket, &key, err, len) < 0)
		return NULL;
	if (!key[0] || key[strlen(key) - 1] == '/')
		errf(err, len, "%s: names a bucket or a prefix, not an object",
		     url);
	else
		out = glia_s3_object_url(c, bucket, key);
	free(bucket);
	free(key);
	return out;
}

int glia_s3_get(const glia_s3_config *c, const char *url, FILE *out,
                long long max_bytes, int *too_big, char *err, size_t errlen)
{
	char curl_err[CURL_ERROR_SIZE] = "";
	char *target = object_request_url(c, url, err, errlen);
	req r;
	int rc = 0;

	*too_big = 0;
	if (!target)
		return -1;
	req_init(&r, out, max_bytes);
	CURLcode cc = perform(c, target, &r, 0, curl_err);
	if (r.too_big) {
		*too_big = 1;
		rc = errf(err, errlen, "%s: larger than %lld bytes", url,
		          max_bytes);
	} else if (!ok(&r, cc)) {
		rc = request_error(url, &r, cc, curl_err, err, errlen);
	}
	req_free(&r);
	free(target);
	return rc;
}

int glia_s3_head(const glia_s3_config *c, const char *url, long long *size,
                 char **etag, int64_t *mtime, char *err, size_t errlen)
{
	char curl_err[CURL_ERROR_SIZE] = "";
	char *target = object_request_url(c, url, err, errlen);
	curl_off_t len = -1, when = -1;
	req r;
	int rc = 1;

	if (!target)
		return -1;
	req_init(&r, NULL, 0);
	CURLcode cc = perform(c, target, &r, 1, curl_err);
	if (cc == CURLE_OK && r.status == 404) {
		rc = 0;
	} else if (!ok(&r, cc)) {
		rc = request_error(url, &r, cc, curl_err, err, errlen);
	} else {
		curl_easy_getinfo(r.curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
		                  &len);
		curl_easy_getinfo(r.curl, CURLINFO_FILETIME_T, &when);
		*size = len;
		*mtime = when > 0 ? (int64_t)when : 0;
		*etag = glia_strdup(r.etag);
	}
	req_free(&r);
	free(target);
	return rc;
}

/* One page of a listing appended to out: 0, 1 when max_keys was reached,
 * -1 on an error. */
static int list_page(const glia_s3_config *c, const char *url,
                     const char *bucket, const char *prefix, size_t max_keys,
                     int page_keys, glia_s3_list *out, char *err, size_t errlen)
{
	char curl_err[CURL_ERROR_SIZE] = "";
	char *target =
	    glia_s3_list_url(c, bucket, prefix, out->next_token, page_keys);
	req r;
	int rc;

	req_init(&r, NULL, 0);
	CURLcode cc = perform(c, target, &r, 0, curl_err);
	if (r.too_big)
		rc =
		    errf(err, errlen, "%s: a listing page larger than %u bytes",
		         url, GLIA_S3_PAGE_MAX);
	else if (!ok(&r, cc))
		rc = request_error(url, &r, cc, curl_err, err, errlen);
	else if (!r.body.data)
		rc = errf(err, errlen, "%s: an empty listing answer", url);
	else if ((rc =
	              glia_s3_parse_list(r.body.data, r.body.len, out, max_keys,
	                                 curl_err, sizeof curl_err)) < 0)
		errf(err, errlen, "%s: %s", url, curl_err);
	req_free(&r);
	free(target);
	return rc;
}

int glia_s3_list_prefix(const glia_s3_config *c, const char *url,
                        size_t max_keys, int page_keys, glia_s3_list *out,
                        char *err, size_t errlen)
{
	char *bucket, *prefix;
	size_t cap = max_keys ? max_keys : GLIA_S3_MAX_KEYS;

	int rc = 0, empty = 0;

	memset(out, 0, sizeof *out);
	if (page_keys <= 0 && max_keys && max_keys < 1000)
		page_keys = (int)max_keys;
	if (glia_s3_parse_url(url, &bucket, &prefix, err, errlen) < 0)
		return -1;
	for (;;) {
		size_t before = out->n;
		rc = list_page(c, url, bucket, prefix, cap, page_keys, out, err,
		               errlen);
		if (rc == 1 && !max_keys)
			rc = errf(err, errlen, "%s: more than %d objects", url,
			          GLIA_S3_MAX_KEYS);
		if (rc != 0 || !out->truncated)
			break;
		if (!out->next_token)
			rc = errf(err, errlen,
			          "%s: a truncated listing without "
			          "NextContinuationToken",
			          url);
		else if (out->n == before && ++empty > EMPTY_PAGES_MAX)
			rc = errf(err, errlen,
			          "%s: %d listing pages in a row "
			          "without an object",
			          url, EMPTY_PAGES_MAX);
		if (rc != 0)
			break;
	}
	free(bucket);
	free(prefix);
	if (rc < 0) {
		glia_s3_list_free(out);
		return -1;
	}
	return 0;
}
