/* worker.c: `glia worker`, one process of a replica (docs/internals.md,
 * "Worker contract"). Loads the predictor (Python through pyhost, C through
 * chost; CPython is never started for a C predictor), then serves HTTP/1.1
 * on a Unix socket with one thread per slot (glia_slots():
 * threads_per_process, and with server_side_batching at least twice
 * max_batch_size). Each thread accepts one connection from the shared
 * listening socket and serves it with blocking I/O until the peer closes
 * it: the gateway opens at most that many connections per worker and sends
 * one request at a time on each, so a thread per connection never
 * oversubscribes. With batching, serving threads queue their request into
 * the batcher (batch.h) and one batch thread calls the predictor; with
 * predictor.models, a watcher thread (watch.h) reloads changed models.
 *
 * Status pipe: fd 3 (when open) gets one line, "ready\n" or
 * "error <reason>\n", and is then closed; with predictor.models it stays
 * open for the runtime's model metrics lines (docs/internals.md).
 * Exit status: 0 after SIGTERM or SIGINT, 2 on a usage error, 3 when the
 * worker could not start. */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "batch.h"
#include "chost.h"
#include "config.h"
#include "http.h"
#include "pyhost.h"
#include "util.h"
#include "watch.h"

#define STATUS_FD         3
#define EXIT_USAGE        2
#define EXIT_START_FAILED 3
#define SPEC_MAX_BYTES    (16u << 20)
#define MAX_HEADER_BYTES  (64u << 10)
#define DEFAULT_MAX_BODY  ((size_t)32 << 20)
#define READ_CHUNK        (64u << 10)
#define LINGER_MS         2000 /* draining input after an error answer */
#define LISTEN_BACKLOG    128
#define MAX_THREADS       1024
/* A response buffer grown beyond this is freed after use. */
#define KEEP_BUF_BYTES ((size_t)4 << 20)

typedef struct worker_opts {
	const char *spec_path;
	const char *project_dir;
	const char *socket_path;
	const char *replica_id;
} worker_opts;

/* What the worker reads from the spec itself; Python reads the rest. */
typedef struct worker_spec {
	char *text; /* the whole JSON, handed to Python */
	json_t *root;
	int threads;
	int max_batch;            /* server_side_batching; 0: none */
	int64_t batch_interval_ms;
	int has_models;           /* predictor.models set */
	int slots;                /* serving threads: glia_slots() */
	int is_c;         /* predictor.type c */
	const char *path; /* predictor.path, in root */
} worker_spec;

/* One serving thread and the connection it holds (fd -1 when none). */
typedef struct server {
	pthread_t tid;
	int fd;
	int started;
} server;

/* Per-thread state reused across connections and requests. */
typedef struct conn_ctx {
	glia_http_parser *parser;
	char *rbuf;
	glia_buf head;
	glia_buf extra;
	glia_pyhost_resp resp;
	glia_chost_call call;
	glia_batch_item item;          /* server_side_batching */
	const glia_pyhost_req *batch_req; /* this thread's, while queued */
	double batch_took;             /* its batch's predict time */
	const char *names[GLIA_HTTP_MAX_HEADERS];
	const char *values[GLIA_HTTP_MAX_HEADERS];
} conn_ctx;

/* One answer as either host gave it; the pointers stay valid until the
 * host's finish call. */
typedef struct reply {
	int status;
	const char *content_type; /* NULL: send none */
	const char *body;
	size_t body_len;
	const glia_buf *extra_headers; /* "Name: value\r\n" lines */
	const char *error; /* non-NULL: answer status {"error": error} */
} reply;

static int status_fd = -1;
static int listen_fd = -1;
static int signal_pipe[2] = {-1, -1};
static atomic_int stopping;
static size_t max_body = DEFAULT_MAX_BODY;
static server *servers;
static int n_servers;
static pthread_mutex_t servers_lock = PTHREAD_MUTEX_INITIALIZER;
static glia_chost *chost; /* the C predictor; NULL when serving Python */
static glia_batcher *batcher; /* server_side_batching; NULL without */
static glia_watch *watcher;   /* predictor.models; NULL without */
static const glia_pyhost_req **batch_reqs; /* the batch thread's arrays */
static glia_pyhost_resp **batch_resps;
static glia_request *batch_creqs;
static glia_chost_call **batch_calls;

