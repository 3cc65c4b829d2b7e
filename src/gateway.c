/* gateway.c: see gateway.h. The way of a request: on_request (route) ->
 * route queue -> dispatch (pick backend) -> upstream connection (send,
 * parse answer) -> answer the client -> account. */
#include "gateway.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"
#include "httpd.h"
#include "logs.h"
#include "route.h"
#include "util.h"

#define UP_READ_BUF 65536
#define REQUEST_ID_MAX 128

typedef struct greq greq;
typedef struct upconn upconn;

/* One API of a TrafficSplitter route. */
typedef struct split_target {
	char *api;
	int weight, shadow;
	int current;       /* smooth weighted round robin */
	uint64_t requests; /* sent there (copies, for the shadow) */
} split_target;

struct glia_gateway {
	uv_loop_t *loop;
	glia_httpd *httpd;
	glia_router *router;
	glia_gateway_options opt;
	greq *free_reqs; /* recycled requests, timers kept initialised */
	glia_route *routes; /* every routed API, for /metrics */
	glia_metrics_cb metrics_cb;
	void *metrics_arg;
	glia_repository_cb repository_cb;
	void *repository_arg;
	uint64_t rid_seed, rid_counter;
	char upbuf[UP_READ_BUF];
};

struct glia_route {
	glia_gateway *gw;
	glia_route *next_route, *prev_route;
	char *endpoint;
	char *api_name;
	char *description;
	char *unavailable;
	int64_t timeout_ms;
	int max_concurrency;
	int ready_replicas;
	int removed;
	int passthrough; /* command server: protocol paths forwarded as-is */
	int refs; /* requests that point here */
	void (*on_demand)(void *);
	void *demand_arg;
	greq *queue_head, *queue_tail;
	int queued;
	int in_flight;
	glia_backend *backends;
	glia_route_stats stats;
	split_target *split; /* TrafficSplitter; NULL otherwise */
	size_t n_split;
};

struct glia_backend {
	glia_route *route;
	glia_backend *next;
	char *socket_path; /* NULL for a TCP backend */
	int port;
	int slots;
	int in_flight;
	int draining;
	int broken; /* a connection failed before any answer: presumed dead */
	uint64_t answered, failed; /* answers from it; of those, 5xx */
	void (*drained)(void *);
	void *drained_arg;
	upconn *idle; /* keep-alive connections, ready for a request */
	upconn *conns; /* every open connection */
};

struct upconn {
	union {
		uv_pipe_t pipe; /* workers: Unix sockets */
		uv_tcp_t tcp;   /* command predictors: loopback TCP */
		uv_stream_t stream;
		uv_handle_t handle;
	} h;
	uv_connect_t creq;
	uv_write_t wreq;
	glia_gateway *gw;
	glia_backend *be; /* NULL once the backend is gone */
	greq *req;
	int abandoned; /* its request timed out; the answer is still due */
	glia_http_parser *parser;
	upconn *next_idle;
	upconn *prev, *next; /* be->conns */
	int connected;
	int got_bytes;
	int closing;
	int reused; /* taken from the idle pool: the peer may have closed it */
	struct deferred_error *deferred;
};

/* A connect that failed at once is reported from the loop, like any other
 * failure; this outlives the connection if that closes first. */
struct deferred_error {
	uv_idle_t idle;
	upconn *u; /* NULL once u is gone */
	int error;
};

struct greq {
	glia_gateway *gw;
	char method[16];
	char path[160];   /* for the access line; cut when longer */
	char peer[64];
	glia_route *route;
	glia_httpd_conn *client;
	upconn *up;
	greq *next; /* queue or free list */
	uv_timer_t timer;
	glia_buf upreq; /* the request as sent upstream */
	double start;
	int retries;
	int queued;
	char id[REQUEST_ID_MAX + 1];
};

static void dispatch(glia_route *r);
static void upconn_close(upconn *u);
static void req_send(greq *q, glia_backend *b);

/* ---- accounting and answers ---------------------------------------- */

static void route_unref(glia_route *r)
{
	if (--r->refs > 0 || !r->removed)
		return;
	glia_route_set_split(r, NULL, 0);
	free(r->endpoint);
	free(r->api_name);
	free(r->description);
	free(r->unavailable);
	free(r);
}

/* Keeps a failed request for `glia get API`. why may be a JSON error body
 * ({"error": ...}) or plain text. */
static void remember_error(glia_route *r, int status, const char *id,
			   const char *why, size_t len)
{
	glia_route_error *e =
		&r->stats.errors[r->stats.n_errors++ % GLIA_ROUTE_ERRORS];
	e->at = glia_wall();
	e->status = status;
	snprintf(e->request_id, sizeof e->request_id, "%s", id ? id : "-");
	const char *p = why ? why : "";
	size_t n = why ? len : 0;
	const char *key = n ? memmem(p, n, "\"error\"", 7) : NULL;
	if (key) { /* the value of "error", roughly: enough for a glance */
		const char *q = memchr(key + 7, '"', n - (size_t)(key + 7 - p));
		if (q) {
			n -= (size_t)(q + 1 - p);
			p = q + 1;
			const char *end = memchr(p, '"', n);
			if (end)
				n = (size_t)(end - p);
		}
	}
	if (n >= sizeof e->message)
		n = sizeof e->message - 1;
	memcpy(e->message, p, n);
	e->message[n] = '\0';
}

/* One access line per request answered through a route:
 * `127.0.0.1 "POST /iris" 200 31B 1.234ms rid=...`. */
static void access_line(glia_route *r, const greq *q, int status,
			size_t bytes, double took)
{
	glia_logs *logs = r->gw->opt.access_log;
	if (!logs)
		return;
	char line[512];
	int n = snprintf(line, sizeof line, "%s \"%s %s\" %d %zuB %.3fms rid=%s",
			 q->peer, q->method, q->path, status, bytes,
			 took * 1000.0, q->id);
	if (n > 0)
		glia_logs_access(logs, r->api_name, line,
				 (size_t)n < sizeof line ? (size_t)n
							 : sizeof line - 1);
}

static void account(glia_route *r, int status, double start, const char *id,
		    const char *why, size_t why_len)
{
	glia_route_stats *st = &r->stats;
	double now = glia_now();
	double took = now - start;
	st->total++;
	if (status < 300)
		st->c2xx++;
	else if (status < 500)
		st->c4xx++;
	else
		st->c5xx++;
	if (status >= 100 && status < 600)
		st->codes[status]++;
	st->latency_sum_s += took;
	glia_histogram_observe(&st->duration, took);
	glia_minute_observe(&st->minute, (int64_t)now, took);
	if (status >= 400)
		remember_error(r, status, id, why, why_len);
}

static void req_release(greq *q)
{
	uv_timer_stop(&q->timer);
	if (q->client)
		glia_httpd_set_owner(q->client, NULL, NULL);
	q->client = NULL;
	q->up = NULL;
	if (q->route) {
		glia_route *r = q->route;
		q->route = NULL;
		route_unref(r);
	}
	glia_buf_reset(&q->upreq);
	q->next = q->gw->free_reqs;
	q->gw->free_reqs = q;
}

