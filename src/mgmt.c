/* mgmt.c: see mgmt.h. */
#include "mgmt.h"

#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "httpd.h"
#include "pyruntime.h"
#include "util.h"

#define DEPLOY_MAX_BYTES (8u << 20)
#define MGMT_MAX_CONNS   128 /* within httpd's descriptor reserve */
#define MGMT_MAX_BUFFERED (64u << 20) /* request bytes at once: 8 deploys */
#define LOGS_MAX_BYTES (32u << 20)
#define SOCKET_CHECK_MS 2000

struct glia_mgmt {
	uv_loop_t *loop;
	glia_httpd *httpd;
	glia_httpd *stale; /* on a deleted socket, until its clients leave */
	uv_timer_t *sock_timer; /* checks that the socket is still there */
	dev_t sock_dev;         /* the socket file this daemon made */
	ino_t sock_ino;
	int sock_warned;        /* "cannot be made again" logged */
	glia_httpd *admin; /* TCP, token required; NULL when not asked for */
	char *token;
	glia_supervisor *sup;
	glia_logs *logs;
	char *socket_path;
	char *home;
	char *gateway_url;
	void (*on_shutdown)(void *);
	struct glia_keyring *keys;
	glia_store *store;
	void *arg;
	/* The deploy whose runtime check runs (one at a time: later changes
	 * wait for it in `waiting`), or NULL. */
	struct pending_deploy *pending;
	/* Changes that came while a deploy's runtime check ran: made in
	 * order once it is done, so that changes apply as they came. */
	struct waiting *waiting, *waiting_tail;
};

/* A change (a request other than GET) held while a deploy is checked. Its
 * message stays valid: the connection is busy until answered. */
typedef struct waiting {
	glia_mgmt *m;
	glia_httpd_conn *c;
	const glia_http_msg *msg;
	struct waiting *next;
} waiting;

static void on_request(glia_httpd_conn *c, const glia_http_msg *msg,
		       void *data);

/* A deploy waiting for its Python runtime check (pyruntime.h): answered
 * from the check's callback; the connection stays busy meanwhile. */
typedef struct pending_deploy {
	glia_mgmt *m;
	glia_httpd_conn *c; /* NULL once the client went away */
	glia_api_spec *specs;
	size_t n;
	char *project_dir;
	char *path;
	glia_pyruntime_check *check;
} pending_deploy;

/* Answers j (consumed) as JSON. */
void glia_mgmt_send_json(glia_httpd_conn *c, int status, json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT);
	glia_httpd_respond(c, status, "application/json", text, strlen(text),
			   NULL);
	free(text);
	json_decref(j);
}

static void handle_info(glia_mgmt *m, glia_httpd_conn *c)
{
	glia_mgmt_send_json(c, 200,
		  json_pack("{s:s, s:i, s:s, s:s}", "version", GLIA_VERSION,
			    "pid", (int)getpid(), "home", m->home, "gateway",
			    m->gateway_url));
}

/* The deploy once the specs passed the runtime check: the supervisor
 * takes specs. The answer goes to c (NULL: the client went away, the
 * answer is dropped; the deploy is still made). */
static void deploy_specs(glia_mgmt *m, glia_httpd_conn *c,
			 glia_api_spec *specs, size_t n,
			 const char *project_dir, const char *path)
{
	char err[1024];
	int status = 409;
	json_t *res = glia_supervisor_deploy(m->sup, specs, n, project_dir,
					     path, err, sizeof err, &status);
	if (!c) {
		json_decref(res);
		return;
	}
	if (!res) {
		glia_httpd_respond_error(c, status, err, NULL);
		return;
	}
	glia_mgmt_send_json(c, 200, res);
}

static void pending_free(pending_deploy *pd)
{
	free(pd->project_dir);
	free(pd->path);
	free(pd);
}

static void deploy_client_gone(glia_httpd_conn *c, void *owner)
{
	pending_deploy *pd = owner;
	(void)c;
	pd->c = NULL;
}

static void waiting_unlink(waiting *w)
{
	glia_mgmt *m = w->m;
	waiting *prev = NULL;
	for (waiting **pp = &m->waiting; *pp; prev = *pp, pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			if (m->waiting_tail == w)
				m->waiting_tail = prev;
			return;
		}
	}
}

static void waiting_client_gone(glia_httpd_conn *c, void *owner)
{
	(void)c;
	waiting_unlink(owner);
	free(owner);
}