/* --- status pipe and startup errors ----------------------------------- */

/* fd 3 is ours only if it was open before we opened anything. */
static void probe_status_fd(void)
{
	int flags = fcntl(STATUS_FD, F_GETFD);

	if (flags < 0)
		return;
	fcntl(STATUS_FD, F_SETFD, flags | FD_CLOEXEC);
	status_fd = STATUS_FD;
}

/* Writes one line; the pipe is then closed unless the Python runtime
 * goes on using it (model metrics: keep_status_fd). */
static int keep_status_fd;

static void status_line(const char *word, const char *msg)
{
	char *line;

	if (status_fd < 0)
		return;
	line = msg ? glia_sprintf("%s %s\n", word, msg)
	           : glia_sprintf("%s\n", word);
	for (char *p = line; msg && p[1]; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	glia_write_all(status_fd, line, strlen(line));
	free(line);
	if (keep_status_fd && strcmp(word, "ready") == 0) {
		/* from now on a full pipe drops metrics lines, never blocks */
		fcntl(status_fd, F_SETFL,
		      fcntl(status_fd, F_GETFL) | O_NONBLOCK);
		return;
	}
	close(status_fd);
	status_fd = -1;
}

/* Reports a startup failure on stderr and fd 3; returns the exit status. */
static int __attribute__((format(printf, 2, 3)))
start_failed(int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "glia worker: %s\n", msg);
	status_line("error", msg);
	return status;
}

/* --- arguments and spec ----------------------------------------------- */

static int parse_args(int argc, char **argv, worker_opts *o)
{
	static const struct option longopts[] = {
	    {"spec", required_argument, NULL, 's'},
	    {"project-dir", required_argument, NULL, 'p'},
	    {"socket", required_argument, NULL, 'S'},
	    {"replica", required_argument, NULL, 'r'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->replica_id = "0";
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 's')
			o->spec_path = optarg;
		else if (c == 'p')
			o->project_dir = optarg;
		else if (c == 'S')
			o->socket_path = optarg;
		else if (c == 'r')
			o->replica_id = optarg;
		else
			return -1;
	}
	if (optind != argc || !o->spec_path || !o->project_dir ||
	    !o->socket_path)
		return -1;
	return 0;
}

/* server_side_batching: {"max_batch_size": n, "batch_interval": "10ms"}
 * or null. */
static int read_batching(json_t *b, worker_spec *spec)
{
	json_t *size, *interval;

	if (!b || json_is_null(b))
		return 0;
	size = json_object_get(b, "max_batch_size");
	interval = json_object_get(b, "batch_interval");
	if (!json_is_integer(size) || json_integer_value(size) < 2 ||
	    json_integer_value(size) > 1024 || !json_is_string(interval) ||
	    glia_parse_duration_ms(json_string_value(interval),
	                           &spec->batch_interval_ms) < 0)
		return -1;
	spec->max_batch = (int)json_integer_value(size);
	return 0;
}

/* python, tensorflow and onnx predictors are Python classes. */
static int python_type(json_t *type)
{
	static const char *const names[] = {"python", "tensorflow", "onnx"};
	const char *t = json_string_value(type);

	for (size_t i = 0; t && i < sizeof names / sizeof names[0]; i++)
		if (strcmp(t, names[i]) == 0)
			return 1;
	return 0;
}

