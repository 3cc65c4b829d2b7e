/* upstream.c: the gateway's side towards replicas (gateway_int.h). Each
 * backend is a worker process (Unix socket) or a server on TCP (a command
 * predictor on loopback, or a replica on another host); it takes `slots`
 * requests at once over keep-alive connections kept in a pool. A request
 * is written, its answer parsed, and the result handed back to gateway.c:
 * gw_request_answered, or gw_request_failed with what is known of its
 * delivery. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway_int.h"
#include "health.h"
#include "logs.h"
#include "util.h"

/* ---- backends -------------------------------------------------------- */

static void upstream_failed(upconn *u, const char *why);
static upconn *upconn_new(glia_gateway *gw, glia_backend *b);
static void connect_timeout_cb(uv_timer_t *t);
void gw_upconn_close(upconn *u);

static void backend_maybe_drained(glia_backend *b)
{
	if (!b->draining || b->in_flight > 0 || !b->drained)
		return;
	void (*cb)(void *) = b->drained;
	b->drained = NULL;
	cb(b->drained_arg);
}

/* The request on u is over (answered or failed): free the slot. */
void gw_backend_done(glia_backend *b)
{
	if (!b)
		return;
	b->in_flight--;
	b->route->in_flight--;
	backend_maybe_drained(b);
}

/* How many requests b takes now: its slots, or less while it says it is
 * full. */
static int backend_room(glia_backend *b)
{
	if (b->cap < 0) /* the usual case: no clock read on the hot path */
		return b->slots;
	if (glia_now() >= b->full_until) {
		b->cap = -1;
		return b->slots;
	}
	return b->cap;
}

static int usable(const glia_backend *b)
{
	return !b->draining && !b->down;
}

/* Is b better than best (fewer in flight for its slots)? Compared
 * without division. */
static int less_loaded(const glia_backend *b, const glia_backend *best)
{
	return !best || (long)b->in_flight * best->slots <
	                    (long)best->in_flight * b->slots;
}

glia_backend *gw_pick_backend(glia_route *r, const greq *q)
{
	glia_backend *best = NULL, *avoided = NULL;
	int n = 0;
	for (glia_backend *b = r->backends; b; b = b->next)
		n++;
	if (!n)
		return NULL;
	/* Least loaded; among equals, the scan starts one further each time,
	 * so that requests one at a time still visit every replica. */
	int start = (int)(r->rotation++ % (unsigned)n);
	glia_backend *first = r->backends;
	for (int i = 0; i < start; i++)
		first = first->next;
	glia_backend *b = first;
	for (int i = 0; i < n; i++, b = b->next ? b->next : r->backends) {
		if (!usable(b) || b->in_flight >= backend_room(b))
			continue;
		if (q && b == q->avoid) {
			avoided = b;
			continue;
		}
		if (less_loaded(b, best))
			best = b;
	}
	/* The one that failed this request, only when no other exists at
	 * all (a lone replica that closed a pooled connection). */
	if (!best && avoided) {
		for (b = r->backends; b; b = b->next)
			if (b != avoided && usable(b))
				return NULL;
		best = avoided;
	}
	return best;
}

int gw_has_backend(const glia_route *r)
{
	for (glia_backend *b = r->backends; b; b = b->next)
		if (usable(b))
			return 1;
	return 0;
}

static void full_timer_cb(uv_timer_t *t)
{
	glia_gateway *gw = t->data;
	gw->full_timer_on = 0;
	for (glia_route *r = gw->routes; r; r = r->next_route)
		gw_dispatch(r);
}

#define FULL_HOLD_S 0.2 /* how long an "overloaded" answer caps a backend */

void gw_backend_full(glia_backend *b)
{
	glia_gateway *gw = b->route->gw;
	b->cap = b->in_flight - 1; /* the answered request still counts */
	b->full_until = glia_now() + FULL_HOLD_S;
	if (!gw->full_timer_on) {
		gw->full_timer_on = 1;
		uv_timer_start(&gw->full_timer, full_timer_cb,
		               (uint64_t)(FULL_HOLD_S * 1000) + 1, 0);
	}
}