static void id_header(char *out, size_t n, const char *id)
{
	snprintf(out, n, "X-Request-ID: %s\r\n", id);
}

static void req_fail(greq *q, int status, const char *msg)
{
	if (q->route) {
		account(q->route, status, q->start, q->id, msg, strlen(msg));
		access_line(q->route, q, status, strlen(msg),
			    glia_now() - q->start);
		if (status == 504)
			q->route->stats.rejected_timeout++;
	}
	if (q->client) {
		char extra[REQUEST_ID_MAX + 64];
		id_header(extra, sizeof extra, q->id);
		if (status == 503)
			strcat(extra, "Retry-After: 1\r\n");
		glia_httpd_respond_error(q->client, status, msg, extra);
	}
	req_release(q);
}

static void queue_remove(glia_route *r, greq *q)
{
	greq **pp = &r->queue_head;
	greq *prev = NULL;
	while (*pp && *pp != q) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (!*pp)
		return;
	*pp = q->next;
	if (r->queue_tail == q)
		r->queue_tail = prev;
	q->next = NULL;
	q->queued = 0;
	r->queued--;
}

static void queue_push(glia_route *r, greq *q)
{
	q->next = NULL;
	q->queued = 1;
	if (r->queue_tail)
		r->queue_tail->next = q;
	else
		r->queue_head = q;
	r->queue_tail = q;
	r->queued++;
}

static greq *queue_pop(glia_route *r)
{
	greq *q = r->queue_head;
	if (!q)
		return NULL;
	r->queue_head = q->next;
	if (!r->queue_head)
		r->queue_tail = NULL;
	q->next = NULL;
	q->queued = 0;
	r->queued--;
	return q;
}

/* ---- backends -------------------------------------------------------- */

static void backend_maybe_drained(glia_backend *b)
{
	if (!b->draining || b->in_flight > 0 || !b->drained)
		return;
	void (*cb)(void *) = b->drained;
	b->drained = NULL;
	cb(b->drained_arg);
}

/* The request on u is over (answered or failed): free the slot. */
static void backend_done(glia_backend *b)
{
	if (!b)
		return;
	b->in_flight--;
	b->route->in_flight--;
	backend_maybe_drained(b);
}

static glia_backend *pick_backend(glia_route *r)
{
	glia_backend *best = NULL;
	for (glia_backend *b = r->backends; b; b = b->next) {
		if (b->draining || b->broken || b->in_flight >= b->slots)
			continue;
		/* least loaded: compare in_flight/slots without division */
		if (!best || (long)b->in_flight * best->slots <
				     (long)best->in_flight * b->slots)
			best = b;
	}
	return best;
}

static int has_backend(const glia_route *r)
{
	for (glia_backend *b = r->backends; b; b = b->next)
		if (!b->draining && !b->broken)
			return 1;
	return 0;
}

static void dispatch(glia_route *r)
{
	while (r->queue_head) {
		glia_backend *b = pick_backend(r);
		if (!b)
			return;
		greq *q = queue_pop(r);
		req_send(q, b);
	}
}

static glia_backend *backend_create(glia_route *r, const char *socket_path,
				    int port, int slots)
{
	glia_backend *b = glia_calloc(1, sizeof *b);
	b->route = r;
	b->socket_path = socket_path ? glia_strdup(socket_path) : NULL;
	b->port = port;
	b->slots = slots > 0 ? slots : 1;
	b->next = r->backends;
	r->backends = b;
	r->refs++;
	dispatch(r);
	return b;
}

static void backend_unlink(glia_backend *b)
{
	glia_route *r = b->route;
	for (glia_backend **pp = &r->backends; *pp; pp = &(*pp)->next) {
		if (*pp == b) {
			*pp = b->next;
			break;
		}
	}
}

glia_backend *glia_backend_new(glia_route *r, const char *socket_path,
			       int slots)
{
	return backend_create(r, socket_path, 0, slots);
}

glia_backend *glia_backend_new_tcp(glia_route *r, int port, int slots)
{
	return backend_create(r, NULL, port, slots);
}

void glia_backend_drain(glia_backend *b, void (*done)(void *), void *arg)
{
	b->draining = 1;
	b->drained = done;
	b->drained_arg = arg;
	backend_maybe_drained(b);
}

int glia_backend_in_flight(const glia_backend *b)
{
	return b->in_flight;
}

void glia_backend_counts(const glia_backend *b, uint64_t *answered,
			 uint64_t *failed)
{
	*answered = b->answered;
	*failed = b->failed;
}

/* ---- upstream connections ------------------------------------------- */

static void upconn_free_cb(uv_handle_t *h)
{
	upconn *u = h->data;
	glia_http_parser_free(u->parser);
	free(u);
}

static void upconn_unlink(upconn *u)
{
	glia_backend *b = u->be;
	if (!b)
		return;
	for (upconn **pp = &b->idle; *pp; pp = &(*pp)->next_idle) {
		if (*pp == u) {
			*pp = u->next_idle;
			break;
		}
	}
	if (u->prev)
		u->prev->next = u->next;
	else
		b->conns = u->next;
	if (u->next)
		u->next->prev = u->prev;
	u->prev = u->next = NULL;
	u->be = NULL;
}

static void upconn_close(upconn *u)
{
	if (u->closing)
		return;
	u->closing = 1;
	if (u->deferred)
		u->deferred->u = NULL;
	upconn_unlink(u);
	uv_close(&u->h.handle, upconn_free_cb);
}

/* The upstream connection failed while q was on it. */
static void upstream_failed(upconn *u, const char *why)
{
	greq *q = u->req;
	glia_backend *b = u->be;
	int got = u->got_bytes;
	u->req = NULL;
	upconn_close(u);
	if (!q)
		return;
	q->up = NULL;
	glia_route *r = q->route;
	r->refs++; /* freeing b below may drop the last other reference */
	/* A fresh connection that fails says the process is gone: do not send
	 * the retry there. A pooled one may just have been closed by a live
	 * server (keep-alive timeout), which says nothing about it. */
	if (!got && b && !u->reused)
		b->broken = 1;
	backend_done(b);
	if (!got && q->retries == 0 && q->client && r && !r->removed) {
		/* The replica died or closed before answering: the request
		 * was not processed, so try once more elsewhere. */
		q->retries++;
		r->stats.retries++;
		queue_push(r, q);
		dispatch(r);
	} else {
		char msg[256];
		snprintf(msg, sizeof msg, "replica failed: %s", why);
		req_fail(q, 500, msg);
	}
	dispatch(r);
	route_unref(r);
}

static int skip_upstream_header(const char *name)
{
	static const char *hop[] = {"connection", "keep-alive",
				    "transfer-encoding", "content-length",
				    "x-request-id", "date", "server",
				    "x-glia-predict-time", "x-glia-prediction",
				    "x-glia-batch-size"};
	for (size_t i = 0; i < sizeof hop / sizeof *hop; i++)
		if (strcasecmp(name, hop[i]) == 0)
			return 1;
	return 0;
}