/* Holds the change msg until no deploy is being checked; 1 when held. */
static int hold_change(glia_mgmt *m, glia_httpd_conn *c,
		       const glia_http_msg *msg)
{
	if (!m->pending || strcmp(msg->method, "GET") == 0 ||
	    strcmp(msg->path, "/v1/shutdown") == 0)
		return 0;
	waiting *w = glia_calloc(1, sizeof *w);
	w->m = m;
	w->c = c;
	w->msg = msg;
	if (m->waiting_tail)
		m->waiting_tail->next = w;
	else
		m->waiting = w;
	m->waiting_tail = w;
	glia_httpd_set_owner(c, waiting_client_gone, w);
	return 1;
}

/* After a check: the held changes, in order, until one is a deploy that
 * is checked in turn. */
static void run_held_changes(glia_mgmt *m)
{
	while (m->waiting && !m->pending) {
		waiting *w = m->waiting;
		waiting_unlink(w);
		glia_httpd_set_owner(w->c, NULL, NULL);
		on_request(w->c, w->msg, m);
		free(w);
	}
}

static void deploy_checked(const char *err, void *arg)
{
	pending_deploy *pd = arg;
	glia_httpd_conn *c = pd->c;
	pd->m->pending = NULL;
	if (c)
		glia_httpd_set_owner(c, NULL, NULL);
	if (err) {
		if (c)
			glia_httpd_respond_error(c, 400, err, NULL);
		glia_api_specs_free(pd->specs, pd->n);
	} else {
		deploy_specs(pd->m, c, pd->specs, pd->n, pd->project_dir,
			     pd->path);
	}
	glia_mgmt *m = pd->m;
	pending_free(pd);
	run_held_changes(m);
}

/* Parses the deploy body: {"path": abs path, "content": yaml}. APIs of
 * type tensorflow or onnx are answered once the runtime check has run
 * (the loop goes on serving meanwhile). */
static void handle_deploy(glia_mgmt *m, glia_httpd_conn *c,
			  const glia_http_msg *msg)
{
	json_error_t jerr;
	json_t *body = json_loadb(msg->body, msg->body_len, 0, &jerr);
	const char *path = NULL, *content = NULL;
	size_t content_len = 0;
	if (body) {
		path = json_string_value(json_object_get(body, "path"));
		json_t *cj = json_object_get(body, "content");
		content = json_string_value(cj);
		content_len = json_string_length(cj);
	}
	if (!path || !content || path[0] != '/') {
		glia_httpd_respond_error(
			c, 400,
			"deploy needs {\"path\": absolute path, \"content\": "
			"YAML text}",
			NULL);
		json_decref(body);
		return;
	}
	char *dir_copy = glia_strdup(path), *base_copy = glia_strdup(path);
	const char *project_dir = dirname(dir_copy);
	const char *name = basename(base_copy);
	glia_api_spec *specs = NULL;
	size_t n = 0;
	glia_config_error cerr;
	memset(&cerr, 0, sizeof cerr);
	if (glia_config_parse(content, content_len, name, project_dir, &specs,
			      &n, &cerr) < 0) {
		glia_httpd_respond_error(c, 400, cerr.message, NULL);
		goto out;
	}
	pending_deploy *pd = glia_calloc(1, sizeof *pd);
	pd->check = glia_pyruntime_check_start(m->loop, specs, n, project_dir,
					       deploy_checked, pd);
	if (!pd->check) { /* no API needs a runtime */
		free(pd);
		deploy_specs(m, c, specs, n, project_dir, path);
		goto out;
	}
	pd->m = m;
	pd->c = c;
	pd->specs = specs;
	pd->n = n;
	pd->project_dir = glia_strdup(project_dir);
	pd->path = glia_strdup(path);
	m->pending = pd;
	glia_httpd_set_owner(c, deploy_client_gone, pd);
out:
	free(dir_copy);
	free(base_copy);
	json_decref(body);
}

static long query_long(const char *query, const char *key, long dflt)
{
	size_t klen = strlen(key);
	for (const char *p = query; p && *p;) {
		if (strncmp(p, key, klen) == 0 && p[klen] == '=')
			return strtol(p + klen + 1, NULL, 10);
		p = strchr(p, '&');
		if (p)
			p++;
	}
	return dflt;
}

