/* policy.h: what the gateway decides about a request before it queues it
 * (SPEC section 3: networking.auth, rate_limit, cors; docs/http.md,
 * "Policy"): the order is CORS preflight -> API key -> rate limit.
 *
 * Pure: no sockets, no clocks (time is an argument). The pieces:
 *   - a token bucket (glia_bucket), for an API's and a key's rate limit;
 *   - API keys as text: generating one, finding it in a request's headers,
 *     hashing it (SHA-256) and comparing hashes in constant time;
 *   - an API's policy (glia_policy): built from its spec, it holds the
 *     API's bucket and answers CORS questions. */
#ifndef GLIA_POLICY_H
#define GLIA_POLICY_H

#include <stddef.h>

#include "config.h"
#include "util.h"

/* ---- token bucket ---- */

/* rate tokens a second up to burst; starts full. */
typedef struct glia_bucket {
	double rate, burst;
	double tokens;
	double last; /* time of the last refill, seconds */
} glia_bucket;

void glia_bucket_init(glia_bucket *b, double rate, double burst, double now);
/* Takes one token at time now: returns 0 when granted, else the seconds
 * until a token is there (nothing taken). A clock that goes back counts
 * as no time passing. */
double glia_bucket_take(glia_bucket *b, double now);
/* Gives back a token taken (a later check refused the request). */
void glia_bucket_refund(glia_bucket *b);
/* Retry-After for a wait: whole seconds, rounded up, at least 1. */
long glia_retry_after_s(double wait);

/* ---- API keys ---- */

#define GLIA_KEY_PREFIX   "glia_"
#define GLIA_KEY_BYTES    32                  /* random bytes in a key */
#define GLIA_KEY_LEN      (5 + 52)            /* prefix + base32 of them */
#define GLIA_KEY_HASH_LEN 32                  /* SHA-256 */
#define GLIA_KEY_ID_LEN   12                  /* hex characters */

/* A new key: "glia_" and 32 bytes from getrandom in base32 (lower case,
 * no padding), NUL-terminated in out. 0, or -1 when no randomness. */
int glia_key_generate(char out[GLIA_KEY_LEN + 1]);
/* A new key id: 12 hex characters. 0 or -1. */
int glia_key_id_generate(char out[GLIA_KEY_ID_LEN + 1]);
/* The key a request carries: "Authorization: Bearer KEY" (scheme in any
 * case), else "X-API-Key: KEY"; either header may be NULL. Returns a
 * pointer into one of them with *len set, or NULL when neither has one. */
const char *glia_key_from_headers(const char *authorization,
                                  const char *x_api_key, size_t *len);
/* 1 when key has the shape glia_key_generate makes. */
int glia_key_well_formed(const char *key, size_t len);
/* SHA-256 of the key's bytes. */
void glia_key_hash(const char *key, size_t len,
                   unsigned char out[GLIA_KEY_HASH_LEN]);
/* 1 when the hashes are equal; takes the same time whatever they hold. */
int glia_key_hash_equal(const unsigned char *a, const unsigned char *b);
/* Lower-case hex of n bytes into out (2n + 1 bytes). */
void glia_hex(const unsigned char *in, size_t n, char *out);
/* Exactly 2n hex digits into n bytes. 0 or -1. */
int glia_unhex(const char *in, unsigned char *out, size_t n);
/* "RPS" or "RPS:BURST" (RPS > 0, BURST >= 1, default ceil(RPS)). 0 or -1. */
int glia_parse_rate_limit(const char *s, double *rps, int *burst);

/* ---- an API's policy ---- */

typedef struct glia_policy glia_policy;

/* Copies what it needs from spec; the bucket starts full at now. NULL
 * when the spec asks for nothing (no auth, no rate limit, no CORS). */
glia_policy *glia_policy_new(const glia_policy_spec *spec, double now);
void glia_policy_free(glia_policy *p);
int glia_policy_needs_key(const glia_policy *p);
/* The API's rate limit: as glia_bucket_take; 0 when it has none. */
double glia_policy_take(glia_policy *p, double now);
void glia_policy_refund(glia_policy *p);
/* "2 requests/s, burst 5" for messages ("" when no limit). */
void glia_policy_rate_text(const glia_policy *p, char *out, size_t n);
/* 1 when the API has networking.cors. */
int glia_policy_has_cors(const glia_policy *p);

/* Longest text glia_cors_response_headers writes (with its NUL). */
#define GLIA_CORS_LINES_MAX                                                    \
	(GLIA_CORS_ORIGIN_LEN + 64 +                                           \
	 GLIA_CORS_EXPOSE_MAX * (GLIA_CORS_HEADER_LEN + 2) + 64)

/* The header lines of an answer to a request from origin (NULL: none):
 * with CORS, "Vary: Origin", and for an allowed origin
 * Access-Control-Allow-Origin (the origin, or * when every origin is) and
 * Access-Control-Expose-Headers; "" without CORS. */
void glia_cors_response_headers(const glia_policy *p, const char *origin,
                                char *out, size_t n);
/* A preflight (OPTIONS with Origin and Access-Control-Request-Method):
 * 0 with the answer's header lines appended to out when origin, method
 * and every requested header (comma-separated, may be NULL) are allowed;
 * -1 with why filled (and nothing appended) otherwise. */
int glia_cors_preflight(const glia_policy *p, const char *origin,
                        const char *method, const char *req_headers,
                        glia_buf *out, char *why, size_t whylen);

#endif
