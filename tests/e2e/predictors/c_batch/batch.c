/* A C predictor with glia_predictor_predict_batch, for
 * tests/e2e/test_c_predictor.py: each answer is
 * {"n": <batch size>, "i": <index in the batch>, "echo": "<request body>"};
 * a batch holding a request whose body contains "fail" fails as a whole.
 * predict (one request) answers the same with n 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glia/predictor.h>

int glia_predictor_abi_version(void)
{
	return GLIA_PREDICTOR_ABI_VERSION;
}

void *glia_predictor_init(const char *config_json, char *err, size_t errlen)
{
	static int state;
	(void)config_json;
	(void)err;
	(void)errlen;
	return &state;
}

/* The body is echoed as a JSON string: the tests send letters, digits
 * and '-' only. */
static void answer(glia_response *resp, const glia_request *req, size_t n,
		   size_t i)
{
	size_t cap = req->body_len + 64;
	char *out = malloc(cap);
	int len = snprintf(out, cap, "{\"n\": %zu, \"i\": %zu, \"echo\": \"%.*s\"}",
			   n, i, (int)req->body_len, req->body);
	resp->body = out;
	resp->body_len = (size_t)len;
	resp->user = out;
}

int glia_predictor_predict(void *state, const glia_request *req,
			   glia_response *resp)
{
	(void)state;
	answer(resp, req, 1, 0);
	return 0;
}

int glia_predictor_predict_batch(void *state, const glia_request *reqs,
				 glia_response *resps, size_t n)
{
	(void)state;
	for (size_t i = 0; i < n; i++) {
		if (memmem(reqs[i].body, reqs[i].body_len, "fail", 4)) {
			resps[0].body = "batch refused: a request asked to fail";
			resps[0].body_len = strlen(resps[0].body);
			return 1;
		}
	}
	for (size_t i = 0; i < n; i++)
		answer(&resps[i], &reqs[i], n, i);
	return 0;
}

void glia_predictor_free_response(void *state, glia_response *resp)
{
	(void)state;
	free(resp->user);
}

void glia_predictor_free(void *state)
{
	(void)state;
}