static int read_spec(const char *path, worker_spec *spec, char *err,
                     size_t errlen)
{
	json_error_t jerr;
	json_t *pred, *type, *threads;

	memset(spec, 0, sizeof(*spec));
	spec->text = glia_read_file(path, SPEC_MAX_BYTES, NULL);
	if (!spec->text) {
		snprintf(err, errlen, "cannot read spec %s: %s", path,
		         strerror(errno));
		return -1;
	}
	spec->root = json_loads(spec->text, 0, &jerr);
	if (!spec->root) {
		snprintf(err, errlen, "spec %s, line %d: %s", path, jerr.line,
		         jerr.text);
		return -1;
	}
	pred = json_object_get(spec->root, "predictor");
	type = json_object_get(pred, "type");
	if (!json_is_object(pred) ||
	    !json_is_string(json_object_get(pred, "path"))) {
		snprintf(err, errlen, "spec %s: predictor.path missing", path);
		return -1;
	}
	spec->path = json_string_value(json_object_get(pred, "path"));
	spec->is_c =
	    json_is_string(type) && strcmp(json_string_value(type), "c") == 0;
	if (type && !spec->is_c && !python_type(type)) {
		snprintf(
		    err, errlen,
		    "spec %s: predictor type %s is not served by glia worker",
		    path, json_is_string(type) ? json_string_value(type) : "?");
		return -1;
	}
	threads = json_object_get(pred, "threads_per_process");
	spec->threads = threads ? (int)json_integer_value(threads) : 1;
	if (spec->threads < 1 || spec->threads > MAX_THREADS) {
		snprintf(err, errlen,
		         "spec %s: threads_per_process must be 1..%d", path,
		         MAX_THREADS);
		return -1;
	}
	if (read_batching(json_object_get(pred, "server_side_batching"),
	                  spec) < 0) {
		snprintf(err, errlen,
		         "spec %s: server_side_batching needs max_batch_size "
		         "2..1024 and a batch_interval",
		         path);
		return -1;
	}
	spec->has_models = json_is_object(json_object_get(pred, "models"));
	spec->slots = glia_slots(spec->threads, spec->max_batch);
	return 0;
}

static void free_spec(worker_spec *spec)
{
	free(spec->text);
	json_decref(spec->root);
}

/* predictor.env, then the variables the Python host relies on. */
static int apply_env(const worker_spec *spec, char *err, size_t errlen)
{
	json_t *env =
	    json_object_get(json_object_get(spec->root, "predictor"), "env");
	const char *key;
	json_t *value;
	const char *max;

	json_object_foreach(env, key, value)
	{
		if (!json_is_string(value) ||
		    setenv(key, json_string_value(value), 1) < 0) {
			snprintf(err, errlen, "predictor.env: cannot set %s",
			         key);
			return -1;
		}
	}
	setenv("PYTHONUNBUFFERED", "1",
	       1); /* for the predictor's subprocesses */
	max = getenv("GLIA_MAX_BODY_BYTES");
	if (max && *max) {
		char *end;
		unsigned long long n = strtoull(max, &end, 10);
		if (*end || n == 0) {
			snprintf(
			    err, errlen,
			    "GLIA_MAX_BODY_BYTES=%s is not a positive integer",
			    max);
			return -1;
		}
		max_body = (size_t)n;
	}
	return 0;
}

/* GLIA_PYTHON_DIR, else beside the binary: <bin>/../python (a checkout's
 * build/), else <bin>/../share/glia/python (`make install`, the .deb).
 * malloc'd. */
static char *python_dir(void)
{
	static const char *const rel[] = {"../python", "../share/glia/python"};
	const char *env = getenv("GLIA_PYTHON_DIR");
	char *exe, real[PATH_MAX];

	if (env && *env)
		return glia_strdup(env);
	exe = glia_exe_dir();
	for (size_t i = 0; i < sizeof(rel) / sizeof(*rel); i++) {
		char *dir = glia_sprintf("%s/%s", exe, rel[i]);
		char *pkg = glia_sprintf("%s/glia/__init__.py", dir);
		int found = access(pkg, R_OK) == 0 && realpath(dir, real);
		free(pkg);
		free(dir);
		if (found) {
			free(exe);
			return glia_strdup(real);
		}
	}
	char *dir = glia_sprintf("%s/%s", exe, rel[0]);
	free(exe);
	return dir;
}