/* ---- health: down backends and their probes (health.h) ---------------- */

static void probe_timer_cb(uv_timer_t *t);

static void probe_schedule(glia_backend *b, unsigned ms)
{
	if (!b->probe_timer) {
		b->probe_timer = glia_calloc(1, sizeof *b->probe_timer);
		uv_timer_init(b->route->gw->loop, b->probe_timer);
		b->probe_timer->data = b;
	}
	uv_timer_start(b->probe_timer, probe_timer_cb, ms, 0);
}

/* No request goes to b until a probe succeeds. An unreachable verdict
 * overrides a suspect one; the probe schedule keeps running. */
static void backend_down(glia_backend *b, int kind, const char *why)
{
	if (b->draining || b->down >= kind)
		return;
	snprintf(b->down_why, sizeof b->down_why, "%s", why);
	if (b->down) {
		b->down = kind;
		return;
	}
	b->down = kind;
	b->down_since = glia_now();
	b->probes_failed = 0;
	glia_log(GLIA_LOG_INFO, "api %s: replica %s %s (%s); probing it",
	         b->route->api_name, b->name,
	         kind == GLIA_BACKEND_UNREACHABLE ? "unreachable" : "suspect",
	         why);
	probe_schedule(b, glia_probe_delay_ms(0));
}

static void backend_up(glia_backend *b)
{
	glia_log(GLIA_LOG_INFO,
	         "api %s: replica %s answers again after %.1fs (%d probes "
	         "failed)",
	         b->route->api_name, b->name, glia_now() - b->down_since,
	         b->probes_failed);
	b->down = GLIA_BACKEND_UP;
	b->down_why[0] = '\0';
	b->probes_failed = 0;
	if (b->probe_timer)
		uv_timer_stop(b->probe_timer);
	gw_dispatch(b->route);
}

/* The probe u of its backend ended: ok, or one more failure. */
static void probe_finish(upconn *u, int ok)
{
	glia_backend *b = u->be;
	gw_upconn_close(u);
	if (!b)
		return;
	b->probe = NULL;
	if (!b->down || b->draining)
		return;
	if (ok) {
		backend_up(b);
		return;
	}
	b->probes_failed++;
	probe_schedule(b, glia_probe_delay_ms(b->probes_failed));
}

static void probe_timer_cb(uv_timer_t *t)
{
	glia_backend *b = t->data;
	if (!b->down || b->draining || b->probe)
		return;
	upconn *u = upconn_new(b->route->gw, b);
	u->probe = 1;
	b->probe = u;
	uv_timer_start(&u->connect_timer, connect_timeout_cb,
	               GLIA_PROBE_TIMEOUT_MS, 0);
}

/* Connected: a bare probe is done; otherwise GET the health path, whose
 * answer is read by probe_read within the same time limit. */
static void probe_connected(upconn *u)
{
	glia_backend *b = u->be;
	if (!b || !b->health_path) {
		probe_finish(u, 1);
		return;
	}
	char req[512];
	int n = snprintf(req, sizeof req,
	                 "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: "
	                 "glia-probe\r\nConnection: close\r\n\r\n",
	                 b->health_path, b->socket_path ? "localhost" : b->name);
	uv_buf_t buf = uv_buf_init(req, (unsigned)n);
	/* A short request on a fresh socket: written at once or not at all. */
	if (n <= 0 || (size_t)n >= sizeof req ||
	    uv_try_write(&u->h.stream, &buf, 1) != n) {
		probe_finish(u, 0);
		return;
	}
	uv_timer_start(&u->connect_timer, connect_timeout_cb,
	               GLIA_PROBE_TIMEOUT_MS, 0);
}

static void probe_read(upconn *u, ssize_t n, const uv_buf_t *buf)
{
	size_t used;
	if (n < 0) {
		probe_finish(u, glia_http_parser_eof(u->parser) ==
		                        GLIA_HTTP_DONE &&
		                    glia_http_parser_msg(u->parser)->status / 100 ==
		                        2);
		return;
	}
	int rc = glia_http_parser_feed(u->parser, buf->base, (size_t)n, &used);
	if (rc == GLIA_HTTP_ERROR)
		probe_finish(u, 0);
	else if (rc == GLIA_HTTP_DONE)
		probe_finish(
		    u, glia_http_parser_msg(u->parser)->status / 100 == 2);
}