/* Copies the value of key from the query into out (decoded). */
static int query_str(const char *query, const char *key, char *out,
		     size_t n)
{
	size_t klen = strlen(key);
	for (const char *p = query; p && *p;) {
		if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
			const char *v = p + klen + 1;
			size_t len = strcspn(v, "&");
			glia_buf b;
			glia_buf_init(&b, n - 1);
			int rc = glia_url_decode(&b, v, len, 1);
			if (rc == 0 && b.data)
				snprintf(out, n, "%s", b.data);
			glia_buf_free(&b);
			return rc == 0 && len > 0;
		}
		p = strchr(p, '&');
		if (p)
			p++;
	}
	return 0;
}

static void handle_logs(glia_mgmt *m, glia_httpd_conn *c,
			const glia_http_msg *msg, const char *api)
{
	long tail = query_long(msg->query, "tail", -1);
	int follow = query_long(msg->query, "follow", 0) != 0;
	char replica[128];
	const char *rep = query_str(msg->query, "replica", replica,
				    sizeof replica)
				  ? replica
				  : NULL;
	char format[16];
	glia_log_format fmt = GLIA_LOG_TEXT;
	if (query_str(msg->query, "format", format, sizeof format)) {
		if (strcmp(format, "json") == 0) {
			fmt = GLIA_LOG_JSON;
		} else if (strcmp(format, "text") != 0) {
			glia_httpd_respond_error(
				c, 400, "format must be text or json", NULL);
			return;
		}
	}
	const char *ctype = fmt == GLIA_LOG_JSON
				    ? "application/x-ndjson; charset=utf-8"
				    : "text/plain; charset=utf-8";
	glia_buf out;
	glia_buf_init(&out, LOGS_MAX_BYTES);
	glia_logs_read_fmt(m->logs, api, rep, tail, fmt, &out);
	if (!follow) {
		glia_httpd_respond(c, 200, ctype, out.data ? out.data : "",
				   out.len, NULL);
	} else {
		glia_httpd_stream_begin(c, 200, ctype);
		glia_httpd_stream_write(c, out.data ? out.data : "", out.len);
		glia_logs_follow_fmt(m->logs, c, api, rep, fmt);
	}
	glia_buf_free(&out);
}

static void not_found(glia_httpd_conn *c, const char *api)
{
	char msg[256];
	snprintf(msg, sizeof msg, "api '%s' not found", api);
	glia_httpd_respond_error(c, 404, msg, NULL);
}

static void handle_delete(glia_mgmt *m, glia_httpd_conn *c,
			  const glia_http_msg *msg, const char *name)
{
	char why[1024];
	int rc = glia_supervisor_delete(m->sup, name,
					query_long(msg->query, "force", 0) != 0);
	if (rc == -2) {
		const char *user = glia_supervisor_splitter_using(m->sup, name);
		snprintf(why, sizeof why,
			 "API %s is used by TrafficSplitter %s; delete or "
			 "change that first",
			 name, user ? user : "?");
		glia_httpd_respond_error(c, 409, why, NULL);
	} else if (rc == -3) {
		int status = glia_supervisor_save_error(m->sup, why, sizeof why);
		glia_httpd_respond_error(c, status, why, NULL);
	} else {
		glia_mgmt_send_json(c, 200, json_pack("{s:s, s:s}", "name", name,
					    "result", "deleted"));
	}
}

/* Routes /v1/apis/NAME[/ACTION]. */
static void handle_api_path(glia_mgmt *m, glia_httpd_conn *c,
			    const glia_http_msg *msg, const char *rest)
{
	char name[128];
	const char *slash = strchr(rest, '/');
	size_t len = slash ? (size_t)(slash - rest) : strlen(rest);
	if (len == 0 || len >= sizeof name) {
		glia_httpd_respond_error(c, 404, "no such route", NULL);
		return;
	}
	memcpy(name, rest, len);
	name[len] = '\0';
	const char *action = slash ? slash + 1 : "";
	int get = strcmp(msg->method, "GET") == 0;
	if (!glia_supervisor_has_api(m->sup, name)) {
		not_found(c, name);
		return;
	}
	if (*action == '\0' && get) {
		glia_mgmt_send_json(c, 200, glia_supervisor_get(m->sup, name));
	} else if (*action == '\0' && strcmp(msg->method, "DELETE") == 0) {
		handle_delete(m, c, msg, name);
	} else if (strcmp(action, "refresh") == 0 &&
		   strcmp(msg->method, "POST") == 0) {
		glia_supervisor_refresh(m->sup, name);
		glia_mgmt_send_json(c, 200, json_pack("{s:s, s:s}", "name", name,
					    "result", "refreshing"));
	} else if (strcmp(action, "logs") == 0 && get) {
		handle_logs(m, c, msg, name);
	} else {
		glia_httpd_respond_error(c, 404, "no such route", NULL);
	}
}