/* The socket path made absolute against the starting directory. */
static char *absolute_path(const char *path)
{
	char cwd[PATH_MAX];

	if (path[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return glia_strdup(path);
	return glia_sprintf("%s/%s", cwd, path);
}

/* --- listening socket ------------------------------------------------- */

static int bind_socket(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un addr;
	int fd = -1;

	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(addr.sun_path)) {
		snprintf(err, errlen,
		         "socket path too long (max %zu bytes): %s",
		         sizeof(addr.sun_path) - 1, path);
		return -1;
	}
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (unlink(path) < 0 && errno != ENOENT)
		goto fail;
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		goto fail;
	if (chmod(path, 0600) < 0 || listen(fd, LISTEN_BACKLOG) < 0)
		goto fail;
	return fd;
fail:
	snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* --- serving ---------------------------------------------------------- */

/* Writes a then b fully (MSG_NOSIGNAL: a gone peer is an error, not a
 * signal). 0 or -1. */
static int send_all(int fd, const char *a, size_t alen, const char *b,
                    size_t blen)
{
	struct iovec iov[2] = {{(void *)a, alen}, {(void *)b, blen}};
	struct msghdr mh;
	int i = 0;

	while (i < 2) {
		ssize_t n;

		if (iov[i].iov_len == 0) {
			i++;
			continue;
		}
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = iov + i;
		mh.msg_iovlen = (size_t)(2 - i);
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		for (size_t left = (size_t)n; left > 0 && i < 2;) {
			size_t step =
			    left < iov[i].iov_len ? left : iov[i].iov_len;
			iov[i].iov_base = (char *)iov[i].iov_base + step;
			iov[i].iov_len -= step;
			left -= step;
			if (iov[i].iov_len == 0)
				i++;
		}
	}
	return 0;
}

static void ctx_init(conn_ctx *c)
{
	glia_http_limits limits = {MAX_HEADER_BYTES, max_body};

	memset(c, 0, sizeof(*c));
	c->parser = glia_http_parser_new(GLIA_HTTP_REQUEST, &limits);
	c->rbuf = glia_malloc(READ_CHUNK);
	glia_buf_init(&c->head, 256 * 1024);
	glia_buf_init(&c->extra, 128 * 1024);
	glia_pyhost_resp_init(&c->resp);
	glia_chost_init_call(&c->call);
	glia_batch_item_init(&c->item);
}

/* Drops a buffer that one big response grew, so idle threads stay small. */
static void trim_buf(glia_buf *b)
{
	size_t max = b->max;

	if (b->cap <= KEEP_BUF_BYTES)
		return;
	glia_buf_free(b);
	glia_buf_init(b, max);
}

static int send_parse_error(conn_ctx *c, int fd)
{
	glia_buf_reset(&c->head);
	if (glia_http_format_error(
	        &c->head, glia_http_parser_error_status(c->parser),
	        glia_http_parser_error_message(c->parser), 0, NULL) < 0)
		return -1;
	return send_all(fd, c->head.data, c->head.len, NULL, 0);
}

/* After an error answer, reads (and drops) what the client is still
 * sending for a short while before the caller closes: closing with unread
 * input would make the client's send fail before it reads the answer. */
static void linger(conn_ctx *c, int fd)
{
	uint64_t end = glia_now_ms() + LINGER_MS;
	uint64_t now;

	shutdown(fd, SHUT_WR);
	while ((now = glia_now_ms()) < end) {
		struct pollfd pfd = {fd, POLLIN, 0};
		int rc = poll(&pfd, 1, (int)(end - now));

		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0 || read(fd, c->rbuf, READ_CHUNK) <= 0)
			return;
	}
}

static void fill_request(conn_ctx *c, const glia_http_msg *m,
                         glia_pyhost_req *req)
{
	for (size_t i = 0; i < m->n_headers; i++) {
		c->names[i] = m->headers[i].name;
		c->values[i] = m->headers[i].value;
	}
	memset(req, 0, sizeof(*req));
	req->method = m->method;
	req->path = m->path;
	req->query = m->query ? m->query : "";
	req->header_names = c->names;
	req->header_values = c->values;
	req->n_headers = m->n_headers;
	req->body = m->body;
	req->body_len = m->body_len;
	req->content_type = glia_http_msg_header(m, "Content-Type");
	req->request_id = glia_http_msg_header(m, "X-Request-ID");
}

/* The request through the public ABI (request_id "" when none). */
static void to_c_request(const glia_pyhost_req *in, glia_request *out)
{
	*out = (glia_request){
	    .method = in->method,
	    .path = in->path,
	    .query = in->query,
	    .content_type = in->content_type,
	    .request_id = in->request_id ? in->request_id : "",
	    .body = in->body,
	    .body_len = in->body_len,
	    .n_headers = in->n_headers,
	    .header_names = in->header_names,
	    .header_values = in->header_values,
	};
}

static void c_batch(glia_batch_item **items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		conn_ctx *c = items[i]->data;
		to_c_request(c->batch_req, &batch_creqs[i]);
		batch_calls[i] = &c->call;
	}
	glia_chost_handle_batch(chost, batch_creqs, batch_calls, n);
}