/* Appends n in decimal: the hot path avoids printf. */
static void append_uint(glia_buf *b, size_t n)
{
	char tmp[24];
	size_t i = sizeof tmp;
	do {
		tmp[--i] = (char)('0' + n % 10);
		n /= 10;
	} while (n);
	glia_buf_append(b, tmp + i, sizeof tmp - i);
}

/* "X-Request-ID: <id>\r\nContent-Length: <n>\r\n\r\n" */
static void append_id_and_length(glia_buf *b, const char *id, size_t len)
{
	glia_buf_puts(b, "X-Request-ID: ");
	glia_buf_puts(b, id);
	glia_buf_puts(b, "\r\nContent-Length: ");
	append_uint(b, len);
	glia_buf_puts(b, "\r\n\r\n");
}

static void count_class(glia_prediction_stats *ps, const char *text)
{
	char label[sizeof ps->classes[0].label];
	size_t n = strlen(text);
	if (n >= sizeof label) { /* longer labels are kept cut, at a
				    character boundary */
		n = sizeof label - 1;
		while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(label, text, n);
	label[n] = '\0';
	size_t i;
	for (i = 0; i < ps->n_classes; i++)
		if (strcmp(ps->classes[i].label, label) == 0)
			break;
	if (i == ps->n_classes) {
		if (ps->n_classes < GLIA_MAX_CLASSES) {
			memcpy(ps->classes[i].label, label, n + 1);
			ps->n_classes++;
		} else {
			i = GLIA_MAX_CLASSES;
			strcpy(ps->classes[i].label, "other");
		}
	}
	ps->classes[i].count++;
}

/* Replicas of monitored APIs name each prediction: X-Glia-Prediction. */
static void observe_prediction(glia_route *r, const glia_http_msg *m)
{
	glia_prediction_stats *ps = &r->stats.predictions;
	if (ps->type == GLIA_MONITOR_NONE)
		return;
	const char *v = glia_http_msg_header(m, "X-Glia-Prediction");
	if (!v)
		return;
	char text[256];
	glia_buf b;
	glia_buf_init(&b, sizeof text - 1);
	if (glia_url_decode(&b, v, strlen(v), 0) < 0 || !b.data) {
		glia_buf_free(&b);
		return;
	}
	snprintf(text, sizeof text, "%s", b.data);
	glia_buf_free(&b);
	if (ps->type == GLIA_MONITOR_CLASSIFICATION) {
		count_class(ps, text);
		return;
	}
	char *end;
	double x = strtod(text, &end);
	if (end == text || *end)
		return;
	if (ps->count == 0 || x < ps->min)
		ps->min = x;
	if (ps->count == 0 || x > ps->max)
		ps->max = x;
	ps->sum += x;
	ps->count++;
}

/* Workers say how long the predictor took: X-Glia-Predict-Time (s). */
static void observe_predict_time(glia_route *r, const glia_http_msg *m)
{
	const char *v = glia_http_msg_header(m, "X-Glia-Predict-Time");
	if (!v)
		return;
	char *end;
	double s = strtod(v, &end);
	if (end != v && s >= 0)
		glia_histogram_observe(&r->stats.predict, s);
}

/* A worker that batches names each batch's size on one of its answers:
 * X-Glia-Batch-Size. */
static void observe_batch_size(glia_route *r, const glia_http_msg *m)
{
	const char *v = glia_http_msg_header(m, "X-Glia-Batch-Size");
	if (!v)
		return;
	char *end;
	long n = strtol(v, &end, 10);
	if (end != v && !*end && n > 0)
		glia_size_histogram_observe(&r->stats.batch, (double)n);
}

static void answer_client(greq *q, const glia_http_msg *m)
{
	glia_buf *out = glia_httpd_out(q->client);
	glia_buf_reset(out);
	glia_buf_puts(out, "HTTP/1.1 ");
	append_uint(out, (size_t)m->status);
	glia_buf_puts(out, " ");
	glia_buf_puts(out, glia_http_status_text(m->status));
	glia_buf_puts(out, "\r\n");
	for (size_t i = 0; i < m->n_headers; i++) {
		const glia_http_header *h = &m->headers[i];
		if (skip_upstream_header(h->name))
			continue;
		glia_buf_append(out, h->name, h->name_len);
		glia_buf_puts(out, ": ");
		glia_buf_append(out, h->value, h->value_len);
		glia_buf_puts(out, "\r\n");
	}
	append_id_and_length(out, q->id, m->body_len);
	glia_buf_append(out, m->body, m->body_len);
	glia_httpd_finish(q->client, 1);
}

static void upstream_complete(upconn *u)
{
	greq *q = u->req;
	const glia_http_msg *m = glia_http_parser_msg(u->parser);
	glia_backend *b = u->be;
	int keep = m->keep_alive && b && !b->draining;
	glia_route *r = q->route;
	r->refs++;
	account(r, m->status, q->start, q->id, m->body, m->body_len);
	access_line(r, q, m->status, m->body_len, glia_now() - q->start);
	observe_predict_time(r, m);
	observe_prediction(r, m);
	observe_batch_size(r, m);
	if (b) {
		b->answered++;
		b->failed += m->status >= 500;
	}
	if (q->client)
		answer_client(q, m);
	u->req = NULL;
	q->up = NULL;
	req_release(q);
	glia_http_parser_reset(u->parser);
	u->got_bytes = 0;
	if (keep) {
		u->next_idle = b->idle;
		b->idle = u;
	} else {
		upconn_close(u);
	}
	backend_done(b);
	dispatch(r);
	route_unref(r);
}

static void up_alloc_cb(uv_handle_t *h, size_t s, uv_buf_t *buf)
{
	upconn *u = h->data;
	buf->base = u->gw->upbuf;
	buf->len = sizeof u->gw->upbuf;
}

/* The answer to a timed-out request arrived (or the connection ended): only
 * now is the replica's slot free again. */
static void abandoned_done(upconn *u, int reusable)
{
	glia_backend *b = u->be;
	u->abandoned = 0;
	glia_http_parser_reset(u->parser);
	u->got_bytes = 0;
	if (!b) {
		upconn_close(u);
		return;
	}
	glia_route *r = b->route;
	r->refs++;
	if (reusable && !b->draining) {
		u->next_idle = b->idle;
		b->idle = u;
	} else {
		upconn_close(u);
	}
	backend_done(b);
	dispatch(r);
	route_unref(r);
}

static void abandoned_read(upconn *u, ssize_t n, const uv_buf_t *buf)
{
	size_t used;
	if (n < 0) {
		abandoned_done(u, 0);
		return;
	}
	int rc = glia_http_parser_feed(u->parser, buf->base, (size_t)n, &used);
	if (rc == GLIA_HTTP_ERROR)
		abandoned_done(u, 0);
	else if (rc == GLIA_HTTP_DONE)
		abandoned_done(u, glia_http_parser_msg(u->parser)->keep_alive);
}

static void up_read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	upconn *u = st->data;
	if (n == 0)
		return;
	if (u->abandoned) {
		abandoned_read(u, n, buf);
		return;
	}
	if (!u->req) {
		/* An idle connection: EOF or junk means it is done. */
		upconn_close(u);
		return;
	}
	if (n < 0) {
		if (n == UV_EOF &&
		    glia_http_parser_eof(u->parser) == GLIA_HTTP_DONE) {
			upstream_complete(u);
			return;
		}
		upstream_failed(u, n == UV_EOF ? "connection closed"
					       : uv_strerror((int)n));
		return;
	}
	u->got_bytes = 1;
	size_t used;
	int rc = glia_http_parser_feed(u->parser, buf->base, (size_t)n, &used);
	if (rc == GLIA_HTTP_ERROR)
		upstream_failed(u, glia_http_parser_error_message(u->parser));
	else if (rc == GLIA_HTTP_DONE)
		upstream_complete(u);
}