/* Constant-time comparison, so the token cannot be guessed by timing. */
static int token_matches(const char *given, const char *token)
{
	size_t n = strlen(token);
	if (!given || strlen(given) != n)
		return 0;
	unsigned char diff = 0;
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(given[i] ^ token[i]);
	return diff == 0;
}

/* Over TCP every call needs the bearer token; the Unix socket is guarded
 * by its file mode. */
#define UNAUTHORIZED "missing or wrong bearer token (see GLIA_HOME/token)"
#define AUTHENTICATE "WWW-Authenticate: Bearer\r\n"

static int token_ok(glia_mgmt *m, glia_httpd_conn *c, const glia_http_msg *msg)
{
	if (strcmp(glia_httpd_peer(c), "unix") == 0)
		return 1;
	const char *auth = glia_http_msg_header(msg, "Authorization");
	return auth && strncasecmp(auth, "Bearer ", 7) == 0 &&
	       token_matches(auth + 7, m->token);
}

/* The token is checked on the head, before a byte of the body is read:
 * a client without it cannot make the daemon hold a body (401, then the
 * connection closes). */
static int check_head(glia_httpd_conn *c, const glia_http_msg *head,
		      void *data, glia_httpd_refusal *r)
{
	if (token_ok(data, c, head))
		return 0;
	r->status = 401;
	r->message = UNAUTHORIZED;
	r->extra_headers = AUTHENTICATE;
	return 1;
}

static int authorized(glia_mgmt *m, glia_httpd_conn *c,
		      const glia_http_msg *msg)
{
	if (token_ok(m, c, msg))
		return 1;
	glia_httpd_respond_error(c, 401, UNAUTHORIZED, AUTHENTICATE);
	return 0;
}

static void on_request(glia_httpd_conn *c, const glia_http_msg *msg,
		       void *data)
{
	glia_mgmt *m = data;
	if (!authorized(m, c, msg) || hold_change(m, c, msg))
		return;
	const char *path = msg->path;
	int get = strcmp(msg->method, "GET") == 0;
	int post = strcmp(msg->method, "POST") == 0;
	if (strcmp(path, "/v1/info") == 0 && get) {
		handle_info(m, c);
	} else if (strcmp(path, "/v1/deploy") == 0 && post) {
		handle_deploy(m, c, msg);
	} else if (strcmp(path, "/v1/apis") == 0 && get) {
		glia_mgmt_send_json(c, 200, glia_supervisor_list(m->sup));
	} else if (strncmp(path, "/v1/apis/", 9) == 0) {
		handle_api_path(m, c, msg, path + 9);
	} else if (glia_mgmt_keys_route(m->keys, m->store, c, msg)) {
		/* /v1/keys..., answered */
	} else if (strcmp(path, "/v1/shutdown") == 0 && post) {
		glia_mgmt_send_json(c, 200, json_pack("{s:s}", "result", "stopping"));
		if (m->on_shutdown)
			m->on_shutdown(m->arg);
	} else {
		glia_httpd_respond_error(c, 404, "no such route", NULL);
	}
}

static const glia_http_limits MGMT_LIMITS = {64 * 1024, DEPLOY_MAX_BYTES};
static const glia_httpd_conn_limits MGMT_CONN_LIMITS = {
    .max_conns = MGMT_MAX_CONNS, .max_buffered = MGMT_MAX_BUFFERED};

/* The Unix socket, listening, its file remembered (so that only it is
 * removed at the end). NULL with err filled. */
static glia_httpd *listen_socket(glia_mgmt *m, char *err, size_t errlen)
{
	glia_httpd *h = glia_httpd_listen_unix(m->loop, m->socket_path,
	                                       &MGMT_LIMITS, on_request, m,
	                                       err, errlen);
	if (!h)
		return NULL;
	glia_httpd_set_conn_limits(h, &MGMT_CONN_LIMITS);
	struct stat st;
	if (lstat(m->socket_path, &st) == 0) {
		m->sock_dev = st.st_dev;
		m->sock_ino = st.st_ino;
	}
	return h;
}