static void python_batch(glia_batch_item **items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		conn_ctx *c = items[i]->data;
		batch_reqs[i] = c->batch_req;
		batch_resps[i] = &c->resp;
	}
	glia_pyhost_handle_batch(batch_reqs, batch_resps, n);
}

/* The batch thread's side: one predict call for every queued request. */
static void batch_handle(void *ud, glia_batch_item **items, size_t n)
{
	double start = glia_now();
	if (chost)
		c_batch(items, n);
	else
		python_batch(items, n);
	double took = glia_now() - start;
	for (size_t i = 0; i < n; i++)
		((conn_ctx *)items[i]->data)->batch_took = took;
}

static void batch_thread_init(void *ud)
{
	if (!chost)
		glia_pyhost_thread_enter();
}

/* One request alone, or queued into the next batch; *took is the
 * predictor's time (the whole batch's, when batching). */
static void run_predictor(conn_ctx *c, const glia_pyhost_req *req,
                          double *took)
{
	if (batcher) {
		c->batch_req = req;
		c->item.data = c;
		glia_batcher_run(batcher, &c->item);
		*took = c->batch_took;
		return;
	}
	double start = glia_now();
	if (chost) {
		glia_request creq;
		to_c_request(req, &creq);
		glia_chost_handle(chost, &creq, &c->call);
	} else {
		glia_pyhost_handle(req, &c->resp);
	}
	*took = glia_now() - start;
}

/* The answer as the host left it in c. */
static void reply_of(conn_ctx *c, reply *out)
{
	if (chost) {
		glia_chost_call *call = &c->call;
		out->status = call->status;
		out->content_type = call->content_type;
		out->body = call->body;
		out->body_len = call->body_len;
		out->extra_headers = &call->headers;
		out->error = call->error;
		return;
	}
	glia_pyhost_resp *r = &c->resp;
	out->status = r->status;
	out->content_type = r->has_content_type ? r->content_type.data : NULL;
	out->body = r->body.data;
	out->body_len = r->body.len;
	out->extra_headers = &r->extra_headers;
	out->error = NULL;
}

/* After the answer was written: post_predict, or the C free_response. */
static void finish(conn_ctx *c)
{
	if (chost) {
		glia_chost_finish(chost, &c->call);
		return;
	}
	glia_pyhost_finish(&c->resp);
	trim_buf(&c->resp.body);
}

/* The X-Request-ID echo, the time the predictor took (for the gateway's
 * glia_predict_duration_seconds) and the predictor's own lines, in
 * c->extra. */
static int format_extra(conn_ctx *c, const char *request_id, const reply *r,
                        double took)
{
	glia_buf_reset(&c->extra);
	if (request_id &&
	    glia_buf_printf(&c->extra, "X-Request-ID: %s\r\n", request_id) < 0)
		return -1;
	if (glia_buf_printf(&c->extra, "X-Glia-Predict-Time: %.6f\r\n",
	                    took) < 0)
		return -1;
	if (r->extra_headers->len &&
	    glia_buf_append(&c->extra, r->extra_headers->data,
	                    r->extra_headers->len) < 0)
		return -1;
	return 0;
}