static void up_write_cb(uv_write_t *w, int status)
{
	upconn *u = w->data;
	if (status < 0 && !u->closing && u->req)
		upstream_failed(u, uv_strerror(status));
}

static void upconn_write(upconn *u)
{
	greq *q = u->req;
	uv_buf_t b = uv_buf_init(q->upreq.data, (unsigned)q->upreq.len);
	/* Written at once when the socket takes it (the usual case): no write
	 * request, so libuv makes no epoll_ctl for it. */
	int n = uv_try_write(&u->h.stream, &b, 1);
	if (n == (int)b.len)
		return;
	if (n > 0) {
		b.base += n;
		b.len -= (size_t)n;
	} else if (n != UV_EAGAIN) {
		upstream_failed(u, uv_strerror(n));
		return;
	}
	u->wreq.data = u;
	int rc = uv_write(&u->wreq, &u->h.stream, &b, 1,
			  up_write_cb);
	if (rc < 0)
		upstream_failed(u, uv_strerror(rc));
}

static void up_connect_cb(uv_connect_t *c, int status)
{
	upconn *u = c->data;
	if (u->closing)
		return;
	if (status < 0) {
		upstream_failed(u, uv_strerror(status));
		return;
	}
	u->connected = 1;
	uv_read_start(&u->h.stream, up_alloc_cb, up_read_cb);
	if (u->req)
		upconn_write(u);
}

static void deferred_free(uv_handle_t *h)
{
	free(h->data);
}

static void deferred_connect_error(uv_idle_t *h)
{
	struct deferred_error *d = h->data;
	uv_idle_stop(h);
	uv_close((uv_handle_t *)h, deferred_free);
	if (d->u) {
		d->u->deferred = NULL;
		up_connect_cb(&d->u->creq, d->error);
	}
}

static upconn *upconn_new(glia_gateway *gw, glia_backend *b)
{
	upconn *u = glia_calloc(1, sizeof *u);
	u->gw = gw;
	glia_http_limits lim = {64 * 1024, gw->opt.max_response_bytes};
	u->h.handle.data = u;
	u->be = b;
	u->parser = glia_http_parser_new(GLIA_HTTP_RESPONSE, &lim);
	u->next = b->conns;
	if (b->conns)
		b->conns->prev = u;
	b->conns = u;
	u->creq.data = u;
	if (b->socket_path) {
		uv_pipe_init(gw->loop, &u->h.pipe, 0);
		u->h.handle.data = u;
		uv_pipe_connect(&u->creq, &u->h.pipe, b->socket_path,
				up_connect_cb);
		return u;
	}
	struct sockaddr_in addr;
	uv_ip4_addr("127.0.0.1", b->port, &addr);
	uv_tcp_init(gw->loop, &u->h.tcp);
	u->h.handle.data = u;
	uv_tcp_nodelay(&u->h.tcp, 1);
	int rc = uv_tcp_connect(&u->creq, &u->h.tcp, (struct sockaddr *)&addr,
				up_connect_cb);
	if (rc < 0) {
		/* Reported like a refused connection, from the loop. */
		struct deferred_error *d = glia_calloc(1, sizeof *d);
		d->u = u;
		d->error = rc;
		u->deferred = d;
		uv_idle_init(gw->loop, &d->idle);
		d->idle.data = d;
		uv_idle_start(&d->idle, deferred_connect_error);
	}
	return u;
}

static void req_send(greq *q, glia_backend *b)
{
	b->in_flight++;
	b->route->in_flight++;
	upconn *u = b->idle;
	if (u) {
		b->idle = u->next_idle;
		u->next_idle = NULL;
		u->reused = 1;
	} else {
		u = upconn_new(q->gw, b);
	}
	u->req = q;
	q->up = u;
	if (u->connected)
		upconn_write(u);
}

void glia_backend_free(glia_backend *b)
{
	glia_route *r = b->route;
	b->drained = NULL;
	backend_unlink(b);
	while (b->conns) {
		upconn *u = b->conns;
		if (u->req) {
			upstream_failed(u, "replica stopped");
		} else {
			if (u->abandoned)
				backend_done(b);
			upconn_close(u);
		}
	}
	free(b->socket_path);
	free(b);
	dispatch(r);
	route_unref(r);
}

/* ---- client side ----------------------------------------------------- */

static void req_timeout_cb(uv_timer_t *t)
{
	greq *q = t->data;
	glia_route *r = q->route;
	r->refs++;
	if (q->queued) {
		queue_remove(r, q);
	} else if (q->up) {
		upconn *u = q->up;
		u->req = NULL;
		q->up = NULL;
		if (u->connected) {
			/* The replica is still working on it: its slot stays
			 * taken until the late answer arrives. */
			u->abandoned = 1;
		} else {
			glia_backend *b = u->be;
			upconn_close(u); /* never sent */
			backend_done(b);
		}
	}
	char msg[160];
	snprintf(msg, sizeof msg, "request timed out after %.3gs",
		 (double)r->timeout_ms / 1000.0);
	req_fail(q, 504, msg);
	dispatch(r);
	route_unref(r);
}

static void client_gone(glia_httpd_conn *c, void *owner)
{
	greq *q = owner;
	q->client = NULL;
	if (q->queued) {
		glia_route *r = q->route;
		queue_remove(r, q);
		req_release(q);
	}
	/* in flight: the answer is read and dropped, keeping the
	 * connection usable. */
}

static greq *req_new(glia_gateway *gw)
{
	greq *q = gw->free_reqs;
	if (q) {
		gw->free_reqs = q->next;
		q->next = NULL;
		return q;
	}
	q = glia_calloc(1, sizeof *q);
	q->gw = gw;
	uv_timer_init(gw->loop, &q->timer);
	q->timer.data = q;
	glia_buf_init(&q->upreq, 0);
	return q;
}

static int valid_request_id(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (s[n] <= ' ' || s[n] > '~' || n >= REQUEST_ID_MAX)
			return 0;
	return n > 0;
}

static void make_request_id(glia_gateway *gw, char *out)
{
	uint64_t x = gw->rid_seed ^ (++gw->rid_counter * 0x9E3779B97F4A7C15ULL);
	x ^= x >> 31;
	x *= 0xBF58476D1CE4E5B9ULL;
	x ^= x >> 27;
	snprintf(out, REQUEST_ID_MAX, "%016llx%08llx", (unsigned long long)x,
		 (unsigned long long)(gw->rid_counter & 0xffffffffULL));
}

