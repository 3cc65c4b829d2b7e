/* gateway_policy.c: the gateway's side of policy.h (docs/http.md,
 * "Policy"). Before a request for an API is queued, gw_policy_admit runs
 * the API's checks in order: a CORS preflight is answered here (204, or
 * 403 for an origin, method or header not allowed); then the API key
 * (401 without a valid one, 403 for a key scoped to another API); then a
 * token from the key's bucket and the API's (429 with Retry-After). Each
 * refusal is counted for glia_rejected_requests_total and written to the
 * access log. What the checks leave for the answer (CORS lines) waits in
 * gw->cors_now for gw_route_request, and then in the request. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "gateway_int.h"
#include "keys.h"
#include "logs.h"
#include "policy.h"
#include "util.h"

#define POLICY_EXTRA_MAX (REQUEST_ID_MAX + 128 + GLIA_CORS_LINES_MAX)

/* An access line for an answer the policy gave itself. */
static void policy_access_line(glia_route *r, glia_httpd_conn *c,
                               const glia_http_msg *m, const char *id,
                               int status, size_t bytes)
{
	static greq q; /* only the fields gw_access_line reads */
	snprintf(q.method, sizeof q.method, "%s", m->method);
	snprintf(q.path, sizeof q.path, "%s", m->path);
	snprintf(q.peer, sizeof q.peer, "%s", glia_httpd_peer(c));
	snprintf(q.id, sizeof q.id, "%s", id);
	gw_access_line(r, &q, status, bytes, 0);
}

/* Answers {"error": msg} with the request id, the CORS lines and more. */
static void refuse(glia_gateway *gw, glia_httpd_conn *c,
                   const glia_http_msg *m, glia_route *r, const char *id,
                   int status, const char *msg, const char *more)
{
	char extra[POLICY_EXTRA_MAX];
	gw_id_header(extra, sizeof extra, id);
	snprintf(extra + strlen(extra), sizeof extra - strlen(extra), "%s%s",
	         gw->cors_now, more ? more : "");
	gw_account(r, status, glia_now(), id, msg, strlen(msg));
	policy_access_line(r, c, m, id, status, strlen(msg));
	glia_httpd_respond_error(c, status, msg, extra);
}

static int is_preflight(const glia_http_msg *m)
{
	return strcmp(m->method, "OPTIONS") == 0 &&
	       glia_http_msg_header(m, "Origin") &&
	       glia_http_msg_header(m, "Access-Control-Request-Method");
}

/* 204 with the Access-Control-* lines, or 403 saying what is not
 * allowed. No key is needed and no token taken: browsers send no
 * credentials with a preflight. */
static void answer_preflight(glia_gateway *gw, glia_httpd_conn *c,
                             const glia_http_msg *m, glia_route *r,
                             const char *id)
{
	char why[400];
	glia_buf lines;
	glia_buf_init(&lines, 0);
	gw_id_header(why, sizeof why, id);
	glia_buf_puts(&lines, why);
	int rc = glia_cors_preflight(
	    r->policy, glia_http_msg_header(m, "Origin"),
	    glia_http_msg_header(m, "Access-Control-Request-Method"),
	    glia_http_msg_header(m, "Access-Control-Request-Headers"), &lines,
	    why, sizeof why);
	if (rc == 0) { /* 204 has no Content-Length (RFC 9110 8.6) */
		glia_buf *out = glia_httpd_out(c);
		glia_buf_reset(out);
		glia_buf_puts(out, "HTTP/1.1 204 No Content\r\n");
		glia_buf_puts(out, lines.data);
		glia_buf_puts(out, "\r\n");
		glia_httpd_finish(c, 1);
		policy_access_line(r, c, m, id, 204, 0);
	} else {
		char extra[REQUEST_ID_MAX + 64];
		gw_id_header(extra, sizeof extra, id);
		strcat(extra, "Vary: Origin\r\n");
		glia_httpd_respond_error(c, 403, why, extra);
		policy_access_line(r, c, m, id, 403, strlen(why));
	}
	glia_buf_free(&lines);
}

/* The request's key when the API needs one: NULL after answering 401 or
 * 403. */