/* Formats the head for r into c->head (the whole answer for an error
 * reply). 0 or -1. */
static int format_head(conn_ctx *c, const char *request_id, int keep,
                       const reply *r, double took)
{
	const char *extra;

	glia_buf_reset(&c->head);
	if (format_extra(c, request_id, r, took) < 0)
		return -1;
	extra = c->extra.len ? c->extra.data : NULL;
	if (r->error)
		return glia_http_format_error(&c->head, r->status, r->error,
		                              keep, extra);
	return glia_http_format_response_head(
	    &c->head, r->status, r->content_type, r->body_len, keep, extra);
}

/* Answers one request; 1 to keep the connection, 0 to close it. */
static int answer(conn_ctx *c, int fd, const glia_http_msg *m)
{
	glia_pyhost_req req;
	reply r;
	int keep, rc;
	double took;

	fill_request(c, m, &req);
	run_predictor(c, &req, &took);
	reply_of(c, &r);
	keep = m->keep_alive && !atomic_load(&stopping);
	if (format_head(c, req.request_id, keep, &r, took) < 0) {
		glia_buf_reset(&c->head);
		glia_http_format_error(&c->head, 500,
		                       "response headers too large", 0, NULL);
		rc = send_all(fd, c->head.data, c->head.len, NULL, 0);
		keep = 0;
	} else {
		rc =
		    send_all(fd, c->head.data, c->head.len,
		             r.error ? NULL : r.body, r.error ? 0 : r.body_len);
	}
	finish(c);
	return rc == 0 && keep;
}

/* Serves requests on fd until the peer closes, asks to close, or the
 * worker stops (reads then end: see stop_serving). */
static void serve_conn(conn_ctx *c, int fd)
{
	size_t off = 0, len = 0, used;
	ssize_t n;
	int rc;

	glia_http_parser_reset(c->parser);
	for (;;) {
		if (off == len) {
			n = read(fd, c->rbuf, READ_CHUNK);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return;
			off = 0;
			len = (size_t)n;
		}
		used = 0;
		rc = glia_http_parser_feed(c->parser, c->rbuf + off, len - off,
		                           &used);
		off = rc == GLIA_HTTP_AGAIN ? len : off + used;
		if (rc == GLIA_HTTP_ERROR) {
			if (send_parse_error(c, fd) == 0)
				linger(c, fd);
			return;
		}
		if (rc == GLIA_HTTP_DONE) {
			if (!answer(c, fd, glia_http_parser_msg(c->parser)))
				return;
			glia_http_parser_reset(c->parser);
		}
	}
}

static void set_conn(int idx, int fd)
{
	pthread_mutex_lock(&servers_lock);
	servers[idx].fd = fd;
	if (fd >= 0 && atomic_load(&stopping))
		shutdown(fd, SHUT_RD);
	pthread_mutex_unlock(&servers_lock);
}

static void *server_main(void *arg)
{
	int idx = (int)(intptr_t)arg;
	conn_ctx c;

	ctx_init(&c);
	if (!chost)
		glia_pyhost_thread_enter();
	while (!atomic_load(&stopping)) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (atomic_load(&stopping))
				break;
			if (errno != EINTR && errno != ECONNABORTED)
				usleep(10 *
				       1000); /* EMFILE and friends: back off */
			continue;
		}
		set_conn(idx, fd);
		serve_conn(&c, fd);
		set_conn(idx, -1);
		close(fd);
	}
	/* c is not freed: the process exits right after the threads. */
	return NULL;
}

static int start_servers(int n, char *err, size_t errlen)
{
	servers = glia_calloc((size_t)n, sizeof(*servers));
	n_servers = n;
	for (int i = 0; i < n; i++) {
		int rc;

		servers[i].fd = -1;
		rc = pthread_create(&servers[i].tid, NULL, server_main,
		                    (void *)(intptr_t)i);
		if (rc != 0) {
			snprintf(err, errlen, "cannot start serving thread: %s",
			         strerror(rc));
			return -1;
		}
		servers[i].started = 1;
	}
	return 0;
}

