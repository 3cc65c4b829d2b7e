/* contract.c: a C predictor for tests/e2e/test_c_predictor.py. What it does
 * is chosen by the request: the JSON payload's "do" (else "describe").
 *
 *   describe    200 JSON of everything glia passed in the glia_request
 *   config      200 the config JSON init got, as given
 *   stats       200 {"predicts": n, "frees": n}: free_response calls so far
 *   fail        return 1 with the payload's "message" as the error text
 *   fail_empty  return 1 with no body
 *   status      the payload's "status" as the HTTP status
 *   headers     the payload's "lines" as resp->headers
 *   null_body   body NULL with body_len 5 (a predictor bug)
 *   sleep       nanosleep for the payload's "seconds", then 200 "slept"
 *   crash       a segfault
 *
 * init fails with config's "fail_init" as the reason when it is set.
 * Built three ways (Makefile): as is, with -DCONTRACT_ABI=99 (a wrong ABI
 * version) and with -DOMIT_FREE_RESPONSE (a missing symbol). */
#include <glia/predictor.h>

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef CONTRACT_ABI
#define CONTRACT_ABI GLIA_PREDICTOR_ABI_VERSION
#endif

typedef struct state {
	char *config;
	atomic_long predicts;
	atomic_long frees;
} state;

int glia_predictor_abi_version(void)
{
	return CONTRACT_ABI;
}

void *glia_predictor_init(const char *config_json, char *err, size_t errlen)
{
	json_t *config = json_loads(config_json, 0, NULL);
	const char *fail =
	    json_string_value(json_object_get(config, "fail_init"));
	state *s = NULL;

	fprintf(stderr, "contract: init with %s\n", config_json);
	if (!config) {
		snprintf(err, errlen, "config is not JSON: %s", config_json);
	} else if (fail) {
		snprintf(err, errlen, "%s", fail);
	} else {
		s = calloc(1, sizeof(*s));
		s->config = strdup(config_json);
	}
	json_decref(config);
	return s;
}

/* Answers with a malloc'd copy of text (if any), freed in free_response. */
static void answer_text(glia_response *resp, const char *text)
{
	char *copy = text ? strdup(text) : NULL;

	if (!copy)
		return;

	resp->body = copy;
	resp->body_len = strlen(copy);
	resp->user = copy;
}

static void answer_json(glia_response *resp, json_t *value)
{
	char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);

	json_decref(value);
	if (!text) {
		answer_text(resp, "cannot encode the answer");
		return;
	}

	resp->body = text;
	resp->body_len = strlen(text);
	resp->user = text;
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static void describe(const glia_request *req, glia_response *resp)
{
	json_t *headers = json_array();

	for (size_t i = 0; i < req->n_headers; i++)
		json_array_append_new(headers,
		                      json_pack("[ss]", req->header_names[i],
		                                req->header_values[i]));
	answer_json(
	    resp, json_pack("{s:s, s:s, s:s, s:o, s:s, s:s%, s:o}", "method",
	                    req->method, "path", req->path, "query", req->query,
	                    "content_type", str_or_null(req->content_type),
	                    "request_id", req->request_id, "body", req->body,
	                    req->body_len, "headers", headers));
}

static void sleep_for(double seconds)
{
	struct timespec ts;

	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0)
		;
}

static int act(state *s, const char *what, json_t *payload,
               const glia_request *req, glia_response *resp)
{
	if (strcmp(what, "config") == 0) {
		answer_text(resp, s->config);
	} else if (strcmp(what, "stats") == 0) {
		answer_json(resp, json_pack("{s:I, s:I}", "predicts",
		                            (json_int_t)s->predicts, "frees",
		                            (json_int_t)s->frees));
	} else if (strcmp(what, "fail") == 0) {
		answer_text(resp, json_string_value(
		                      json_object_get(payload, "message")));
		return 1;
	} else if (strcmp(what, "fail_empty") == 0) {
		return -1;
	} else if (strcmp(what, "status") == 0) {
		resp->status =
		    (int)json_integer_value(json_object_get(payload, "status"));
		answer_text(resp, "s");
	} else if (strcmp(what, "headers") == 0) {
		const char *given =
		    json_string_value(json_object_get(payload, "lines"));
		char *h = given ? strdup(given) : NULL;

		resp->headers = h;
		resp->content_type = "text/x-contract";
		resp->user = h;
	} else if (strcmp(what, "null_body") == 0) {
		resp->body_len = 5;
	} else if (strcmp(what, "sleep") == 0) {
		sleep_for(
		    json_number_value(json_object_get(payload, "seconds")));
		resp->content_type = "text/plain";
		answer_text(resp, "slept");
	} else if (strcmp(what, "crash") == 0) {
		*(volatile int *)NULL = 1;
	} else {
		describe(req, resp);
	}
	return 0;
}

int glia_predictor_predict(void *st, const glia_request *req,
                           glia_response *resp)
{
	state *s = st;
	json_t *payload = json_loadb(req->body, req->body_len, 0, NULL);
	const char *what = json_string_value(json_object_get(payload, "do"));
	int rc;

	atomic_fetch_add(&s->predicts, 1);
	if (resp->status != 200 || resp->content_type || resp->body ||
	    resp->body_len || resp->headers || resp->user) {
		answer_text(resp, "glia did not preset the response");
		return 1;
	}
	rc = act(s, what ? what : "describe", payload, req, resp);
	json_decref(payload);
	return rc;
}

#ifndef OMIT_FREE_RESPONSE
void glia_predictor_free_response(void *st, glia_response *resp)
{
	state *s = st;

	atomic_fetch_add(&s->frees, 1);
	free(resp->user);
}
#endif

void glia_predictor_free(void *st)
{
	state *s = st;

	fprintf(stderr, "contract: free after %ld predicts\n",
	        (long)s->predicts);
	free(s->config);
	free(s);
}
