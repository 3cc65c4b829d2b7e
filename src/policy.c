/* policy.c: see policy.h. SHA-256 and the constant-time comparison come
 * from libcrypto (OpenSSL, already in the process through libcurl). */
#include "policy.h"

#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

static const char base32[] = "abcdefghijklmnopqrstuvwxyz234567";

/* ---- token bucket ---- */

void glia_bucket_init(glia_bucket *b, double rate, double burst, double now)
{
	b->rate = rate;
	b->burst = burst;
	b->tokens = burst;
	b->last = now;
}

static void bucket_refill(glia_bucket *b, double now)
{
	if (now <= b->last)
		return;
	b->tokens += (now - b->last) * b->rate;
	if (b->tokens > b->burst)
		b->tokens = b->burst;
	b->last = now;
}

double glia_bucket_take(glia_bucket *b, double now)
{
	bucket_refill(b, now);
	if (b->tokens >= 1.0) {
		b->tokens -= 1.0;
		return 0;
	}
	return (1.0 - b->tokens) / b->rate;
}

void glia_bucket_refund(glia_bucket *b)
{
	b->tokens += 1.0;
	if (b->tokens > b->burst)
		b->tokens = b->burst;
}

long glia_retry_after_s(double wait)
{
	double s = ceil(wait - 1e-9);
	if (!(s >= 1))
		return 1;
	return s > 1e9 ? 1000000000L : (long)s;
}

/* ---- API keys ---- */

static int random_bytes(unsigned char *out, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = getrandom(out + got, n - got, 0);
		if (r < 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* Base32 (RFC 4648 alphabet, lower case, no padding) of n bytes. */
static size_t base32_encode(const unsigned char *in, size_t n, char *out)
{
	size_t o = 0;
	unsigned acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 5) {
			out[o++] = base32[(acc >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	if (bits > 0)
		out[o++] = base32[(acc << (5 - bits)) & 31];
	out[o] = '\0';
	return o;
}

int glia_key_generate(char out[GLIA_KEY_LEN + 1])
{
	unsigned char raw[GLIA_KEY_BYTES];
	if (random_bytes(raw, sizeof raw) < 0)
		return -1;
	memcpy(out, GLIA_KEY_PREFIX, 5);
	base32_encode(raw, sizeof raw, out + 5);
	OPENSSL_cleanse(raw, sizeof raw);
	return 0;
}

int glia_key_id_generate(char out[GLIA_KEY_ID_LEN + 1])
{
	unsigned char raw[GLIA_KEY_ID_LEN / 2];
	if (random_bytes(raw, sizeof raw) < 0)
		return -1;
	glia_hex(raw, sizeof raw, out);
	return 0;
}

static const char *skip_spaces(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* The value without surrounding blanks, or NULL when empty. */
static const char *trimmed(const char *s, size_t *len)
{
	s = skip_spaces(s);
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	*len = n;
	return n ? s : NULL;
}

const char *glia_key_from_headers(const char *authorization,
                                  const char *x_api_key, size_t *len)
{
	if (authorization && strncasecmp(authorization, "Bearer ", 7) == 0) {
		const char *k = trimmed(authorization + 7, len);
		if (k)
			return k;
	}
	return x_api_key ? trimmed(x_api_key, len) : NULL;
}

int glia_key_well_formed(const char *key, size_t len)
{
	if (len != GLIA_KEY_LEN || strncmp(key, GLIA_KEY_PREFIX, 5) != 0)
		return 0;
	for (size_t i = 5; i < len; i++)
		if (!memchr(base32, key[i], 32) || key[i] == '\0')
			return 0;
	return 1;
}

/* SHA256() fetches the algorithm and allocates a context on every call
 * (OpenSSL 3): about 1 us. One fetched digest and context per thread,
 * reused, take a third of that and allocate nothing per request. */
void glia_key_hash(const char *key, size_t len,
                   unsigned char out[GLIA_KEY_HASH_LEN])
{
	static __thread EVP_MD_CTX *ctx;
	static __thread EVP_MD *md;
	unsigned int n = 0;
	if (!ctx) {
		ctx = EVP_MD_CTX_new();
		md = EVP_MD_fetch(NULL, "SHA256", NULL);
	}
	if (!ctx || !md || EVP_DigestInit_ex(ctx, md, NULL) != 1 ||
	    EVP_DigestUpdate(ctx, key, len) != 1 ||
	    EVP_DigestFinal_ex(ctx, out, &n) != 1)
		SHA256((const unsigned char *)key, len, out);
}

int glia_key_hash_equal(const unsigned char *a, const unsigned char *b)
{
	return CRYPTO_memcmp(a, b, GLIA_KEY_HASH_LEN) == 0;
}

void glia_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int glia_unhex(const char *in, unsigned char *out, size_t n)
{
	if (strlen(in) != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int hi = glia_hex_value(in[2 * i]);
		int lo = glia_hex_value(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

int glia_parse_rate_limit(const char *s, double *rps, int *burst)
{
	char *end;
	if (!*s || strspn(s, "0123456789.") == 0)
		return -1;
	double r = strtod(s, &end);
	if (!(r > 0) || r > 1e6)
		return -1;
	long b = (long)ceil(r);
	if (*end == ':') {
		const char *p = end + 1;
		if (*p < '0' || *p > '9')
			return -1;
		b = strtol(p, &end, 10);
		if (b < 1 || b > 1000000000)
			return -1;
	}
	if (*end)
		return -1;
	*rps = r;
	*burst = (int)b;
	return 0;
}

/* ---- an API's policy ---- */

struct glia_policy {
	int needs_key;
	int has_rate;
	glia_bucket bucket;
	int has_cors;
	int any_origin;   /* "*" among allow_origins */
	int any_header;   /* "*" among allow_headers */
	char **origins;   /* allow_origins without "*" */
	size_t n_origins;
	char **headers;   /* allow_headers without "*" */
	size_t n_headers;
	char *methods;    /* "GET, POST" */
	char *headers_line; /* "Content-Type, Authorization, ..." */
	char *expose;     /* "X-Request-ID, ..." or NULL */
	long max_age;     /* -1: none */
};

/* "a, b, c" of the items other than "*"; malloc'd. */
static char *joined(char **v, size_t n)
{
	glia_buf b;
	glia_buf_init(&b, 0);
	glia_buf_puts(&b, "");
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i], "*") == 0)
			continue;
		glia_buf_printf(&b, "%s%s", b.len ? ", " : "", v[i]);
	}
	return b.data;
}

/* The items other than "*", copied; *star set when "*" is among them. */
static char **copy_list(char **v, size_t n, size_t *out_n, int *star)
{
	char **out = glia_calloc(n ? n : 1, sizeof(char *));
	*out_n = 0;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i], "*") == 0)
			*star = 1;
		else
			out[(*out_n)++] = glia_strdup(v[i]);
	}
	return out;
}

