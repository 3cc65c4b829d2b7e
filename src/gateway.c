/* gateway.c: see gateway.h and gateway_int.h. The way of a request:
 * on_request (route) -> route queue -> gw_dispatch (pick a backend) ->
 * upstream.c (send, parse the answer) -> gw_request_answered (answer the
 * client, account) or gw_request_failed (retry or fail). */
#include "gateway.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway_int.h"
#include "logs.h"
#include "util.h"

static void observe_prediction(glia_route *r, const glia_http_msg *m);
static void observe_predict_time(glia_route *r, const glia_http_msg *m);
static void observe_batch_size(glia_route *r, const glia_http_msg *m);
static void answer_client(greq *q, const glia_http_msg *m, glia_http_parser *p);

/* ---- accounting and answers ---------------------------------------- */

void gw_route_unref(glia_route *r)
{
	if (--r->refs > 0 || !r->removed)
		return;
	glia_route_set_split(r, NULL, 0);
	glia_policy_free(r->policy);
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
void gw_access_line(glia_route *r, const greq *q, int status, size_t bytes,
                    double took)
{
	glia_logs *logs = r->gw->opt.access_log;
	if (!logs)
		return;
	char line[512];
	int n = snprintf(
	    line, sizeof line, "%s \"%s %s\" %d %zuB %.3fms rid=%s", q->peer,
	    q->method, q->path, status, bytes, took * 1000.0, q->id);
	if (n > 0)
		glia_logs_access(logs, r->api_name, line,
		                 (size_t)n < sizeof line ? (size_t)n
		                                         : sizeof line - 1);
}

void gw_account(glia_route *r, int status, double start, const char *id,
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

void gw_req_release(greq *q)
{
	uv_timer_stop(&q->timer);
	if (q->up) /* never so today: a write of its body must not outlive it */
		gw_upstream_abandon(q);
	q->body = NULL;
	q->body_len = 0;
	if (q->client)
		glia_httpd_set_owner(q->client, NULL, NULL);
	q->client = NULL;
	q->up = NULL;
	if (q->route) {
		glia_route *r = q->route;
		q->route = NULL;
		gw_route_unref(r);
	}
	if (q->upreq.cap > (256u << 10))
		glia_buf_free(&q->upreq); /* a big head or shadow body is not
		                           * kept for reuse */
	glia_buf_reset(&q->upreq);
	q->next = q->gw->free_reqs;
	q->gw->free_reqs = q;
}

void gw_id_header(char *out, size_t n, const char *id)
{
	snprintf(out, n, "X-Request-ID: %s\r\n", id);
}

void gw_req_fail(greq *q, int status, const char *msg)
{
	if (q->route) {
		gw_account(q->route, status, q->start, q->id, msg, strlen(msg));
		gw_access_line(q->route, q, status, strlen(msg),
		               glia_now() - q->start);
		if (status == 504)
			q->route->stats.rejected_timeout++;
	}
	if (q->client) {
		char extra[REQUEST_ID_MAX + 64 + GLIA_CORS_LINES_MAX];
		gw_id_header(extra, sizeof extra, q->id);
		strcat(extra, q->cors);
		if (status == 503)
			strcat(extra, "Retry-After: 1\r\n");
		glia_httpd_respond_error(q->client, status, msg, extra);
	}
	gw_req_release(q);
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

void gw_queue_push(glia_route *r, greq *q)
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

greq *gw_queue_pop(glia_route *r)
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

void gw_dispatch(glia_route *r)
{
	while (r->queue_head) {
		glia_backend *b = gw_pick_backend(r, r->queue_head);
		if (!b)
			return;
		greq *q = gw_queue_pop(r);
		gw_send(q, b);
	}
}

void gw_queue_push_front(glia_route *r, greq *q)
{
	q->next = r->queue_head;
	q->queued = 1;
	r->queue_head = q;
	if (!r->queue_tail)
		r->queue_tail = q;
	r->queued++;
}

/* A connect that failed (refused, no such socket) never delivered the
 * request: it is sent again, to another backend, up to this many times. */
#define MAX_UNDELIVERED 8
/* "Overloaded" answers of workers that other gateways fill too. */
#define MAX_OVERLOAD_RETRIES 1000

void gw_request_failed(greq *q, glia_backend *b, int delivered, int got_bytes,
                       const char *why)
{
	glia_route *r = q->route;
	int alive = q->client && r && !r->removed;
	if (alive && !delivered && q->undelivered < MAX_UNDELIVERED) {
		q->undelivered++;
		gw_queue_push_front(r, q);
		return;
	}
	if (alive && !got_bytes && q->retries == 0 && !r->no_retry) {
		/* The replica died or closed before answering: the request
		 * may have run (docs/http.md, "Retries"); it is sent once
		 * more, elsewhere. */
		q->retries++;
		r->stats.retries++;
		gw_queue_push_front(r, q);
		return;
	}
	char msg[320];
	if (r && r->no_retry && delivered && !got_bytes) {
		snprintf(msg, sizeof msg,
		         "replica failed: %s; not resent (networking.retries is "
		         "false): the request may have run",
		         why);
		gw_req_fail(q, 502, msg);
		return;
	}
	snprintf(msg, sizeof msg, "replica failed: %s", why);
	gw_req_fail(q, 500, msg);
}

int gw_request_answered(greq *q, glia_backend *b, glia_http_parser *p)
{
	const glia_http_msg *m = glia_http_parser_msg(p);
	glia_route *r = q->route;
	if (m->status == 503 && q->client && !r->removed &&
	    q->overload_retries < MAX_OVERLOAD_RETRIES &&
	    glia_http_msg_header(m, "X-Glia-Overloaded")) {
		/* A worker shared with other gateways is full, or draining:
		 * the request did not run there; it waits for room. */
		q->overload_retries++;
		q->avoid = b;
		gw_queue_push_front(r, q);
		return 1;
	}
	gw_account(r, m->status, q->start, q->id, m->body, m->body_len);
	gw_access_line(r, q, m->status, m->body_len, glia_now() - q->start);
	observe_predict_time(r, m);
	observe_prediction(r, m);
	observe_batch_size(r, m);
	if (q->client)
		answer_client(q, m, p);
	gw_req_release(q);
	return 0;
}

/* Headers of a replica's answer not passed on to the client. A relay (a
 * worker's front) passes the X-Glia-* lines on to the gateway before it. */
static int skip_upstream_header(const char *name, int relay)
{
	if (relay && strncasecmp(name, "x-glia-", 7) == 0)
		return strcasecmp(name, "x-glia-overloaded") == 0;
	static const char *hop[] = {"connection",
	                            "keep-alive",
	                            "transfer-encoding",
	                            "content-length",
	                            "x-request-id",
	                            "date",
	                            "server",
	                            "x-glia-predict-time",
	                            "x-glia-prediction",
	                            "x-glia-batch-size",
	                            "x-glia-overloaded"};
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

/* The replica's answer m (parsed by p) to q's client: a big body is
 * passed on without a copy. */
static void answer_client(greq *q, const glia_http_msg *m, glia_http_parser *p)
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
		if (skip_upstream_header(h->name, q->gw->relay != NULL) ||
		    (q->cors[0] && strncasecmp(h->name, "access-control-", 15) == 0))
			continue;
		glia_buf_append(out, h->name, h->name_len);
		glia_buf_puts(out, ": ");
		glia_buf_append(out, h->value, h->value_len);
		glia_buf_puts(out, "\r\n");
	}
	glia_buf_puts(out, q->cors);
	append_id_and_length(out, q->id, m->body_len);
	glia_http_body big;
	if (glia_http_parser_take_body(p, &big)) {
		glia_httpd_finish_body(q->client, 1, &big);
		return;
	}
	glia_buf_append(out, m->body, m->body_len);
	glia_httpd_finish(q->client, 1);
}

/* ---- client side ----------------------------------------------------- */

static void req_timeout_cb(uv_timer_t *t)
{
	greq *q = t->data;
	glia_route *r = q->route;
	r->refs++;
	if (q->queued)
		queue_remove(r, q);
	else
		gw_upstream_abandon(q);
	char msg[160];
	snprintf(msg, sizeof msg, "request timed out after %.3gs",
	         (double)r->timeout_ms / 1000.0);
	gw_req_fail(q, 504, msg);
	gw_dispatch(r);
	gw_route_unref(r);
}

/* Its client left: out of the queue, with an access line 499 (nginx's
 * "client closed request"); not counted as an answer. */
static void drop_queued(greq *q)
{
	gw_access_line(q->route, q, 499, 0, glia_now() - q->start);
	queue_remove(q->route, q);
	gw_req_release(q);
}

/* The client ended its side while its request waits in the queue: the
 * request is dropped and never runs. Once started it runs to its answer
 * (a half-closed client still reads it). */
static void client_eof(glia_httpd_conn *c, void *owner)
{
	greq *q = owner;
	if (!q->queued)
		return;
	drop_queued(q);
	glia_httpd_abort(c);
}

static void client_gone(glia_httpd_conn *c, void *owner)
{
	greq *q = owner;
	q->client = NULL;
	q->body = NULL; /* freed with the client's parser */
	if (q->queued) {
		drop_queued(q);
		return;
	}
	if (q->up && !q->up->written) {
		/* Still being written: it stops (the replica never gets it
		 * whole, so never runs it) and is over. */
		glia_route *r = q->route;
		r->refs++;
		gw_upstream_abandon(q);
		gw_access_line(r, q, 499, 0, glia_now() - q->start);
		gw_req_release(q);
		gw_dispatch(r);
		gw_route_unref(r);
	}
	/* Delivered: the answer is read and dropped, keeping the connection
	 * usable. */
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

/* 24 random hex digits: nothing in an id tells the pid, the start time
 * or how many requests came before. */
static void make_request_id(char *out)
{
	unsigned long long hi = glia_httpd_random64();
	unsigned long long lo = glia_httpd_random64() & 0xffffffffULL;
	snprintf(out, REQUEST_ID_MAX, "%016llx%08llx", hi, lo);
}

/* Hop-by-hop headers, ours (X-Request-ID is set anew) and X-Glia-*: only
 * the gateway speaks those to replicas. */
static int skip_client_header(const char *name, int relay)
{
	static const char *hop[] = {
	    "connection",        "keep-alive",   "content-length",
	    "transfer-encoding", "x-request-id", "expect",
	    "upgrade",           "te",           "proxy-connection"};
	if (strncasecmp(name, "x-glia-", 7) == 0)
		return !relay;
	for (size_t i = 0; i < sizeof hop / sizeof *hop; i++)
		if (strcasecmp(name, hop[i]) == 0)
			return 1;
	return 0;
}

/* The request as the replica gets it: the head in q->upreq; the body
 * borrowed from the client's message (no copy: a big body is held once)
 * or, for a request no client waits for (a shadow's), copied after it. */
static void build_upstream_request(greq *q, const glia_http_msg *m,
                                   const forward *f, int borrow)
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
		if (skip_client_header(h->name, q->gw->relay != NULL) ||
		    gw_policy_hides_header(q->route, h))
			continue;
		glia_buf_append(o, h->name, h->name_len);
		glia_buf_puts(o, ": ");
		glia_buf_append(o, h->value, h->value_len);
		glia_buf_puts(o, "\r\n");
	}
	if (f->extra)
		glia_buf_puts(o, f->extra);
	append_id_and_length(o, q->id, m->body_len);
	q->body = NULL;
	q->body_len = 0;
	if (borrow) {
		q->body = m->body;
		q->body_len = m->body_len;
	} else {
		glia_buf_append(o, m->body, m->body_len);
	}
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
static greq *req_start(glia_gateway *gw, glia_route *r, const glia_http_msg *m,
                       const forward *f, const char *id, glia_httpd_conn *c)
{
	greq *q = req_new(gw);
	q->route = r;
	r->refs++;
	q->client = NULL;
	q->start = glia_now();
	q->retries = 0; /* a recycled request starts over */
	q->undelivered = 0;
	q->overload_retries = 0;
	q->avoid = NULL;
	snprintf(q->id, sizeof q->id, "%s", id);
	snprintf(q->method, sizeof q->method, "%s", m->method);
	snprintf(q->path, sizeof q->path, "%s", m->path);
	snprintf(q->peer, sizeof q->peer, "%s",
	         c ? glia_httpd_peer(c) : "shadow");
	snprintf(q->cors, sizeof q->cors, "%s", gw->cors_now);
	build_upstream_request(q, m, f, c != NULL);
	if (r->timeout_ms > 0)
		uv_timer_start(&q->timer, req_timeout_cb,
		               (uint64_t)r->timeout_ms, 0);
	return q;
}

void gw_route_request(glia_gateway *gw, glia_httpd_conn *c,
                      const glia_http_msg *m, glia_route *r, const forward *f,
                      const char *id)
{
	char extra[REQUEST_ID_MAX + 64 + GLIA_CORS_LINES_MAX];
	gw_id_header(extra, sizeof extra, id);
	strcat(extra, gw->cors_now);
	if (r->unavailable && !gw_has_backend(r)) {
		gw_account(r, 503, glia_now(), id, r->unavailable,
		           strlen(r->unavailable));
		r->stats.rejected_unavailable++;
		strcat(extra, "Retry-After: 5\r\n");
		glia_httpd_respond_error(c, 503, r->unavailable, extra);
		return;
	}
	if (overloaded(r)) {
		static const char why[] = "overloaded";
		gw_account(r, 503, glia_now(), id, why, sizeof why - 1);
		r->stats.rejected_overloaded++;
		strcat(extra, "Retry-After: 1\r\n");
		if (gw->relay) /* the gateway before it tries elsewhere */
			strcat(extra, "X-Glia-Overloaded: 1\r\n");
		glia_httpd_respond_error(
		    c, 503, "overloaded: too many requests in flight", extra);
		return;
	}
	greq *q = req_start(gw, r, m, f, id, c);
	q->client = c;
	glia_httpd_set_owner(c, client_gone, q);
	glia_httpd_set_eof_cb(c, client_eof);
	gw_queue_push(r, q);
	if (!gw_has_backend(r) && r->on_demand)
		r->on_demand(r->demand_arg);
	gw_dispatch(r);
}

/* ---- TrafficSplitter ----------------------------------------------------- */

glia_route *gw_route_by_name(glia_gateway *gw, const char *api)
{
	for (glia_route *r = gw->routes; r; r = r->next_route)
		if (strcmp(r->api_name, api) == 0 && !r->n_split)
			return r;
	return NULL;
}

/* A route can answer: it has a backend, or (a splitter) every API it
 * sends requests to has one. */
int gw_route_ready(glia_gateway *gw, glia_route *r)
{
	if (!r->n_split)
		return gw_has_backend(r);
	for (size_t i = 0; i < r->n_split; i++) {
		const split_target *t = &r->split[i];
		glia_route *to = t->shadow || t->weight <= 0
		                     ? NULL
		                     : gw_route_by_name(gw, t->api);
		if (!t->shadow && t->weight > 0 && (!to || !gw_has_backend(to)))
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
	if (!gw_has_backend(r) || overloaded(r))
		return;
	gw_queue_push(r, req_start(gw, r, m, f, id, NULL));
	gw_dispatch(r);
}

/* The shadow's weight is the percentage of requests copied to it (as
 * Cortex's Istio mirror percentage), spread evenly and deterministically:
 * it gains its weight on every request and a copy costs 100, so any 100
 * requests in a row give exactly `weight` copies. */
static int mirror_due(split_target *t)
{
	t->current += t->weight;
	if (t->current < 100)
		return 0;
	t->current -= 100;
	return 1;
}

static void send_shadow(glia_gateway *gw, const glia_http_msg *m, glia_route *r,
                        const forward *f, const char *id)
{
	for (size_t i = 0; i < r->n_split; i++) {
		split_target *t = &r->split[i];
		glia_route *to = t->shadow && mirror_due(t)
		                     ? gw_route_by_name(gw, t->api)
		                     : NULL;
		if (to) {
			t->requests++;
			shadow_request(gw, m, to, f, id);
		}
	}
}

/* The API a splitter's request goes to, or NULL after answering 503. */
glia_route *gw_split_target_route(glia_gateway *gw, glia_httpd_conn *c,
                                  glia_route *r, const char *id)
{
	split_target *t = split_pick(r);
	glia_route *to = t ? gw_route_by_name(gw, t->api) : NULL;
	if (!to) {
		char msg[200];
		snprintf(msg, sizeof msg,
		         "traffic splitter %s: API %s is not deployed",
		         r->api_name, t ? t->api : "?");
		gw_account(r, 503, glia_now(), id, msg, strlen(msg));
		gw_respond_err(c, 503, msg, id);
		return NULL;
	}
	t->requests++;
	return to;
}

static void split_request(glia_gateway *gw, glia_httpd_conn *c,
                          const glia_http_msg *m, glia_route *r,
                          const forward *f, const char *id)
{
	glia_route *to = gw_split_target_route(gw, c, r, id);
	if (!to)
		return;
	send_shadow(gw, m, r, f, id);
	gw_route_request(gw, c, m, to, f, id);
}

static void handle_api(glia_gateway *gw, glia_httpd_conn *c,
                       const glia_http_msg *m, glia_route *r, const char *rest,
                       const char *id)
{
	if (!gw_policy_admit(gw, c, m, r, id))
		return;
	if (strcmp(m->method, "GET") == 0 && *rest == '\0' && r->description) {
		char extra[REQUEST_ID_MAX + 64 + GLIA_CORS_LINES_MAX];
		gw_id_header(extra, sizeof extra, id);
		strcat(extra, gw->cors_now);
		glia_httpd_respond(c, 200, "application/json", r->description,
		                   strlen(r->description), extra);
		return;
	}
	forward f = {rest, NULL, NULL};
	if (r->n_split) {
		split_request(gw, c, m, r, &f, id);
		return;
	}
	gw_route_request(gw, c, m, r, &f, id);
}

void gw_respond_json(glia_httpd_conn *c, int status, const char *body,
                     const char *id)
{
	char extra[REQUEST_ID_MAX + 64];
	gw_id_header(extra, sizeof extra, id);
	glia_httpd_respond(c, status, "application/json", body, strlen(body),
	                   extra);
}

void gw_respond_err(glia_httpd_conn *c, int status, const char *msg,
                    const char *id)
{
	char extra[REQUEST_ID_MAX + 64];
	gw_id_header(extra, sizeof extra, id);
	glia_httpd_respond_error(c, status, msg, extra);
}

/* Relay mode (a worker's front, `glia worker --api`): every request goes
 * to the one route as it came, with the X-Glia-* lines the gateway before
 * it wrote; /healthz says whether the replica is ready; while draining
 * every request is refused with X-Glia-Overloaded, so that gateway sends
 * it elsewhere. */
static void relay_request(glia_gateway *gw, glia_httpd_conn *c,
                          const glia_http_msg *m, const char *id,
                          const char *extra)
{
	glia_route *r = gw->relay;
	int get = strcmp(m->method, "GET") == 0;
	int ready = !gw->draining && gw_has_backend(r);
	if (strcmp(m->path, "/healthz") == 0) {
		static const char ok[] = "{\"status\":\"ok\"}";
		const char *no = gw->draining ? "{\"status\":\"draining\"}"
		                              : "{\"status\":\"starting\"}";
		glia_httpd_respond(c, ready ? 200 : 503, "application/json",
		                   ready ? ok : no, strlen(ready ? ok : no),
		                   extra);
		return;
	}
	if (strcmp(m->path, "/livez") == 0) {
		static const char ok[] = "{\"status\":\"ok\"}";
		glia_httpd_respond(c, 200, "application/json", ok,
		                   sizeof ok - 1, extra);
		return;
	}
	if (strcmp(m->path, "/metrics") == 0 && get) {
		gw_serve_metrics(gw, c, extra);
		return;
	}
	if (gw->draining) {
		char more[REQUEST_ID_MAX + 320];
		snprintf(more, sizeof more,
		         "%sRetry-After: 1\r\nX-Glia-Overloaded: 1\r\n", extra);
		glia_httpd_respond_error(c, 503,
		                         "draining: the replica is "
		                         "stopping",
		                         more);
		return;
	}
	forward f = {m->path, NULL, NULL};
	gw_route_request(gw, c, m, r, &f, id);
}

static void on_request(glia_httpd_conn *c, const glia_http_msg *m, void *data)
{
	glia_gateway *gw = data;
	char id[REQUEST_ID_MAX + 1];
	const char *given = glia_http_msg_header(m, "X-Request-ID");
	if (given && valid_request_id(given))
		snprintf(id, sizeof id, "%s", given);
	else
		make_request_id(id);
	char extra[REQUEST_ID_MAX + 64];
	gw_id_header(extra, sizeof extra, id);
	gw->cors_now[0] = '\0'; /* until gw_policy_admit sets it */

	if (gw->relay) {
		relay_request(gw, c, m, id, extra);
		return;
	}
	if (strcmp(m->path, "/healthz") == 0) {
		static const char ok[] = "{\"status\":\"ok\"}";
		glia_httpd_respond(c, 200, "application/json", ok,
		                   sizeof ok - 1, extra);
		return;
	}
	if (strcmp(m->path, "/metrics") == 0 && strcmp(m->method, "GET") == 0) {
		gw_serve_metrics(gw, c, extra);
		return;
	}
	if (strncmp(m->path, "/v2", 3) == 0 &&
	    (m->path[3] == '\0' || m->path[3] == '/')) {
		gw_handle_v2(gw, c, m, id);
		return;
	}
	if (strncmp(m->path, "/v1/models/", 11) == 0) {
		gw_handle_v1(gw, c, m, id);
		return;
	}
	const char *rest = NULL;
	glia_route *r =
	    glia_router_match(gw->router, m->path, strlen(m->path), &rest);
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

void glia_gateway_remove_route(glia_gateway *gw, glia_route *r, const char *why)
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
	while ((q = gw_queue_pop(r)) != NULL)
		gw_req_fail(q, 503, why);
	gw_route_unref(r);
}

void glia_route_configure(glia_route *r, int64_t timeout_ms,
                          int max_concurrency)
{
	r->timeout_ms = timeout_ms;
	r->max_concurrency = max_concurrency > 0 ? max_concurrency : 1;
}

static void set_description(glia_route *r, const char *json)
{
	free(r->description);
	r->description = json ? glia_strdup(json) : NULL;
}

/* What GET <endpoint> answers: the API's name, kind and endpoint, and its
 * predictor type or (a TrafficSplitter) its APIs. */
static char *describe(const glia_api_spec *sp)
{
	json_t *j = json_pack("{s:s, s:s, s:s}", "name", sp->name, "kind",
	                      sp->kind, "endpoint", sp->networking.endpoint);
	if (glia_spec_is_splitter(sp)) {
		json_t *apis = json_array();
		for (size_t i = 0; i < sp->n_split; i++)
			json_array_append_new(
			    apis, json_pack("{s:s, s:i, s:b}", "name",
			                    sp->split[i].api, "weight",
			                    sp->split[i].weight, "shadow",
			                    sp->split[i].shadow));
		json_object_set_new(j, "apis", apis);
	} else {
		json_object_set_new(j, "predictor_type",
		                    json_string(glia_predictor_type_name(
		                        sp->predictor.type)));
	}
	char *text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return text;
}

void glia_route_apply_spec(glia_route *r, const glia_api_spec *sp)
{
	glia_route_configure(r, sp->networking.timeout_ms,
	                     sp->autoscaling.max_replica_concurrency);
	glia_route_set_split(r, sp->split, sp->n_split);
	glia_route_set_passthrough(r, sp->predictor.type ==
	                                  GLIA_PREDICTOR_COMMAND);
	gw_policy_apply(r, sp);
	r->no_retry = !sp->networking.retries;
	glia_route_set_monitoring(r, !sp->monitoring.set ? GLIA_MONITOR_NONE
	                             : sp->monitoring.model_type ==
	                                     GLIA_MODEL_REGRESSION
	                                 ? GLIA_MONITOR_REGRESSION
	                                 : GLIA_MONITOR_CLASSIFICATION);
	/* a Cortex Handler's handle_get, and a Cortex pod's server (GET
	 * <endpoint> reached its container at /), answer GET themselves */
	char *desc = sp->predictor.handler || sp->pod ? NULL : describe(sp);
	set_description(r, desc);
	free(desc);
}


void glia_route_set_unavailable(glia_route *r, const char *msg)
{
	free(r->unavailable);
	r->unavailable = msg ? glia_strdup(msg) : NULL;
	if (!msg)
		return;
	/* Requests waiting for a replica that will not come: answer now. */
	if (!gw_has_backend(r)) {
		greq *q;
		while ((q = gw_queue_pop(r)) != NULL)
			gw_req_fail(q, 503, msg);
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

glia_gateway *glia_gateway_new(uv_loop_t *loop, const glia_gateway_options *opt,
                               char *err, size_t errlen)
{
	glia_gateway *gw = glia_calloc(1, sizeof *gw);
	gw->loop = loop;
	gw->opt = *opt;
	if (!gw->opt.max_response_bytes)
		gw->opt.max_response_bytes = 256u << 20;
	gw->router = glia_router_new();
	glia_http_limits lim = {64 * 1024, opt->max_body_bytes};
	gw->httpd = glia_httpd_listen_tcp(loop, opt->host, opt->port, &lim,
	                                  on_request, gw, err, errlen);
	if (!gw->httpd) {
		glia_router_free(gw->router);
		free(gw);
		return NULL;
	}
	glia_httpd_set_conn_limits(gw->httpd, opt->client_limits);
	const glia_httpd_conn_limits *cl = opt->client_limits;
	gw->answers.max = cl && cl->max_buffered
	                      ? cl->max_buffered
	                      : glia_httpd_default_max_buffered();
	if (gw->answers.max < gw->opt.max_response_bytes + (1u << 20))
		gw->answers.max = gw->opt.max_response_bytes + (1u << 20);
	uv_timer_init(loop, &gw->full_timer);
	gw->full_timer.data = gw;
	return gw;
}

glia_route *glia_gateway_find_route(glia_gateway *gw, const char *api_name)
{
	return gw_route_by_name(gw, api_name);
}

void glia_gateway_set_relay(glia_gateway *gw, glia_route *r)
{
	gw->relay = r;
}

void glia_gateway_set_draining(glia_gateway *gw, int on)
{
	gw->draining = on;
}

size_t glia_gateway_connections(const glia_gateway *gw)
{
	return gw->httpd ? glia_httpd_conn_count(gw->httpd) : 0;
}

void glia_gateway_close(glia_gateway *gw)
{
	uv_timer_stop(&gw->full_timer);
	if (gw->httpd)
		glia_httpd_close(gw->httpd);
	gw->httpd = NULL;
}

void glia_gateway_free(glia_gateway *gw)
{
	if (!gw)
		return;
	/* recycled requests: their timers were closed with the loop's
	 * other handles */
	while (gw->free_reqs) {
		greq *q = gw->free_reqs;
		gw->free_reqs = q->next;
		glia_buf_free(&q->upreq);
		free(q);
	}
	/* routes never removed (their owner did not remove them): freed when
	 * nothing but the router refers to them; one that a backend or a
	 * request still points to is left to its owner */
	glia_route *r = gw->routes;
	while (r) {
		glia_route *next = r->next_route;
		if (r->refs == 1 && !r->backends && !r->queue_head) {
			r->removed = 1;
			gw_route_unref(r);
		}
		r = next;
	}
	glia_router_free(gw->router);
	free(gw);
}
