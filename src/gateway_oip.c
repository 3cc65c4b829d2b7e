/* gateway_oip.c: the inference protocol routes of the gateway
 * (docs/protocols.md): Open Inference Protocol V2 under /v2 and TF Serving
 * / KServe V1 under /v1/models. A model name is an API name, or
 * <api>.<model>. Health and readiness are answered here; infer, metadata
 * and predict go to a replica with X-Glia-Protocol naming what the worker
 * must decode. */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "gateway_int.h"
#include "util.h"

/* ---- inference protocols (docs/protocols.md) ----------------------------
 * Open Inference Protocol V2 under /v2 and TF Serving / KServe V1 under
 * /v1/models. A model name is an API name, or <api>.<model>. Health and
 * readiness are answered here; infer, metadata and predict go to a replica
 * with X-Glia-Protocol naming what the worker must decode. */

static glia_route *route_by_model(glia_gateway *gw, const char *model)
{
	size_t n = strcspn(model, ".");
	for (glia_route *r = gw->routes; r; r = r->next_route)
		if (strlen(r->api_name) == n &&
		    strncmp(r->api_name, model, n) == 0)
			return r;
	return NULL;
}

/* The route serving model, or NULL after answering (404, or what the
 * API's policy answered: a preflight, 401, 403, 429). */
static glia_route *route_or_404(glia_gateway *gw, glia_httpd_conn *c,
                                const glia_http_msg *m, const char *model,
                                const char *id)
{
	glia_route *r = route_by_model(gw, model);
	if (!r) {
		char msg[200];
		snprintf(msg, sizeof msg, "model '%s' not found", model);
		gw_respond_err(c, 404, msg, id);
		return NULL;
	}
	return gw_policy_admit(gw, c, m, r, id) ? r : NULL;
}

/* Model names and versions: letters, digits, '.', '_' and '-' only (they
 * are echoed into JSON and headers). */
static int safe_name(const char *s)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
			return 0;
	return 1;
}

/* A model path "<m>[/versions/<v>]<tail>" split in place into its parts;
 * model and version are copied (bounded). 0, or -1 when malformed. */
static int split_model_path(const char *p, char *model, size_t mlen,
                            char *version, size_t vlen, const char **tail,
                            const char *stops)
{
	size_t n = strcspn(p, stops);
	if (n == 0 || n >= mlen)
		return -1;
	memcpy(model, p, n);
	model[n] = '\0';
	p += n;
	version[0] = '\0';
	if (strncmp(p, "/versions/", 10) == 0) {
		p += 10;
		n = strcspn(p, stops);
		if (n == 0 || n >= vlen)
			return -1;
		memcpy(version, p, n);
		version[n] = '\0';
		p += n;
	}
	*tail = p;
	return safe_name(model) && safe_name(version) ? 0 : -1;
}

static void forward_protocol(glia_gateway *gw, glia_httpd_conn *c,
                             const glia_http_msg *m, glia_route *r,
                             const char *protocol, const char *method,
                             const char *model, const char *version,
                             const char *id)
{
	if (r->n_split) { /* a TrafficSplitter: one of its APIs answers */
		r = gw_split_target_route(gw, c, r, id);
		if (!r)
			return;
	}
	char extra[512];
	int n = snprintf(extra, sizeof extra,
	                 "X-Glia-Protocol: %s\r\nX-Glia-Model: %s\r\n",
	                 protocol, model);
	if (*version && n > 0 && (size_t)n < sizeof extra)
		snprintf(extra + n, sizeof extra - (size_t)n,
		         "X-Glia-Model-Version: %s\r\n", version);
	forward f = {"/", method, extra};
	if (r->passthrough) /* a command server speaks the protocol itself */
		f.path = m->path;
	gw_route_request(gw, c, m, r, &f, id);
}

static void respond_value(glia_httpd_conn *c, int status, json_t *v,
                          const char *id)
{
	char *text = json_dumps(v, JSON_COMPACT);
	gw_respond_json(c, status, text ? text : "{}", id);
	free(text);
	json_decref(v);
}

/* POST /v2/repository/index {"ready": bool}? and
 * POST /v2/repository/models/<m>/load|unload. */