void glia_backend_health_of(const glia_backend *b, glia_backend_health *out)
{
	out->down = b->down;
	out->down_s = b->down ? glia_now() - b->down_since : 0.0;
	out->probes_failed = b->probes_failed;
	out->why = b->down_why;
}

void glia_backend_set_health_path(glia_backend *b, const char *path)
{
	free(b->health_path);
	b->health_path = path && *path ? glia_strdup(path) : NULL;
}

static void probe_timer_free(uv_handle_t *h)
{
	free(h);
}

static glia_backend *backend_create(glia_route *r, const char *socket_path,
                                    const struct sockaddr *addr, int slots)
{
	glia_backend *b = glia_calloc(1, sizeof *b);
	b->route = r;
	b->cap = -1;
	if (socket_path) {
		b->socket_path = glia_strdup(socket_path);
		snprintf(b->name, sizeof b->name, "unix");
	} else {
		size_t len = addr->sa_family == AF_INET6
		                 ? sizeof(struct sockaddr_in6)
		                 : sizeof(struct sockaddr_in);
		memcpy(&b->addr, addr, len);
		glia_sockaddr_text(addr, b->name, sizeof b->name);
	}
	b->slots = slots > 0 ? slots : 1;
	b->next = r->backends;
	r->backends = b;
	r->refs++;
	gw_dispatch(r);
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
	return backend_create(r, socket_path, NULL, slots);
}

glia_backend *glia_backend_new_tcp(glia_route *r, int port, int slots)
{
	struct sockaddr_in a;
	uv_ip4_addr("127.0.0.1", port, &a);
	return backend_create(r, NULL, (struct sockaddr *)&a, slots);
}

glia_backend *glia_backend_new_addr(glia_route *r, const struct sockaddr *addr,
                                    int slots)
{
	return backend_create(r, NULL, addr, slots);
}

void glia_backend_revive(glia_backend *b)
{
	if (b->down && !b->probe && !b->draining)
		probe_schedule(b, 0);
}

int glia_backend_broken(const glia_backend *b)
{
	return b->down != GLIA_BACKEND_UP;
}

const char *glia_backend_name(const glia_backend *b)
{
	return b->name;
}

