/* mgmt.h: the management API (docs/management-api.md) on the Unix socket
 * GLIA_HOME/glia.sock. Maps each route onto the supervisor and logs. */
#ifndef GLIA_MGMT_H
#define GLIA_MGMT_H

#include <jansson.h>
#include <uv.h>

#include "logs.h"
#include "supervisor.h"

typedef struct glia_mgmt glia_mgmt;

typedef struct glia_mgmt_options {
	const char *socket_path;
	const char *home;
	const char *gateway_url;
	void (*on_shutdown)(void *arg); /* POST /v1/shutdown */
	void *arg;
	/* --admin-listen: also serve on TCP, where every call must carry
	 * "Authorization: Bearer <token>" (token from GLIA_HOME/token). */
	const char *admin_host; /* NULL: Unix socket only */
	int admin_port;
	const char *token;
	/* API keys: POST/GET /v1/keys, DELETE /v1/keys/ID (NULL: 404) */
	struct glia_keyring *keys;
	glia_store *store;
} glia_mgmt_options;

glia_mgmt *glia_mgmt_new(uv_loop_t *loop, glia_supervisor *sup,
			 glia_logs *logs, const glia_mgmt_options *opt,
			 char *err, size_t errlen);
void glia_mgmt_close(glia_mgmt *m);

/* Answers j as JSON with status, and releases j. */
struct glia_httpd_conn;
void glia_mgmt_send_json(struct glia_httpd_conn *c, int status, json_t *j);

/* mgmt_keys.c: answers POST /v1/keys, GET /v1/keys, GET
 * /v1/keys/export and DELETE /v1/keys/ID (docs/management-api.md) and
 * returns 1; 0 for any other path. keys NULL: 404 for them. */
struct glia_httpd_conn;
int glia_mgmt_keys_route(struct glia_keyring *keys, glia_store *st,
			 struct glia_httpd_conn *c, const glia_http_msg *msg);

#endif