/* Hop-by-hop headers, ours (X-Request-ID is set anew) and X-Glia-*: only
 * the gateway speaks those to replicas. */
static int skip_client_header(const char *name)
{
	static const char *hop[] = {"connection", "keep-alive",
				    "content-length", "transfer-encoding",
				    "x-request-id", "expect", "upgrade",
				    "te", "proxy-connection"};
	if (strncasecmp(name, "x-glia-", 7) == 0)
		return 1;
	for (size_t i = 0; i < sizeof hop / sizeof *hop; i++)
		if (strcasecmp(name, hop[i]) == 0)
			return 1;
	return 0;
}

/* How a request is forwarded: the path the replica sees, and for the
 * inference protocols the method and the X-Glia-* lines that name them. */
typedef struct forward {
	const char *path;   /* "" means "/" */
	const char *method; /* NULL: the client's */
	const char *extra;  /* header lines, or NULL */
} forward;

static void build_upstream_request(greq *q, const glia_http_msg *m,
				   const forward *f)
{
	glia_buf *o = &q->upreq;
	glia_buf_reset(o);
	glia_buf_puts(o, f->method ? f->method : m->method);
	glia_buf_puts(o, " ");
	glia_buf_puts(o, *f->path ? f->path : "/");
	if (*m->query) {
		glia_buf_puts(o, "?");
		glia_buf_puts(o, m->query);
	}
	glia_buf_puts(o, " HTTP/1.1\r\n");
	if (!glia_http_msg_header(m, "Host"))
		glia_buf_puts(o, "Host: localhost\r\n");
	for (size_t i = 0; i < m->n_headers; i++) {
		const glia_http_header *h = &m->headers[i];
		if (skip_client_header(h->name))
			continue;
		glia_buf_append(o, h->name, h->name_len);
		glia_buf_puts(o, ": ");
		glia_buf_append(o, h->value, h->value_len);
		glia_buf_puts(o, "\r\n");
	}
	if (f->extra)
		glia_buf_puts(o, f->extra);
	append_id_and_length(o, q->id, m->body_len);
	glia_buf_append(o, m->body, m->body_len);
}

static int overloaded(const glia_route *r)
{
	int replicas = r->ready_replicas > 0 ? r->ready_replicas : 1;
	long cap = (long)r->max_concurrency * replicas;
	return (long)r->in_flight + r->queued >= cap;
}

/* Queues a request for r's replicas (or answers 503 at once). */
/* A request for r, built from m and f, its timeout running; the caller
 * sets the client (or none) and queues it. */
static greq *req_start(glia_gateway *gw, glia_route *r,
		       const glia_http_msg *m, const forward *f,
		       const char *id, const char *peer)
{
	greq *q = req_new(gw);
	q->route = r;
	r->refs++;
	q->client = NULL;
	q->start = glia_now();
	q->retries = 0;
	snprintf(q->id, sizeof q->id, "%s", id);
	snprintf(q->method, sizeof q->method, "%s", m->method);
	snprintf(q->path, sizeof q->path, "%s", m->path);
	snprintf(q->peer, sizeof q->peer, "%s", peer);
	build_upstream_request(q, m, f);
	if (r->timeout_ms > 0)
		uv_timer_start(&q->timer, req_timeout_cb,
			       (uint64_t)r->timeout_ms, 0);
	return q;
}

static void route_request(glia_gateway *gw, glia_httpd_conn *c,
			  const glia_http_msg *m, glia_route *r,
			  const forward *f, const char *id)
{
	char extra[REQUEST_ID_MAX + 64];
	id_header(extra, sizeof extra, id);
	if (r->unavailable && !has_backend(r)) {
		account(r, 503, glia_now(), id, r->unavailable,
			strlen(r->unavailable));
		r->stats.rejected_unavailable++;
		strcat(extra, "Retry-After: 5\r\n");
		glia_httpd_respond_error(c, 503, r->unavailable, extra);
		return;
	}
	if (overloaded(r)) {
		static const char why[] = "overloaded";
		account(r, 503, glia_now(), id, why, sizeof why - 1);
		r->stats.rejected_overloaded++;
		strcat(extra, "Retry-After: 1\r\n");
		glia_httpd_respond_error(
			c, 503, "overloaded: too many requests in flight",
			extra);
		return;
	}
	greq *q = req_start(gw, r, m, f, id, glia_httpd_peer(c));
	q->client = c;
	glia_httpd_set_owner(c, client_gone, q);
	queue_push(r, q);
	if (!has_backend(r) && r->on_demand)
		r->on_demand(r->demand_arg);
	dispatch(r);
}

/* ---- TrafficSplitter ----------------------------------------------------- */

static void respond_err(glia_httpd_conn *c, int status, const char *msg,
			const char *id);

static glia_route *route_by_name(glia_gateway *gw, const char *api)
{
	for (glia_route *r = gw->routes; r; r = r->next_route)
		if (strcmp(r->api_name, api) == 0 && !r->n_split)
			return r;
	return NULL;
}

/* A route can answer: it has a backend, or (a splitter) every API it
 * sends requests to has one. */
static int route_ready(glia_gateway *gw, glia_route *r)
{
	if (!r->n_split)
		return has_backend(r);
	for (size_t i = 0; i < r->n_split; i++) {
		const split_target *t = &r->split[i];
		glia_route *to = t->shadow || t->weight <= 0
					 ? NULL
					 : route_by_name(gw, t->api);
		if (!t->shadow && t->weight > 0 && (!to || !has_backend(to)))
			return 0;
	}
	return 1;
}

/* Smooth weighted round robin (as nginx's upstreams): every target gains
 * its weight, the richest is picked and pays the total. Over any window of
 * sum-of-weights picks, each target gets exactly its weight. */
static split_target *split_pick(glia_route *r)
{
	split_target *best = NULL;
	int total = 0;
	for (size_t i = 0; i < r->n_split; i++) {
		split_target *t = &r->split[i];
		if (t->shadow || t->weight <= 0)
			continue;
		t->current += t->weight;
		total += t->weight;
		if (!best || t->current > best->current)
			best = t;
	}
	if (best)
		best->current -= total;
	return best;
}

/* A copy of the request for the shadow API: no client waits for it; it
 * is dropped (not queued) when the shadow cannot take it now. */
static void shadow_request(glia_gateway *gw, const glia_http_msg *m,
			   glia_route *r, const forward *f, const char *id)
{
	if (!has_backend(r) || overloaded(r))
		return;
	queue_push(r, req_start(gw, r, m, f, id, "shadow"));
	dispatch(r);
}

static void send_shadow(glia_gateway *gw, const glia_http_msg *m,
			glia_route *r, const forward *f, const char *id)
{
	for (size_t i = 0; i < r->n_split; i++) {
		split_target *t = &r->split[i];
		glia_route *to = t->shadow ? route_by_name(gw, t->api) : NULL;
		if (to) {
			t->requests++;
			shadow_request(gw, m, to, f, id);
		}
	}
}