void glia_backend_drain(glia_backend *b, void (*done)(void *), void *arg)
{
	b->draining = 1;
	if (b->probe_timer)
		uv_timer_stop(b->probe_timer);
	b->drained = NULL; /* not called from inside the loop below */
	/* Requests still connecting have not reached it: they go elsewhere
	 * (a replica that vanished may never answer the connect). */
	for (upconn *u = b->conns, *next; u; u = next) {
		next = u->next;
		if (u->req && !u->connected && !u->closing)
			upstream_failed(u, "replica went away");
	}
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
	if (--u->open_handles > 0)
		return;
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

void gw_upconn_close(upconn *u)
{
	if (u->closing)
		return;
	u->closing = 1;
	glia_http_parser_set_budget(u->parser, NULL); /* may outlive gw */
	if (u->deferred)
		u->deferred->u = NULL;
	upconn_unlink(u);
	uv_close(&u->h.handle, upconn_free_cb);
	uv_close((uv_handle_t *)&u->connect_timer, upconn_free_cb);
}

/* The upstream connection failed while q was on it. */
static void upstream_failed(upconn *u, const char *why)
{
	greq *q = u->req;
	glia_backend *b = u->be;
	int got = u->got_bytes;
	/* Not wholly written (never connected, or the write failed): the
	 * replica cannot have run it. */
	int delivered = u->written;
	int connected = u->connected;
	u->req = NULL;
	gw_upconn_close(u);
	if (!q)
		return;
	q->up = NULL;
	glia_route *r = q->route;
	r->refs++; /* freeing b below may drop the last other reference */
	/* No connection: the replica is gone or not listening. A connection
	 * that ended with no answer: it probably died (or a live server
	 * closed a pooled connection): suspect until a probe answers. */
	if (!got && b) {
		char what[96];
		snprintf(what, sizeof what, "%s%s", connected ? "" : "connect: ",
		         why);
		backend_down(b, connected ? GLIA_BACKEND_SUSPECT
		                          : GLIA_BACKEND_UNREACHABLE,
		             what);
	}
	q->avoid = b; /* compared, never followed: b may be freed below */
	gw_backend_done(b);
	gw_request_failed(q, b, delivered, got, why);
	gw_dispatch(r);
	gw_route_unref(r);
}

/* The answer does not fit in what the gateway may hold of answers (the
 * budget): it is dropped with its connection, the backend is fine, and the
 * client gets 503 + Retry-After (the request ran). */
static void upstream_busy(upconn *u)
{
	greq *q = u->req;
	glia_backend *b = u->be;
	glia_route *r = q->route;
	char why[128];
	snprintf(why, sizeof why, "%s",
	         glia_http_parser_error_message(u->parser));
	r->refs++;
	u->req = NULL;
	q->up = NULL;
	gw_upconn_close(u);
	gw_backend_done(b);
	gw_req_fail(q, 503, why);
	gw_dispatch(r);
	gw_route_unref(r);
}

static void upstream_complete(upconn *u)
{
	greq *q = u->req;
	const glia_http_msg *m = glia_http_parser_msg(u->parser);
	glia_backend *b = u->be;
	/* An answer that came before the whole request was written (a 413
	 * say): the rest of the write must not go on, nor the connection
	 * be reused with it half sent. */
	int keep = m->keep_alive && b && !b->draining && u->written;
	glia_route *r = q->route;
	r->refs++;
	u->req = NULL;
	q->up = NULL;
	if (b) {
		b->answered++;
		b->failed += m->status >= 500;
	}
	int full = gw_request_answered(q, b, u->parser);
	glia_http_parser_reset(u->parser);
	u->got_bytes = 0;
	if (keep) {
		u->next_idle = b->idle;
		b->idle = u;
	} else {
		gw_upconn_close(u);
	}
	if (b && full)
		gw_backend_full(b);
	else if (b)
		b->cap = -1; /* it answered: it has room again */
	gw_backend_done(b);
	gw_dispatch(r);
	gw_route_unref(r);
}

void gw_upstream_abandon(greq *q)
{
	upconn *u = q->up;
	if (!u)
		return;
	u->req = NULL;
	q->up = NULL;
	if (u->connected && u->written) {
		/* The replica is still working on it: its slot stays taken
		 * until the late answer arrives. */
		u->abandoned = 1;
		return;
	}
	/* Never sent, or not wholly: the replica cannot run a request it
	 * did not get whole, and the write must stop now (its body belongs
	 * to a client that is answered or gone). */
	glia_backend *b = u->be;
	gw_upconn_close(u);
	gw_backend_done(b);
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
		gw_upconn_close(u);
		return;
	}
	glia_route *r = b->route;
	r->refs++;
	if (reusable && !b->draining) {
		u->next_idle = b->idle;
		b->idle = u;
	} else {
		gw_upconn_close(u);
	}
	gw_backend_done(b);
	gw_dispatch(r);
	gw_route_unref(r);
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
	if (u->probe) {
		probe_read(u, n, buf);
		return;
	}
	if (u->abandoned) {
		abandoned_read(u, n, buf);
		return;
	}
	if (!u->req) {
		/* An idle connection: EOF or junk means it is done. */
		gw_upconn_close(u);
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
	if (rc == GLIA_HTTP_ERROR &&
	    glia_http_parser_error_status(u->parser) == 503)
		upstream_busy(u);
	else if (rc == GLIA_HTTP_ERROR)
		upstream_failed(u, glia_http_parser_error_message(u->parser));
	else if (rc == GLIA_HTTP_DONE)
		upstream_complete(u);
}

static void up_write_cb(uv_write_t *w, int status)
{
	upconn *u = w->data;
	if (status < 0 && !u->closing && u->req)
		upstream_failed(u, uv_strerror(status));
	else if (status == 0)
		u->written = 1;
}

/* Writes q's head and its (borrowed) body: at once when the socket takes
 * them (the usual case: no write request, so libuv makes no epoll_ctl),
 * else what is left through a write request. */
static void upconn_write(upconn *u)
{
	greq *q = u->req;
	uv_buf_t b[2] = {uv_buf_init(q->upreq.data, (unsigned)q->upreq.len),
	                 uv_buf_init((char *)q->body, (unsigned)q->body_len)};
	u->written = 0;
	u->wreq.data = u;
	int rc = glia_uv_write_all(&u->h.stream, &u->wreq, b,
	                           q->body_len ? 2 : 1, up_write_cb);
	if (rc == 1)
		u->written = 1;
	else if (rc < 0)
		upstream_failed(u, uv_strerror(rc));
}

static void up_connect_cb(uv_connect_t *c, int status)
{
	upconn *u = c->data;
	if (u->closing)
		return;
	uv_timer_stop(&u->connect_timer);
	if (status < 0 && u->probe) {
		probe_finish(u, 0);
		return;
	}
	if (status < 0) {
		upstream_failed(u, uv_strerror(status));
		return;
	}
	u->connected = 1;
	uv_read_start(&u->h.stream, up_alloc_cb, up_read_cb);
	if (u->probe) {
		probe_connected(u);
		return;
	}
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

/* A replica that answers neither yes nor no to a connect (its host or
 * container vanished: SYNs go unanswered) is given up on after this: the
 * request was not delivered and goes elsewhere. */
#define CONNECT_TIMEOUT_MS 3000

static void connect_timeout_cb(uv_timer_t *t)
{
	upconn *u = t->data;
	if (u->closing)
		return;
	if (u->probe) { /* no connection, or no answer, in time */
		probe_finish(u, 0);
		return;
	}
	if (u->connected)
		return;
	if (!u->req) {
		gw_upconn_close(u);
		return;
	}
	upstream_failed(u, "connect timed out");
}

static upconn *upconn_new(glia_gateway *gw, glia_backend *b)
{
	upconn *u = glia_calloc(1, sizeof *u);
	u->gw = gw;
	glia_http_limits lim = {64 * 1024, gw->opt.max_response_bytes};
	u->h.handle.data = u;
	u->be = b;
	u->parser = glia_http_parser_new(GLIA_HTTP_RESPONSE, &lim);
	glia_http_parser_set_budget(u->parser, &gw->answers);
	u->next = b->conns;
	if (b->conns)
		b->conns->prev = u;
	b->conns = u;
	u->creq.data = u;
	u->open_handles = 2;
	uv_timer_init(gw->loop, &u->connect_timer);
	u->connect_timer.data = u;
	uv_timer_start(&u->connect_timer, connect_timeout_cb,
	               CONNECT_TIMEOUT_MS, 0);
	if (b->socket_path) {
		uv_pipe_init(gw->loop, &u->h.pipe, 0);
		u->h.handle.data = u;
		uv_pipe_connect(&u->creq, &u->h.pipe, b->socket_path,
		                up_connect_cb);
		return u;
	}
	uv_tcp_init(gw->loop, &u->h.tcp);
	u->h.handle.data = u;
	uv_tcp_nodelay(&u->h.tcp, 1);
	int rc = uv_tcp_connect(&u->creq, &u->h.tcp,
	                        (struct sockaddr *)&b->addr, up_connect_cb);
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

void gw_send(greq *q, glia_backend *b)
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
	b->draining = 1; /* its failing requests mark nothing */
	backend_unlink(b);
	if (b->probe_timer)
		uv_close((uv_handle_t *)b->probe_timer, probe_timer_free);
	while (b->conns) {
		upconn *u = b->conns;
		if (u->req) {
			upstream_failed(u, "replica stopped");
		} else {
			if (u->abandoned)
				gw_backend_done(b);
			gw_upconn_close(u);
		}
	}
	free(b->socket_path);
	free(b->health_path);
	free(b);
	gw_dispatch(r);
	gw_route_unref(r);
}