/* Stops accepting and ends every connection's reads: a thread in the
 * middle of a request still writes its answer (with Connection: close);
 * idle keep-alive connections see EOF. Then waits for all threads. */
static void stop_serving(void)
{
	pthread_mutex_lock(&servers_lock);
	atomic_store(&stopping, 1);
	shutdown(listen_fd, SHUT_RDWR);
	for (int i = 0; i < n_servers; i++)
		if (servers[i].fd >= 0)
			shutdown(servers[i].fd, SHUT_RD);
	pthread_mutex_unlock(&servers_lock);
	for (int i = 0; i < n_servers; i++)
		if (servers[i].started)
			pthread_join(servers[i].tid, NULL);
}

/* --- signals ---------------------------------------------------------- */

static void on_signal(int sig)
{
	int saved = errno;
	char b = (char)sig;

	if (write(signal_pipe[1], &b, 1) < 0) {
		/* the pipe is full: a stop is already pending */
	}
	errno = saved;
}

static int install_signals(void)
{
	struct sigaction sa;

	if (pipe2(signal_pipe, O_CLOEXEC) < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) < 0 ||
	    sigaction(SIGINT, &sa, NULL) < 0)
		return -1;
	return 0;
}

static void wait_for_stop(void)
{
	char b;

	while (read(signal_pipe[0], &b, 1) < 0 && errno == EINTR)
		;
}

/* --- main ------------------------------------------------------------- */

/* Dies with the parent (the daemon). 0, or -1 when the parent is already
 * gone: GLIA_PARENT_PID names it (a daemon that is pid 1 in a container
 * is a real parent); without it, being reparented to pid 1 while a daemon
 * gave us the status pipe means the daemon died. */
static int tie_to_parent(void)
{
	const char *expected = getenv("GLIA_PARENT_PID");
	pid_t parent = getppid();

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		return 0;
	if (expected && *expected)
		return getppid() == (pid_t)atoi(expected) ? 0 : -1;
	if (getppid() != parent || (parent == 1 && status_fd >= 0))
		return -1;
	return 0;
}

/* Loads the C predictor with predictor.config as compact JSON. Its stdout
 * is line-buffered so that what it prints reaches the log line by line. */