/* The API a splitter's request goes to, or NULL after answering 503. */
static glia_route *split_target_route(glia_gateway *gw, glia_httpd_conn *c,
				      glia_route *r, const char *id)
{
	split_target *t = split_pick(r);
	glia_route *to = t ? route_by_name(gw, t->api) : NULL;
	if (!to) {
		char msg[200];
		snprintf(msg, sizeof msg,
			 "traffic splitter %s: API %s is not deployed",
			 r->api_name, t ? t->api : "?");
		account(r, 503, glia_now(), id, msg, strlen(msg));
		respond_err(c, 503, msg, id);
		return NULL;
	}
	t->requests++;
	return to;
}

static void split_request(glia_gateway *gw, glia_httpd_conn *c,
			  const glia_http_msg *m, glia_route *r,
			  const forward *f, const char *id)
{
	glia_route *to = split_target_route(gw, c, r, id);
	if (!to)
		return;
	send_shadow(gw, m, r, f, id);
	route_request(gw, c, m, to, f, id);
}

/* ---- /metrics ----------------------------------------------------------- */

static void api_label(glia_buf *out, const glia_route *r, const char *extra)
{
	glia_buf_reset(out);
	glia_buf_puts(out, "api=\"");
	glia_metrics_escape(out, r->api_name);
	glia_buf_puts(out, "\"");
	if (extra)
		glia_buf_puts(out, extra);
}

static void metrics_requests(glia_gateway *gw, glia_buf *out, glia_buf *lab)
{
	glia_metrics_header(out, "glia_requests_total", "counter",
			    "Requests answered, by API and status code.");
	for (glia_route *r = gw->routes; r; r = r->next_route)
		for (int code = 100; code < 600; code++) {
			if (!r->stats.codes[code])
				continue;
			char extra[32];
			snprintf(extra, sizeof extra, ",code=\"%d\"", code);
			api_label(lab, r, extra);
			glia_metrics_sample(out, "glia_requests_total",
					    lab->data,
					    (double)r->stats.codes[code]);
		}
	glia_metrics_header(out, "glia_request_duration_seconds", "histogram",
			    "Time from a request's arrival to its answer.");
	for (glia_route *r = gw->routes; r; r = r->next_route) {
		api_label(lab, r, NULL);
		glia_metrics_histogram(out, "glia_request_duration_seconds",
				       lab->data, &r->stats.duration);
	}
	glia_metrics_header(out, "glia_predict_duration_seconds", "histogram",
			    "Time inside the predictor, as replicas report it.");
	for (glia_route *r = gw->routes; r; r = r->next_route) {
		api_label(lab, r, NULL);
		glia_metrics_histogram(out, "glia_predict_duration_seconds",
				       lab->data, &r->stats.predict);
	}
	glia_metrics_header(out, "glia_batch_size", "histogram",
			    "Requests per predict call with "
			    "server_side_batching.");
	for (glia_route *r = gw->routes; r; r = r->next_route) {
		if (!r->stats.batch.count)
			continue;
		api_label(lab, r, NULL);
		glia_metrics_size_histogram(out, "glia_batch_size", lab->data,
					    &r->stats.batch);
	}
}

/* TrafficSplitters: requests each sent to each of its APIs. */
static void metrics_split(glia_gateway *gw, glia_buf *out, glia_buf *lab)
{
	glia_metrics_header(out, "glia_split_requests_total", "counter",
			    "Requests a TrafficSplitter sent to each of its "
			    "APIs (copies, for the shadow).");
	for (glia_route *r = gw->routes; r; r = r->next_route) {
		for (size_t i = 0; i < r->n_split; i++) {
			api_label(lab, r, ",target=\"");
			glia_metrics_escape(lab, r->split[i].api);
			glia_buf_puts(lab, "\"");
			glia_metrics_sample(out, "glia_split_requests_total",
					    lab->data,
					    (double)r->split[i].requests);
		}
	}
}

static void metrics_load(glia_gateway *gw, glia_buf *out, glia_buf *lab)
{
	metrics_split(gw, out, lab);
	glia_metrics_header(out, "glia_in_flight_requests", "gauge",
			    "Requests in glia now, running or queued (what "
			    "the autoscaler follows).");
	for (glia_route *r = gw->routes; r; r = r->next_route) {
		api_label(lab, r, NULL);
		glia_metrics_sample(out, "glia_in_flight_requests", lab->data,
				    r->in_flight + r->queued);
	}
	glia_metrics_header(out, "glia_queued_requests", "gauge",
			    "Requests waiting in the gateway for a replica.");
	for (glia_route *r = gw->routes; r; r = r->next_route) {
		api_label(lab, r, NULL);
		glia_metrics_sample(out, "glia_queued_requests", lab->data,
				    r->queued);
	}
	glia_metrics_header(out, "glia_rejected_requests_total", "counter",
			    "Requests glia answered itself with 503 or 504, by "
			    "reason.");
	for (glia_route *r = gw->routes; r; r = r->next_route) {
		static const char *reasons[] = {"overloaded", "unavailable",
						"timeout"};
		uint64_t n[] = {r->stats.rejected_overloaded,
				r->stats.rejected_unavailable,
				r->stats.rejected_timeout};
		for (int i = 0; i < 3; i++) {
			char extra[48];
			snprintf(extra, sizeof extra, ",reason=\"%s\"",
				 reasons[i]);
			api_label(lab, r, extra);
			glia_metrics_sample(out, "glia_rejected_requests_total",
					    lab->data, (double)n[i]);
		}
	}
}

static void metrics_predictions(glia_gateway *gw, glia_buf *out,
				glia_buf *lab)
{
	glia_metrics_header(out, "glia_prediction_class_total", "counter",
			    "Predicted classes of APIs with monitoring "
			    "model_type classification.");
	for (glia_route *r = gw->routes; r; r = r->next_route) {
		const glia_prediction_stats *ps = &r->stats.predictions;
		for (size_t i = 0; i <= GLIA_MAX_CLASSES; i++) {
			if (i >= ps->n_classes && i != GLIA_MAX_CLASSES)
				continue;
			if (!ps->classes[i].count)
				continue;
			api_label(lab, r, ",class=\"");
			glia_metrics_escape(lab, ps->classes[i].label);
			glia_buf_puts(lab, "\"");
			glia_metrics_sample(out, "glia_prediction_class_total",
					    lab->data,
					    (double)ps->classes[i].count);
		}
	}
	/* glia_prediction_value is a summary without quantiles (its _sum and
	 * _count); min and max are gauges of their own. */
	static const char *const families[] = {"glia_prediction_value",
					       "glia_prediction_value_min",
					       "glia_prediction_value_max"};
	static const char *const types[] = {"summary", "gauge", "gauge"};
	static const char *const helps[] = {
		"Predicted values (monitoring model_type regression).",
		"Smallest predicted value (monitoring model_type regression).",
		"Largest predicted value (monitoring model_type regression)."};
	static const char *const names[] = {
		"glia_prediction_value_sum", "glia_prediction_value_count",
		"glia_prediction_value_min", "glia_prediction_value_max"};
	static const int family_of[] = {0, 0, 1, 2};
	for (int k = 0; k < 4; k++) {
		if (k != 1)
			glia_metrics_header(out, families[family_of[k]],
					    types[family_of[k]],
					    helps[family_of[k]]);
		for (glia_route *r = gw->routes; r; r = r->next_route) {
			const glia_prediction_stats *ps =
				&r->stats.predictions;
			if (ps->type != GLIA_MONITOR_REGRESSION || !ps->count)
				continue;
			double v[] = {ps->sum, (double)ps->count, ps->min,
				      ps->max};
			api_label(lab, r, NULL);
			glia_metrics_sample(out, names[k], lab->data, v[k]);
		}
	}
}