static void set_cors(glia_policy *p, const glia_cors_spec *cs)
{
	p->has_cors = 1;
	p->origins = copy_list(cs->allow_origins, cs->n_allow_origins,
	                       &p->n_origins, &p->any_origin);
	p->headers = copy_list(cs->allow_headers, cs->n_allow_headers,
	                       &p->n_headers, &p->any_header);
	p->methods = joined(cs->allow_methods, cs->n_allow_methods);
	p->headers_line = joined(cs->allow_headers, cs->n_allow_headers);
	p->expose = cs->n_expose_headers
	                ? joined(cs->expose_headers, cs->n_expose_headers)
	                : NULL;
	p->max_age = (long)cs->max_age_s;
}

glia_policy *glia_policy_new(const glia_policy_spec *spec, double now)
{
	if (!spec->auth_api_key && !(spec->rate_rps > 0) && !spec->cors.set)
		return NULL;
	glia_policy *p = glia_calloc(1, sizeof *p);
	p->needs_key = spec->auth_api_key;
	if (spec->rate_rps > 0) {
		p->has_rate = 1;
		glia_bucket_init(&p->bucket, spec->rate_rps,
		                 spec->rate_burst > 0 ? spec->rate_burst : 1, now);
	}
	if (spec->cors.set)
		set_cors(p, &spec->cors);
	return p;
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void glia_policy_free(glia_policy *p)
{
	if (!p)
		return;
	free_list(p->origins, p->n_origins);
	free_list(p->headers, p->n_headers);
	free(p->methods);
	free(p->headers_line);
	free(p->expose);
	free(p);
}

int glia_policy_needs_key(const glia_policy *p)
{
	return p && p->needs_key;
}

double glia_policy_take(glia_policy *p, double now)
{
	return p && p->has_rate ? glia_bucket_take(&p->bucket, now) : 0;
}

void glia_policy_refund(glia_policy *p)
{
	if (p && p->has_rate)
		glia_bucket_refund(&p->bucket);
}

void glia_policy_rate_text(const glia_policy *p, char *out, size_t n)
{
	if (!p || !p->has_rate) {
		snprintf(out, n, "%s", "");
		return;
	}
	snprintf(out, n, "%g requests/s, burst %g", p->bucket.rate,
	         p->bucket.burst);
}

int glia_policy_has_cors(const glia_policy *p)
{
	return p && p->has_cors;
}

static int origin_listed(const glia_policy *p, const char *origin)
{
	for (size_t i = 0; i < p->n_origins; i++)
		if (strcasecmp(p->origins[i], origin) == 0)
			return 1;
	return 0;
}

/* The Access-Control-Allow-Origin value for origin, or NULL. */
static const char *allowed_origin(const glia_policy *p, const char *origin)
{
	if (!origin || !*origin)
		return NULL;
	if (p->any_origin)
		return "*";
	if (strlen(origin) > GLIA_CORS_ORIGIN_LEN || !origin_listed(p, origin))
		return NULL;
	return origin;
}

void glia_cors_response_headers(const glia_policy *p, const char *origin,
                                char *out, size_t n)
{
	out[0] = '\0';
	if (!glia_policy_has_cors(p))
		return;
	const char *allow = allowed_origin(p, origin);
	if (!allow) {
		snprintf(out, n, "Vary: Origin\r\n");
		return;
	}
	int len = snprintf(out, n,
	                   "Access-Control-Allow-Origin: %s\r\nVary: Origin\r\n",
	                   allow);
	if (p->expose && len > 0 && (size_t)len < n)
		snprintf(out + len, n - (size_t)len,
		         "Access-Control-Expose-Headers: %s\r\n", p->expose);
}

static int header_listed(const glia_policy *p, const char *name, size_t len)
{
	for (size_t i = 0; i < p->n_headers; i++)
		if (strlen(p->headers[i]) == len &&
		    strncasecmp(p->headers[i], name, len) == 0)
			return 1;
	return 0;
}

static int method_listed(const glia_policy *p, const char *method)
{
	size_t n = strlen(method);
	for (const char *m = p->methods; *m;) {
		size_t len = strcspn(m, ",");
		if (len == n && strncasecmp(m, method, n) == 0)
			return 1;
		m += len;
		m += strspn(m, ", ");
	}
	return 0;
}

/* Every name of the comma-separated list is allowed; the first that is
 * not is copied into why. */
static int headers_allowed(const glia_policy *p, const char *list, char *why,
                           size_t whylen)
{
	if (p->any_header || !list)
		return 1;
	for (const char *h = list; *h;) {
		h += strspn(h, " \t,");
		size_t len = strcspn(h, ", \t");
		if (len && !header_listed(p, h, len)) {
			snprintf(why, whylen,
			         "CORS preflight: header %.*s is not allowed "
			         "(networking.cors.allow_headers)",
			         len > 64 ? 64 : (int)len, h);
			return 0;
		}
		h += len;
	}
	return 1;
}

/* What Access-Control-Allow-Headers says: the list, or with "*" the
 * requested names (the wildcard does not cover Authorization). */
static void allow_headers_line(const glia_policy *p, const char *req_headers,
                               glia_buf *out)
{
	const char *v = p->headers_line;
	if (p->any_header && req_headers && *skip_spaces(req_headers) &&
	    strlen(req_headers) <= 2048)
		v = skip_spaces(req_headers);
	if (*v)
		glia_buf_printf(out, "Access-Control-Allow-Headers: %s\r\n", v);
}

int glia_cors_preflight(const glia_policy *p, const char *origin,
                        const char *method, const char *req_headers,
                        glia_buf *out, char *why, size_t whylen)
{
	const char *allow = allowed_origin(p, origin);
	if (!allow) {
		snprintf(why, whylen,
		         "CORS preflight: origin %.200s is not allowed "
		         "(networking.cors.allow_origins)",
		         origin);
		return -1;
	}
	if (!method_listed(p, method)) {
		snprintf(why, whylen,
		         "CORS preflight: method %.32s is not allowed "
		         "(networking.cors.allow_methods: %s)",
		         method, p->methods);
		return -1;
	}
	if (!headers_allowed(p, req_headers, why, whylen))
		return -1;
	glia_buf_printf(out,
	                "Access-Control-Allow-Origin: %s\r\nVary: Origin\r\n"
	                "Access-Control-Allow-Methods: %s\r\n",
	                allow, p->methods);
	allow_headers_line(p, req_headers, out);
	if (p->max_age >= 0)
		glia_buf_printf(out, "Access-Control-Max-Age: %ld\r\n",
		                p->max_age);
	return 0;
}
