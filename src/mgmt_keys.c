/* mgmt_keys.c: the management API's /v1/keys routes (mgmt.h,
 * docs/management-api.md), over keys.h: a key is written to state.db
 * before it is shown, and removed from it before a revoke is answered. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd.h"
#include "keys.h"
#include "mgmt.h"
#include "util.h"

/* An API name as config.c takes it: [a-z]([-a-z0-9]*[a-z0-9])?. */
static int api_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > GLIA_API_NAME_MAX || s[0] < 'a' || s[0] > 'z' ||
	    s[n - 1] == '-')
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

/* {"api"?: NAME, "name"?: LABEL, "rate_limit"?: {"requests_per_second",
 * "burst"?}} -> the fields, or -1 with why. */
static int create_args(json_t *body, const char **api, const char **name,
                       double *rps, int *burst, char *why, size_t n)
{
	json_t *rate = NULL;
	json_error_t je;
	*api = NULL;
	*name = "";
	*rps = 0;
	*burst = 0;
	if (!json_is_object(body) ||
	    json_unpack_ex(body, &je, JSON_STRICT, "{s?s, s?s, s?o}", "api",
	                   api, "name", name, "rate_limit", &rate) < 0) {
		snprintf(why, n, "a key is {\"api\"?: NAME, \"name\"?: LABEL, "
		                 "\"rate_limit\"?: {\"requests_per_second\", "
		                 "\"burst\"}}");
		return -1;
	}
	if (*api && !api_name_ok(*api)) {
		snprintf(why, n, "api: \"%.64s\" is not an API name", *api);
		return -1;
	}
	if (!rate || json_is_null(rate))
		return 0;
	*burst = -1;
	if (json_unpack(rate, "{s:F, s?i}", "requests_per_second", rps,
	                "burst", burst) < 0 ||
	    !(*rps > 0) || *rps > 1e6 || (*burst != -1 && *burst < 1)) {
		snprintf(why, n, "rate_limit: requests_per_second must be a "
		                 "number > 0 and <= 1000000, burst an integer "
		                 ">= 1");
		return -1;
	}
	if (*burst == -1)
		*burst = (int)(*rps + 0.999999);
	return 0;
}

static void create_key(glia_keyring *keys, glia_store *st, glia_httpd_conn *c,
                       const glia_http_msg *msg)
{
	json_t *body = json_loadb(msg->body, msg->body_len, 0, NULL);
	const char *api, *name;
	double rps;
	int burst;
	char why[300], key[GLIA_KEY_LEN + 1];
	json_t *info = NULL;
	if (create_args(body, &api, &name, &rps, &burst, why, sizeof why) <
	    0) {
		glia_httpd_respond_error(c, 400, why, NULL);
		goto out;
	}
	if (glia_keys_create(keys, st, api, name, rps, burst, key, &info, why,
	                     sizeof why) < 0) {
		glia_httpd_respond_error(c, strncmp(why, "name", 4) ? 500 : 400,
		                         why, NULL);
		goto out;
	}
	json_object_set_new(info, "key", json_string(key));
	memset(key, 0, sizeof key);
	glia_mgmt_send_json(c, 201, info);
out:
	json_decref(body);
}

static void revoke_key(glia_keyring *keys, glia_store *st, glia_httpd_conn *c,
                       const char *id)
{
	char why[200];
	int rc = strlen(id) == GLIA_KEY_ID_LEN ? glia_keys_revoke(keys, st, id)
	                                       : 1;
	if (rc == 1) {
		snprintf(why, sizeof why, "no API key with id \"%.32s\"", id);
		glia_httpd_respond_error(c, 404, why, NULL);
	} else if (rc < 0) {
		glia_httpd_respond_error(c, 500,
		                         "the key could not be removed from "
		                         "state.db (see the daemon's log); it "
		                         "still works",
		                         NULL);
	} else {
		glia_mgmt_send_json(c, 200, json_pack("{s:s, s:s}", "id", id, "result",
		                            "revoked"));
	}
}

int glia_mgmt_keys_route(glia_keyring *keys, glia_store *st,
                         glia_httpd_conn *c, const glia_http_msg *msg)
{
	const char *path = msg->path;
	int get = strcmp(msg->method, "GET") == 0;
	if (strcmp(path, "/v1/keys") != 0 && strncmp(path, "/v1/keys/", 9) != 0)
		return 0;
	if (!keys || !st) {
		glia_httpd_respond_error(c, 404, "no API keys here", NULL);
	} else if (strcmp(path, "/v1/keys") == 0 && get) {
		glia_mgmt_send_json(c, 200,
		          json_pack("{s:o}", "keys", glia_keyring_json(keys, 0)));
	} else if (strcmp(path, "/v1/keys") == 0 &&
	           strcmp(msg->method, "POST") == 0) {
		create_key(keys, st, c, msg);
	} else if (strcmp(path, "/v1/keys/export") == 0 && get) {
		glia_mgmt_send_json(c, 200,
		          json_pack("{s:o}", "keys", glia_keyring_json(keys, 1)));
	} else if (strcmp(msg->method, "DELETE") == 0 && path[9]) {
		revoke_key(keys, st, c, path + 9);
	} else {
		glia_httpd_respond_error(c, 404, "no such route", NULL);
	}
	return 1;
}