static void serve_metrics(glia_gateway *gw, glia_httpd_conn *c,
			  const char *extra)
{
	glia_buf out, lab;
	glia_buf_init(&out, 0);
	glia_buf_init(&lab, 0);
	glia_metrics_header(&out, "glia_build_info", "gauge",
			    "Always 1; the version is a label.");
	glia_metrics_sample(&out, "glia_build_info",
			    "version=\"" GLIA_VERSION "\"", 1);
	metrics_requests(gw, &out, &lab);
	metrics_load(gw, &out, &lab);
	metrics_predictions(gw, &out, &lab);
	if (gw->metrics_cb)
		gw->metrics_cb(gw->metrics_arg, &out);
	glia_httpd_respond(c, 200, "text/plain; version=0.0.4; charset=utf-8",
			   out.data, out.len, extra);
	glia_buf_free(&out);
	glia_buf_free(&lab);
}

void glia_gateway_set_metrics_cb(glia_gateway *gw, glia_metrics_cb cb,
				 void *arg)
{
	gw->metrics_cb = cb;
	gw->metrics_arg = arg;
}

void glia_gateway_set_repository_cb(glia_gateway *gw, glia_repository_cb cb,
				    void *arg)
{
	gw->repository_cb = cb;
	gw->repository_arg = arg;
}

static void handle_api(glia_gateway *gw, glia_httpd_conn *c,
		       const glia_http_msg *m, glia_route *r,
		       const char *rest, const char *id)
{
	if (strcmp(m->method, "GET") == 0 && *rest == '\0' &&
	    r->description) {
		char extra[REQUEST_ID_MAX + 64];
		id_header(extra, sizeof extra, id);
		glia_httpd_respond(c, 200, "application/json", r->description,
				   strlen(r->description), extra);
		return;
	}
	forward f = {rest, NULL, NULL};
	if (r->n_split) {
		split_request(gw, c, m, r, &f, id);
		return;
	}
	route_request(gw, c, m, r, &f, id);
}

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

static void respond_err(glia_httpd_conn *c, int status, const char *msg,
			const char *id);

/* The route serving model, or NULL after answering 404. */
static glia_route *route_or_404(glia_gateway *gw, glia_httpd_conn *c,
				const char *model, const char *id)
{
	glia_route *r = route_by_model(gw, model);
	if (!r) {
		char msg[200];
		snprintf(msg, sizeof msg, "model '%s' not found", model);
		respond_err(c, 404, msg, id);
	}
	return r;
}

static void respond_json(glia_httpd_conn *c, int status, const char *body,
			 const char *id)
{
	char extra[REQUEST_ID_MAX + 64];
	id_header(extra, sizeof extra, id);
	glia_httpd_respond(c, status, "application/json", body, strlen(body),
			   extra);
}

static void respond_err(glia_httpd_conn *c, int status, const char *msg,
			const char *id)
{
	char extra[REQUEST_ID_MAX + 64];
	id_header(extra, sizeof extra, id);
	glia_httpd_respond_error(c, status, msg, extra);
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
		r = split_target_route(gw, c, r, id);
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
	route_request(gw, c, m, r, &f, id);
}

static void respond_value(glia_httpd_conn *c, int status, json_t *v,
			  const char *id)
{
	char *text = json_dumps(v, JSON_COMPACT);
	respond_json(c, status, text ? text : "{}", id);
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
		respond_err(c, 404, "no such OIP route", id);
		return;
	}
	if (strcmp(p, "/index") == 0) {
		json_t *body = m->body_len ? json_loadb(m->body, m->body_len,
							0, NULL)
					   : json_object();
		if (!json_is_object(body)) {
			json_decref(body);
			respond_err(c, 400, "the index request must be a JSON "
				    "object like {\"ready\": true}", id);
			return;
		}
		int ready = json_is_true(json_object_get(body, "ready"));
		json_decref(body);
		json_t *v = gw->repository_cb(gw->repository_arg, "index",
					      NULL, ready, &status);
		respond_value(c, status, v, id);
		return;
	}
	if (strncmp(p, "/models/", 8) != 0 ||
	    split_model_path(p + 8, model, sizeof model, version,
			     sizeof version, &tail, "/") < 0 ||
	    (strcmp(tail, "/load") != 0 && strcmp(tail, "/unload") != 0)) {
		respond_err(c, 404, "no such OIP route", id);
		return;
	}
	json_t *v = gw->repository_cb(gw->repository_arg, tail + 1, model, 0,
				      &status);
	respond_value(c, status, v, id);
}