static int start_c(const worker_spec *spec, char *err, size_t errlen)
{
	json_t *config =
	    json_object_get(json_object_get(spec->root, "predictor"), "config");
	char *config_json = json_is_object(config)
	                        ? json_dumps(config, JSON_COMPACT)
	                        : glia_strdup("{}");

	if (!config_json) {
		snprintf(err, errlen, "cannot encode predictor.config as JSON");
		return -1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	chost = glia_chost_load(spec->path, config_json, err, errlen);
	free(config_json);
	return chost ? 0 : -1;
}

/* Everything up to a predictor that is built, before any serving. */
static int start(const worker_opts *o, worker_spec *spec, char **sock_path,
                 char *err, size_t errlen)
{
	glia_pyhost_opts py;
	char *pydir = NULL;
	int rc = -1;

	if (read_spec(o->spec_path, spec, err, errlen) < 0)
		return -1;
	*sock_path = absolute_path(o->socket_path);
	if (chdir(o->project_dir) < 0) {
		snprintf(err, errlen, "cannot enter project directory %s: %s",
		         o->project_dir, strerror(errno));
		return -1;
	}
	if (apply_env(spec, err, errlen) < 0)
		return -1;
	if (spec->is_c)
		return start_c(spec, err, errlen);
	pydir = python_dir();
	keep_status_fd = spec->has_models;
	py.status_fd = spec->has_models ? status_fd : -1;
	py.python_dir = pydir;
	py.spec_json = spec->text;
	py.replica_id = o->replica_id;
	rc = glia_pyhost_start(&py, err, errlen);
	free(pydir);
	return rc;
}

/* server_side_batching: the batch thread and its arrays. */
static int start_batching(const worker_spec *spec, char *err, size_t errlen)
{
	size_t n = (size_t)spec->max_batch;

	if (!n)
		return 0;
	if (chost && !glia_chost_can_batch(chost)) {
		snprintf(err, errlen,
		         "server_side_batching: %s does not define "
		         "glia_predictor_predict_batch (glia/predictor.h)",
		         spec->path);
		return -1;
	}
	batch_reqs = glia_calloc(n, sizeof(*batch_reqs));
	batch_resps = glia_calloc(n, sizeof(*batch_resps));
	batch_creqs = glia_calloc(n, sizeof(*batch_creqs));
	batch_calls = glia_calloc(n, sizeof(*batch_calls));
	batcher = glia_batcher_new((size_t)spec->max_batch,
	                           spec->batch_interval_ms, batch_handle,
	                           batch_thread_init, NULL);
	if (!batcher) {
		snprintf(err, errlen, "cannot start the batch thread");
		return -1;
	}
	return 0;
}

static void models_scan(void *ud, char ***dirs, int64_t *next_ms)
{
	glia_pyhost_models_scan(dirs, next_ms);
}

static void models_tick(void *ud)
{
	glia_pyhost_models_tick();
}

/* predictor.models: live reloading. GLIA_MODEL_WATCH=poll forces polling
 * (file systems without inotify), every GLIA_MODEL_POLL_MS (1000). */
static void start_watching(const worker_spec *spec)
{
	const char *mode = getenv("GLIA_MODEL_WATCH");
	const char *poll_ms = getenv("GLIA_MODEL_POLL_MS");
	glia_watch_opts o = {.scan = models_scan, .tick = models_tick};

	if (!spec->has_models || chost)
		return;
	o.poll = mode && strcmp(mode, "poll") == 0;
	o.poll_ms = poll_ms ? strtoll(poll_ms, NULL, 10) : 0;
	watcher = glia_watch_start(&o);
	if (!watcher)
		fputs("glia: models: cannot start the directory watcher; "
		      "models are not reloaded\n",
		      stderr);
}

static ino_t socket_inode(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_ino : 0;
}

int glia_worker_main(int argc, char **argv)
{
	worker_opts o;
	worker_spec spec = {0};
	char err[1024] = "";
	char *sock_path = NULL;
	ino_t ino;

	probe_status_fd();
	if (tie_to_parent() < 0)
		return start_failed(EXIT_START_FAILED,
		                    "parent process already exited");
	signal(SIGPIPE, SIG_IGN);
	if (parse_args(argc, argv, &o) < 0) {
		fputs("usage: glia worker --spec FILE --project-dir DIR "
		      "--socket PATH [--replica ID]\n",
		      stderr);
		status_line("error", "usage error");
		return EXIT_USAGE;
	}
	if (start(&o, &spec, &sock_path, err, sizeof(err)) < 0)
		return start_failed(EXIT_START_FAILED, "%s", err);
	listen_fd = bind_socket(sock_path, err, sizeof(err));
	if (listen_fd < 0)
		return start_failed(EXIT_START_FAILED, "%s", err);
	ino = socket_inode(sock_path);
	if (install_signals() < 0)
		return start_failed(EXIT_START_FAILED,
		                    "cannot install signal handlers: %s",
		                    strerror(errno));
	if (!chost)
		glia_pyhost_detach();
	if (start_batching(&spec, err, sizeof(err)) < 0 ||
	    start_servers(spec.slots, err, sizeof(err)) < 0)
		return start_failed(EXIT_START_FAILED, "%s", err);
	status_line("ready", NULL);
	start_watching(&spec);

	wait_for_stop();
	glia_watch_stop(watcher);
	stop_serving();
	glia_batcher_free(batcher);
	if (ino && socket_inode(sock_path) == ino)
		unlink(sock_path);
	if (chost)
		glia_chost_unload(chost);
	else
		glia_pyhost_flush();
	fflush(NULL);
	free_spec(&spec);
	free(sock_path);
	/* No Py_FinalizeEx (predictor threads could make it hang), no dlclose
	 * (threads a C predictor started may still run its code). */
	_exit(0);
}