/* True while the socket file is the one this daemon made. */
static int socket_is_ours(const glia_mgmt *m)
{
	struct stat st;
	return lstat(m->socket_path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	       st.st_dev == m->sock_dev && st.st_ino == m->sock_ino;
}

/* Every SOCKET_CHECK_MS: a deleted glia.sock (a cleanup script, a careless
 * rm) is made again, so that the CLI finds the daemon; the old listener
 * stays for the connections it has. A path that holds something else is
 * left alone (`glia down` still finds the daemon by daemon.lock). */
static void socket_check_cb(uv_timer_t *t)
{
	glia_mgmt *m = t->data;
	struct stat st;
	if (m->stale && glia_httpd_conn_count(m->stale) == 0) {
		glia_httpd_close(m->stale);
		m->stale = NULL;
	}
	if (lstat(m->socket_path, &st) == 0 || errno != ENOENT)
		return;
	char err[512];
	glia_httpd *h = listen_socket(m, err, sizeof err);
	if (!h) {
		if (!m->sock_warned) /* once, not every SOCKET_CHECK_MS */
			glia_log(GLIA_LOG_WARN, "%s was deleted and cannot be "
			                        "made again: %s",
			         m->socket_path, err);
		m->sock_warned = 1;
		return;
	}
	m->sock_warned = 0;
	if (m->stale)
		glia_httpd_close(m->stale);
	m->stale = m->httpd;
	m->httpd = h;
	glia_log(GLIA_LOG_WARN, "%s was deleted; listening on it again",
	         m->socket_path);
}

static void timer_free_cb(uv_handle_t *h)
{
	free(h);
}

glia_mgmt *glia_mgmt_new(uv_loop_t *loop, glia_supervisor *sup,
			 glia_logs *logs, const glia_mgmt_options *opt,
			 char *err, size_t errlen)
{
	glia_mgmt *m = glia_calloc(1, sizeof *m);
	m->loop = loop;
	m->sup = sup;
	m->logs = logs;
	m->socket_path = glia_strdup(opt->socket_path);
	m->home = glia_strdup(opt->home);
	m->gateway_url = glia_strdup(opt->gateway_url);
	m->on_shutdown = opt->on_shutdown;
	m->keys = opt->keys;
	m->store = opt->store;
	m->arg = opt->arg;
	m->token = glia_strdup(opt->token ? opt->token : "");
	m->httpd = listen_socket(m, err, errlen);
	if (m->httpd && opt->admin_host) {
		m->admin = glia_httpd_listen_tcp(loop, opt->admin_host,
						 opt->admin_port, &MGMT_LIMITS,
						 on_request, m, err, errlen);
		if (!m->admin) {
			glia_httpd_close(m->httpd);
			m->httpd = NULL;
		}
	}
	if (m->admin) {
		glia_httpd_set_conn_limits(m->admin, &MGMT_CONN_LIMITS);
		glia_httpd_set_head_cb(m->admin, check_head);
	}
	if (!m->httpd) {
		free(m->token);
		free(m->socket_path);
		free(m->home);
		free(m->gateway_url);
		free(m);
		return NULL;
	}
	m->sock_timer = glia_calloc(1, sizeof *m->sock_timer);
	uv_timer_init(loop, m->sock_timer);
	m->sock_timer->data = m;
	uv_timer_start(m->sock_timer, socket_check_cb, SOCKET_CHECK_MS,
	               SOCKET_CHECK_MS);
	return m;
}

void glia_mgmt_close(glia_mgmt *m)
{
	/* a deploy still checked: not made, not answered (its connection
	 * closes with the servers below) */
	pending_deploy *pd = m->pending;
	if (pd) {
		m->pending = NULL;
		if (pd->c)
			glia_httpd_set_owner(pd->c, NULL, NULL);
		glia_pyruntime_check_cancel(pd->check);
		glia_api_specs_free(pd->specs, pd->n);
		pending_free(pd);
	}
	while (m->waiting) { /* held changes: not made either */
		waiting *w = m->waiting;
		m->waiting = w->next;
		glia_httpd_set_owner(w->c, NULL, NULL);
		free(w);
	}
	m->waiting_tail = NULL;
	uv_close((uv_handle_t *)m->sock_timer, timer_free_cb);
	glia_httpd_close(m->httpd);
	if (m->stale)
		glia_httpd_close(m->stale);
	if (m->admin)
		glia_httpd_close(m->admin);
	free(m->token);
	if (socket_is_ours(m))
		unlink(m->socket_path);
	free(m->socket_path);
	free(m->home);
	free(m->gateway_url);
	free(m);
}