static glia_key *check_key(glia_gateway *gw, glia_httpd_conn *c,
                           const glia_http_msg *m, glia_route *r,
                           const char *id)
{
	static const char challenge[] = "WWW-Authenticate: Bearer\r\n";
	char msg[300];
	size_t len = 0;
	const char *text =
	    glia_key_from_headers(glia_http_msg_header(m, "Authorization"),
	                          glia_http_msg_header(m, "X-API-Key"), &len);
	glia_key *key = text && gw->keys
	                    ? glia_keyring_match(gw->keys, text, len)
	                    : NULL;
	r->stats.rejected_unauthorized += !key || (key->api &&
	                                           strcmp(key->api,
	                                                  r->api_name) != 0);
	if (!text) {
		refuse(gw, c, m, r, id, 401,
		       "missing API key: send \"Authorization: Bearer KEY\" or "
		       "\"X-API-Key: KEY\" (glia keys create)",
		       challenge);
		return NULL;
	}
	if (!key) {
		refuse(gw, c, m, r, id, 401, "invalid API key", challenge);
		return NULL;
	}
	if (key->api && strcmp(key->api, r->api_name) != 0) {
		snprintf(msg, sizeof msg,
		         "API key %s is not valid for API %.64s", key->id,
		         r->api_name);
		refuse(gw, c, m, r, id, 403, msg, NULL);
		return NULL;
	}
	return key;
}

static void refuse_rate(glia_gateway *gw, glia_httpd_conn *c,
                        const glia_http_msg *m, glia_route *r,
                        const char *id, const char *whose, double wait)
{
	char msg[300], more[64];
	long after = glia_retry_after_s(wait);
	r->stats.rejected_rate_limited++;
	snprintf(msg, sizeof msg, "rate limit exceeded (%s); retry in %lds",
	         whose, after);
	snprintf(more, sizeof more, "Retry-After: %ld\r\n", after);
	refuse(gw, c, m, r, id, 429, msg, more);
}

/* A token from the key's bucket, then from the API's (the key's is given
 * back when the API's is empty). 0 after answering 429. */
static int take_tokens(glia_gateway *gw, glia_httpd_conn *c,
                       const glia_http_msg *m, glia_route *r, const char *id,
                       glia_key *key)
{
	char whose[256], rate[96];
	double now = glia_now(), wait;
	if (key && key->rate_rps > 0 &&
	    (wait = glia_bucket_take(&key->bucket, now)) > 0) {
		snprintf(whose, sizeof whose, "key %s: %g requests/s, burst %d",
		         key->id, key->rate_rps, key->rate_burst);
		refuse_rate(gw, c, m, r, id, whose, wait);
		return 0;
	}
	wait = glia_policy_take(r->policy, now);
	if (wait > 0) {
		if (key && key->rate_rps > 0)
			glia_bucket_refund(&key->bucket);
		glia_policy_rate_text(r->policy, rate, sizeof rate);
		snprintf(whose, sizeof whose, "API %.64s: %s", r->api_name,
		         rate);
		refuse_rate(gw, c, m, r, id, whose, wait);
		return 0;
	}
	return 1;
}

int gw_policy_admit(glia_gateway *gw, glia_httpd_conn *c,
                    const glia_http_msg *m, glia_route *r, const char *id)
{
	gw->cors_now[0] = '\0';
	if (!r->policy)
		return 1;
	glia_cors_response_headers(r->policy, glia_http_msg_header(m, "Origin"),
	                           gw->cors_now, sizeof gw->cors_now);
	if (glia_policy_has_cors(r->policy) && is_preflight(m)) {
		answer_preflight(gw, c, m, r, id);
		return 0;
	}
	glia_key *key = NULL;
	if (glia_policy_needs_key(r->policy)) {
		key = check_key(gw, c, m, r, id);
		if (!key)
			return 0;
	}
	if (!take_tokens(gw, c, m, r, id, key))
		return 0;
	if (key) {
		key->last_used = glia_wall();
		key->dirty = 1;
	}
	return 1;
}

int gw_policy_hides_header(const glia_route *r, const glia_http_header *h)
{
	if (!glia_policy_needs_key(r->policy))
		return 0;
	if (strcasecmp(h->name, "X-API-Key") == 0)
		return 1;
	return strcasecmp(h->name, "Authorization") == 0 &&
	       h->value_len >= 7 && strncasecmp(h->value, "Bearer ", 7) == 0;
}

void gw_policy_apply(glia_route *r, const glia_api_spec *sp)
{
	glia_policy_free(r->policy);
	r->policy = glia_policy_new(&sp->networking.policy, glia_now());
}

void glia_gateway_set_keyring(glia_gateway *gw, struct glia_keyring *k)
{
	gw->keys = k;
}