static void handle_v2(glia_gateway *gw, glia_httpd_conn *c,
		      const glia_http_msg *m, const char *id)
{
	const char *p = m->path;
	int get = strcmp(m->method, "GET") == 0;
	if (strcmp(p, "/v2") == 0 && get) {
		respond_json(c, 200,
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
		respond_json(c, 200, "{\"live\":true}", id);
		return;
	}
	if (strcmp(p, "/v2/health/ready") == 0 && get) {
		respond_json(c, 200, "{\"ready\":true}", id);
		return;
	}
	char model[128], version[64], msg[300];
	const char *tail;
	if (strncmp(p, "/v2/models/", 11) != 0 ||
	    split_model_path(p + 11, model, sizeof model, version,
			     sizeof version, &tail, "/") < 0) {
		respond_err(c, 404, "no such OIP route", id);
		return;
	}
	glia_route *r = route_or_404(gw, c, model, id);
	if (!r)
		return;
	if (strcmp(tail, "/ready") == 0 && get) {
		int ready = route_ready(gw, r);
		snprintf(msg, sizeof msg, "{\"name\":\"%s\",\"ready\":%s}",
			 model, ready ? "true" : "false");
		respond_json(c, ready ? 200 : 400, msg, id);
	} else if (strcmp(tail, "/infer") == 0 &&
		   strcmp(m->method, "POST") == 0) {
		forward_protocol(gw, c, m, r, "v2-infer", NULL, model, version,
				 id);
	} else if (*tail == '\0' && get) {
		forward_protocol(gw, c, m, r, "v2-metadata", "GET", model,
				 version, id);
	} else {
		respond_err(c, 404, "no such OIP route", id);
	}
}

static void handle_v1(glia_gateway *gw, glia_httpd_conn *c,
		      const glia_http_msg *m, const char *id)
{
	char model[128], version[64], msg[400];
	const char *tail;
	if (split_model_path(m->path + 11, model, sizeof model, version,
			     sizeof version, &tail, "/:") < 0) {
		respond_err(c, 404, "no such V1 route", id);
		return;
	}
	glia_route *r = route_or_404(gw, c, model, id);
	if (!r)
		return;
	if (strcmp(tail, ":predict") == 0 && strcmp(m->method, "POST") == 0) {
		forward_protocol(gw, c, m, r, "v1-predict", NULL, model,
				 version, id);
	} else if (*tail == '\0' && strcmp(m->method, "GET") == 0) {
		int ready = has_backend(r);
		snprintf(msg, sizeof msg,
			 "{\"model_version_status\":[{\"version\":\"%s\","
			 "\"state\":\"%s\",\"status\":{\"error_code\":"
			 "\"OK\",\"error_message\":\"\"}}]}",
			 *version ? version : "1",
			 ready ? "AVAILABLE" : "UNAVAILABLE");
		respond_json(c, 200, msg, id);
	} else {
		respond_err(c, 404, "no such V1 route", id);
	}
}

static void on_request(glia_httpd_conn *c, const glia_http_msg *m,
		       void *data)
{
	glia_gateway *gw = data;
	char id[REQUEST_ID_MAX + 1];
	const char *given = glia_http_msg_header(m, "X-Request-ID");
	if (given && valid_request_id(given))
		snprintf(id, sizeof id, "%s", given);
	else
		make_request_id(gw, id);
	char extra[REQUEST_ID_MAX + 64];
	id_header(extra, sizeof extra, id);

	if (strcmp(m->path, "/healthz") == 0) {
		static const char ok[] = "{\"status\":\"ok\"}";
		glia_httpd_respond(c, 200, "application/json", ok,
				   sizeof ok - 1, extra);
		return;
	}
	if (strcmp(m->path, "/metrics") == 0 && strcmp(m->method, "GET") == 0) {
		serve_metrics(gw, c, extra);
		return;
	}
	if (strncmp(m->path, "/v2", 3) == 0 &&
	    (m->path[3] == '\0' || m->path[3] == '/')) {
		handle_v2(gw, c, m, id);
		return;
	}
	if (strncmp(m->path, "/v1/models/", 11) == 0) {
		handle_v1(gw, c, m, id);
		return;
	}
	const char *rest = NULL;
	glia_route *r = glia_router_match(gw->router, m->path,
					  strlen(m->path), &rest);
	if (!r) {
		char msg[300];
		snprintf(msg, sizeof msg, "no API at %.200s", m->path);
		glia_httpd_respond_error(c, 404, msg, extra);
		return;
	}
	handle_api(gw, c, m, r, rest, id);
}

/* ---- routes and life cycle ----------------------------------------- */

glia_route *glia_gateway_add_route(glia_gateway *gw, const char *endpoint,
				   const char *api_name)
{
	glia_route *r = glia_calloc(1, sizeof *r);
	if (glia_router_add(gw->router, endpoint, r) < 0) {
		free(r);
		return NULL;
	}
	r->gw = gw;
	r->endpoint = glia_strdup(endpoint);
	r->api_name = glia_strdup(api_name);
	r->timeout_ms = 60000;
	r->max_concurrency = 1024;
	r->refs = 1; /* the router's */
	r->next_route = gw->routes;
	if (gw->routes)
		gw->routes->prev_route = r;
	gw->routes = r;
	return r;
}

void glia_gateway_remove_route(glia_gateway *gw, glia_route *r,
			       const char *why)
{
	glia_router_remove(gw->router, r->endpoint);
	r->removed = 1;
	if (r->prev_route)
		r->prev_route->next_route = r->next_route;
	else
		gw->routes = r->next_route;
	if (r->next_route)
		r->next_route->prev_route = r->prev_route;
	greq *q;
	while ((q = queue_pop(r)) != NULL)
		req_fail(q, 503, why);
	route_unref(r);
}

void glia_route_configure(glia_route *r, int64_t timeout_ms,
			  int max_concurrency)
{
	r->timeout_ms = timeout_ms;
	r->max_concurrency = max_concurrency > 0 ? max_concurrency : 1;
}

void glia_route_set_description(glia_route *r, const char *json)
{
	free(r->description);
	r->description = json ? glia_strdup(json) : NULL;
}

void glia_route_set_unavailable(glia_route *r, const char *msg)
{
	free(r->unavailable);
	r->unavailable = msg ? glia_strdup(msg) : NULL;
	if (!msg)
		return;
	/* Requests waiting for a replica that will not come: answer now. */
	if (!has_backend(r)) {
		greq *q;
		while ((q = queue_pop(r)) != NULL)
			req_fail(q, 503, msg);
	}
}

void glia_route_set_demand_cb(glia_route *r, void (*cb)(void *), void *arg)
{
	r->on_demand = cb;
	r->demand_arg = arg;
}

void glia_route_set_split(glia_route *r, const glia_split_target *targets,
			  size_t n)
{
	for (size_t i = 0; i < r->n_split; i++)
		free(r->split[i].api);
	free(r->split);
	r->split = NULL;
	r->n_split = 0;
	if (!n)
		return;
	r->split = glia_calloc(n, sizeof *r->split);
	for (size_t i = 0; i < n; i++) {
		r->split[i].api = glia_strdup(targets[i].api);
		r->split[i].weight = targets[i].weight;
		r->split[i].shadow = targets[i].shadow;
	}
	r->n_split = n;
}

uint64_t glia_route_split_count(const glia_route *r, size_t i)
{
	return i < r->n_split ? r->split[i].requests : 0;
}

void glia_route_set_passthrough(glia_route *r, int on)
{
	r->passthrough = on;
}

void glia_route_set_monitoring(glia_route *r, int type)
{
	r->stats.predictions.type = type;
}

void glia_route_set_ready_replicas(glia_route *r, int n)
{
	r->ready_replicas = n;
}

const glia_route_stats *glia_route_get_stats(const glia_route *r)
{
	return &r->stats;
}

int glia_route_in_flight(const glia_route *r)
{
	return r->in_flight;
}

int glia_route_queued(const glia_route *r)
{
	return r->queued;
}

static uint64_t random_seed(void)
{
	uint64_t s = 0;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, &s, sizeof s) != (ssize_t)sizeof s)
			s = 0;
		close(fd);
	}
	return s ^ (uint64_t)getpid() ^ (uint64_t)(glia_wall() * 1e6);
}

glia_gateway *glia_gateway_new(uv_loop_t *loop,
			       const glia_gateway_options *opt, char *err,
			       size_t errlen)
{
	glia_gateway *gw = glia_calloc(1, sizeof *gw);
	gw->loop = loop;
	gw->opt = *opt;
	if (!gw->opt.max_response_bytes)
		gw->opt.max_response_bytes = 256u << 20;
	gw->router = glia_router_new();
	gw->rid_seed = random_seed();
	glia_http_limits lim = {64 * 1024, opt->max_body_bytes};
	gw->httpd = glia_httpd_listen_tcp(loop, opt->host, opt->port, &lim,
					  on_request, gw, err, errlen);
	if (!gw->httpd) {
		glia_router_free(gw->router);
		free(gw);
		return NULL;
	}
	return gw;
}

void glia_gateway_close(glia_gateway *gw)
{
	glia_httpd_close(gw->httpd);
	gw->httpd = NULL;
}