static void handle_repository(glia_gateway *gw, glia_httpd_conn *c,
                              const glia_http_msg *m, const char *id)
{
	const char *p = m->path + strlen("/v2/repository");
	char model[128], version[64];
	const char *tail;
	int status = 404;
	if (strcmp(m->method, "POST") != 0 || !gw->repository_cb) {
		gw_respond_err(c, 404, "no such OIP route", id);
		return;
	}
	if (strcmp(p, "/index") == 0) {
		json_t *body = m->body_len
		                   ? json_loadb(m->body, m->body_len, 0, NULL)
		                   : json_object();
		if (!json_is_object(body)) {
			json_decref(body);
			gw_respond_err(c, 400,
			               "the index request must be a JSON "
			               "object like {\"ready\": true}",
			               id);
			return;
		}
		int ready = json_is_true(json_object_get(body, "ready"));
		json_decref(body);
		json_t *v = gw->repository_cb(gw->repository_arg, "index", NULL,
		                              ready, &status);
		respond_value(c, status, v, id);
		return;
	}
	if (strncmp(p, "/models/", 8) != 0 ||
	    split_model_path(p + 8, model, sizeof model, version,
	                     sizeof version, &tail, "/") < 0 ||
	    (strcmp(tail, "/load") != 0 && strcmp(tail, "/unload") != 0)) {
		gw_respond_err(c, 404, "no such OIP route", id);
		return;
	}
	json_t *v =
	    gw->repository_cb(gw->repository_arg, tail + 1, model, 0, &status);
	respond_value(c, status, v, id);
}

void gw_handle_v2(glia_gateway *gw, glia_httpd_conn *c, const glia_http_msg *m,
                  const char *id)
{
	const char *p = m->path;
	int get = strcmp(m->method, "GET") == 0;
	if (strcmp(p, "/v2") == 0 && get) {
		gw_respond_json(c, 200,
		                "{\"name\":\"glia\",\"version\":\"" GLIA_VERSION
		                "\",\"extensions\":[\"binary_tensor_data\","
		                "\"model_repository\"]}",
		                id);
		return;
	}
	if (strncmp(p, "/v2/repository/", 15) == 0) {
		handle_repository(gw, c, m, id);
		return;
	}
	if (strcmp(p, "/v2/health/live") == 0 && get) {
		gw_respond_json(c, 200, "{\"live\":true}", id);
		return;
	}
	if (strcmp(p, "/v2/health/ready") == 0 && get) {
		gw_respond_json(c, 200, "{\"ready\":true}", id);
		return;
	}
	char model[128], version[64], msg[300];
	const char *tail;
	if (strncmp(p, "/v2/models/", 11) != 0 ||
	    split_model_path(p + 11, model, sizeof model, version,
	                     sizeof version, &tail, "/") < 0) {
		gw_respond_err(c, 404, "no such OIP route", id);
		return;
	}
	glia_route *r = route_or_404(gw, c, m, model, id);
	if (!r)
		return;
	if (strcmp(tail, "/ready") == 0 && get) {
		int ready = gw_route_ready(gw, r);
		snprintf(msg, sizeof msg, "{\"name\":\"%s\",\"ready\":%s}",
		         model, ready ? "true" : "false");
		gw_respond_json(c, ready ? 200 : 400, msg, id);
	} else if (strcmp(tail, "/infer") == 0 &&
	           strcmp(m->method, "POST") == 0) {
		forward_protocol(gw, c, m, r, "v2-infer", NULL, model, version,
		                 id);
	} else if (*tail == '\0' && get) {
		forward_protocol(gw, c, m, r, "v2-metadata", "GET", model,
		                 version, id);
	} else {
		gw_respond_err(c, 404, "no such OIP route", id);
	}
}

void gw_handle_v1(glia_gateway *gw, glia_httpd_conn *c, const glia_http_msg *m,
                  const char *id)
{
	char model[128], version[64], msg[400];
	const char *tail;
	if (split_model_path(m->path + 11, model, sizeof model, version,
	                     sizeof version, &tail, "/:") < 0) {
		gw_respond_err(c, 404, "no such V1 route", id);
		return;
	}
	glia_route *r = route_or_404(gw, c, m, model, id);
	if (!r)
		return;
	if (strcmp(tail, ":predict") == 0 && strcmp(m->method, "POST") == 0) {
		forward_protocol(gw, c, m, r, "v1-predict", NULL, model,
		                 version, id);
	} else if (*tail == '\0' && strcmp(m->method, "GET") == 0) {
		int ready = gw_has_backend(r);
		snprintf(msg, sizeof msg,
		         "{\"model_version_status\":[{\"version\":\"%s\","
		         "\"state\":\"%s\",\"status\":{\"error_code\":"
		         "\"OK\",\"error_message\":\"\"}}]}",
		         *version ? version : "1",
		         ready ? "AVAILABLE" : "UNAVAILABLE");
		gw_respond_json(c, 200, msg, id);
	} else {
		gw_respond_err(c, 404, "no such V1 route", id);
	}
}