/* echo.c: the smallest C predictor. Answers every request with its own
 * body and Content-Type (include/glia/predictor.h). The body is glia's
 * memory, valid until glia has written the answer, so nothing is copied
 * and nothing needs freeing. */
#include <glia/predictor.h>

int glia_predictor_abi_version(void)
{
	return GLIA_PREDICTOR_ABI_VERSION;
}

void *glia_predictor_init(const char *config_json, char *err, size_t errlen)
{
	static int state; /* any non-NULL pointer means "ready" */

	(void)config_json, (void)err, (void)errlen;
	return &state;
}

int glia_predictor_predict(void *state, const glia_request *req,
                           glia_response *resp)
{
	(void)state;
	resp->content_type = req->content_type;
	resp->body = req->body;
	resp->body_len = req->body_len;
	return 0;
}

void glia_predictor_free_response(void *state, glia_response *resp)
{
	(void)state, (void)resp;
}

void glia_predictor_free(void *state)
{
	(void)state;
}
