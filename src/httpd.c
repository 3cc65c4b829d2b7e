/* httpd.c: see httpd.h. */
#include "httpd.h"

#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define READ_BUF_SIZE 65536
#define PENDING_PAUSE (256u << 10) /* pipelined bytes before reading pauses */
#define OUT_KEEP      (256u << 10) /* answer buffer kept between requests */
#define TRIM_AFTER    (1u << 20)   /* bytes released before a malloc_trim */
#define TRIM_EVERY_MS 1000
#define MAX_BUFFERED_DEFAULT ((size_t)1 << 30) /* or a quarter of RAM */
/* Lingering closes (refused connections, refused requests): the peer's
 * bytes are read and dropped until its EOF, or LINGER_MS without a byte
 * (a refused request: LINGER_TOTAL_MS or LINGER_MAX_BYTES in all). */
#define LINGER_MAX       64 /* refused connections lingering at once */
#define LINGER_MS        2000
#define LINGER_TOTAL_MS  30000
#define LINGER_MAX_BYTES (64u << 20)
#define STREAM_MAX_PENDING (4u << 20) /* bytes queued to a slow follower */
#define DEFAULT_HEADER_TIMEOUT_MS    60000
#define DEFAULT_BODY_TIMEOUT_MS      60000
#define DEFAULT_KEEPALIVE_TIMEOUT_MS 75000
#define DEFAULT_SEND_TIMEOUT_MS      60000
#define NOFILE_RESERVE               256 /* plus 1/16 of RLIMIT_NOFILE */

/* A listening or accepted stream: TCP or a Unix socket. */
typedef union any_stream {
	uv_tcp_t tcp;
	uv_pipe_t pipe;
	uv_stream_t stream;
	uv_handle_t handle;
} any_stream;

struct glia_httpd {
	uv_loop_t *loop;
	any_stream srv;
	int is_unix;
	glia_http_limits limits;
	glia_httpd_request_cb on_request;
	void *data;
	glia_httpd_conn *conns; /* doubly linked */
	size_t n_conns;
	int closing;
	glia_httpd_conn_limits cl;
	glia_http_budget budget; /* request bytes held by every connection */
	glia_httpd_head_cb on_head;
	uv_timer_t sweep; /* closes connections past their deadline */
	int n_handles;    /* srv and sweep: freed when both are closed */
	char rbuf[READ_BUF_SIZE]; /* shared: the parser copies what it keeps */
};

enum { CONN_READING, CONN_BUSY, CONN_WRITING, CONN_STREAMING, CONN_LINGER };
/* Which deadline runs: none while a request is answered. */
enum { PH_NONE, PH_IDLE, PH_HEAD, PH_BODY, PH_SEND };

struct glia_httpd_conn {
	any_stream h;
	glia_httpd *srv;
	glia_httpd_conn *prev, *next;
	glia_http_parser *parser;
	glia_buf pending; /* bytes after a complete request (pipelining) */
	glia_buf out;
	glia_http_body out_body; /* a big body sent after out, not copied */
	uv_write_t wreq;
	uv_shutdown_t sreq;
	int state;
	int keep_alive;
	int closed;
	int peer_eof;
	int linger;      /* the request was not read whole: linger at the end */
	int head_seen;   /* the head callback ran for this request */
	int read_paused; /* too many pipelined bytes wait */
	size_t lingered; /* bytes dropped while lingering */
	uint64_t linger_end;
	size_t stream_pending;
	size_t send_queued; /* write queue at the last sweep (PH_SEND) */
	glia_httpd_close_cb on_close;
	glia_httpd_close_cb on_eof;
	void *owner;
	int phase;
	uint64_t deadline; /* uv_now ms; 0: none */
	char peer[64];
};

typedef struct stream_write {
	uv_write_t req;
	glia_httpd_conn *conn;
	size_t len;
	char data[];
} stream_write;

static void conn_process(glia_httpd_conn *c, const char *data, size_t len);
static void next_request(glia_httpd_conn *c);
static void conn_done(glia_httpd_conn *c);

static _Atomic size_t out_released; /* big answer buffers freed */

static void set_phase(glia_httpd_conn *c, int phase)
{
	const glia_httpd_conn_limits *l = &c->srv->cl;
	uint64_t ms = 0;
	if (phase == PH_IDLE)
		ms = l->keepalive_timeout_ms;
	else if (phase == PH_HEAD)
		ms = l->header_timeout_ms;
	else if (phase == PH_BODY)
		ms = l->body_timeout_ms;
	c->phase = phase;
	c->deadline = ms ? uv_now(c->srv->loop) + ms : 0;
}

/* After bytes of an incomplete request: the head's deadline runs from its
 * first byte; the body's is renewed by every byte. */
static void track_progress(glia_httpd_conn *c)
{
	if (glia_http_parser_headers_done(c->parser))
		set_phase(c, PH_BODY);
	else if (c->phase == PH_IDLE && glia_http_parser_started(c->parser))
		set_phase(c, PH_HEAD);
}

static void conn_free_cb(uv_handle_t *h)
{
	glia_httpd_conn *c = h->data;
	glia_http_parser_free(c->parser);
	glia_buf_free(&c->pending);
	glia_buf_free(&c->out);
	glia_http_body_free(&c->out_body);
	free(c);
}

static void conn_close(glia_httpd_conn *c)
{
	if (c->closed)
		return;
	c->closed = 1;
	glia_httpd *s = c->srv;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->n_conns--;
	/* The server may be freed before this connection. */
	glia_http_parser_set_budget(c->parser, NULL);
	glia_http_body_uncharge(&c->out_body);
	if (c->on_close) {
		glia_httpd_close_cb cb = c->on_close;
		c->on_close = NULL;
		cb(c, c->owner);
	}
	uv_close(&c->h.handle, conn_free_cb);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	glia_httpd_conn *c = h->data;
	buf->base = c->srv->rbuf;
	buf->len = sizeof c->srv->rbuf;
}

/* Reading stays on for a connection's whole life (no epoll changes per
 * request): bytes that arrive while a request is being answered wait in
 * `pending`, within its cap. */
static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	glia_httpd_conn *c = st->data;
	if (c->state == CONN_LINGER) {
		uint64_t now = uv_now(c->srv->loop);
		c->lingered += n > 0 ? (size_t)n : 0;
		c->deadline = now + LINGER_MS < c->linger_end ? now + LINGER_MS
							       : c->linger_end;
		if (n < 0 || c->lingered > LINGER_MAX_BYTES)
			conn_close(c);
		return;
	}
	if (n < 0) {
		if (n == UV_EOF &&
		    (c->state == CONN_BUSY || c->state == CONN_WRITING)) {
			/* Half-closed after its request: answer, then close
			 * (unless the owner gives up on it). */
			c->peer_eof = 1;
			uv_read_stop(st);
			if (c->on_eof)
				c->on_eof(c, c->owner);
			return;
		}
		conn_close(c);
		return;
	}
	if (n == 0)
		return;
	switch (c->state) {
	case CONN_READING:
		conn_process(c, buf->base, (size_t)n);
		break;
	case CONN_BUSY:
	case CONN_WRITING:
		if (glia_buf_append(&c->pending, buf->base, (size_t)n) < 0) {
			conn_close(c);
			break;
		}
		/* Pipelined bytes wait in the kernel, not here, past this. */
		if (c->pending.len >= PENDING_PAUSE) {
			uv_read_stop(st);
			c->read_paused = 1;
		}
		break;
	default: /* streaming: input is only watched for the peer leaving */
		break;
	}
}

/* splitmix64 over a state seeded once from getrandom: ids that say
 * nothing about the process (no pid, no count) and cost no system call. */
uint64_t glia_httpd_random64(void)
{
	static _Atomic uint64_t state;
	static _Atomic int seeded;
	if (!atomic_exchange(&seeded, 1)) {
		uint64_t seed = 0;
		if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
			seed = (uint64_t)uv_hrtime() * 0x9E3779B97F4A7C15ULL;
		atomic_fetch_xor(&state, seed);
	}
	uint64_t z = atomic_fetch_add(&state, 0x9E3779B97F4A7C15ULL) +
		     0x9E3779B97F4A7C15ULL;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* Answers a request that is refused before it was read whole (a parse
 * error, a head the owner refused), then lingers: the rest of what the
 * client sends is read and dropped, so the answer is not lost to a reset.
 * The answer carries an X-Request-ID (random: there is no request id to
 * take), and a 503 a Retry-After. */
static void refuse_request(glia_httpd_conn *c, int status, const char *msg,
			   const char *extra_headers)
{
	char extra[512];
	snprintf(extra, sizeof extra, "X-Request-ID: err-%016llx\r\n%s%s",
		 (unsigned long long)glia_httpd_random64(),
		 status == 503 ? "Retry-After: 1\r\n" : "",
		 extra_headers ? extra_headers : "");
	uv_read_stop(&c->h.stream);
	c->state = CONN_BUSY;
	c->linger = 1;
	c->keep_alive = 0;
	set_phase(c, PH_NONE);
	glia_buf_reset(&c->out);
	glia_http_format_error(&c->out, status, msg, 0, extra);
	/* What the parser holds (a body of known length is allocated at its
	 * head) goes back to the budget now, not after the linger. */
	glia_http_parser_reset(c->parser);
	glia_httpd_finish(c, 0);
}

static void respond_parse_error(glia_httpd_conn *c)
{
	int status = glia_http_parser_error_status(c->parser);
	const char *msg = glia_http_parser_error_message(c->parser);
	refuse_request(c, status ? status : 400, msg ? msg : "bad request",
		       NULL);
}

/* Once per request, when its head is complete: the owner may refuse it
 * before its body is read (the body is then never buffered). 1 when it
 * did. */
static int check_head(glia_httpd_conn *c)
{
	if (c->head_seen || !c->srv->on_head ||
	    !glia_http_parser_headers_done(c->parser))
		return 0;
	c->head_seen = 1;
	glia_httpd_refusal r = {0, NULL, NULL};
	const glia_http_msg *m = glia_http_parser_head(c->parser);
	if (!m || c->srv->on_head(c, m, c->srv->data, &r) == 0)
		return 0;
	refuse_request(c, r.status ? r.status : 400,
		       r.message ? r.message : "refused", r.extra_headers);
	return 1;
}

static void continue_write_cb(uv_write_t *req, int status)
{
	free(req);
}

static void send_continue(glia_httpd_conn *c)
{
	static char msg[] = "HTTP/1.1 100 Continue\r\n\r\n";
	uv_write_t *req = glia_malloc(sizeof *req);
	uv_buf_t b = uv_buf_init(msg, sizeof msg - 1);
	if (uv_write(req, &c->h.stream, &b, 1, continue_write_cb) < 0)
		free(req);
}

/* Feeds bytes to the parser; dispatches a complete request; keeps the rest
 * for after the answer. */
static void conn_process(glia_httpd_conn *c, const char *data, size_t len)
{
	size_t used = 0;
	int rc = glia_http_parser_feed(c->parser, data, len, &used);
	if (rc == GLIA_HTTP_ERROR) {
		respond_parse_error(c);
		return;
	}
	if (check_head(c))
		return;
	if (rc == GLIA_HTTP_AGAIN) {
		track_progress(c);
		if (glia_http_parser_take_continue(c->parser))
			send_continue(c);
		return;
	}
	if (used < len &&
	    glia_buf_append(&c->pending, data + used, len - used) < 0) {
		conn_close(c);
		return;
	}
	c->state = CONN_BUSY;
	set_phase(c, PH_NONE);
	const glia_http_msg *m = glia_http_parser_msg(c->parser);
	c->keep_alive = m->keep_alive;
	glia_buf_reset(&c->out);
	c->srv->on_request(c, m, c->srv->data);
}

/* Pipelined requests that arrived before the peer ended its side are
 * still answered, in order; then the connection closes. */
static void next_request(glia_httpd_conn *c)
{
	glia_http_parser_reset(c->parser);
	c->state = CONN_READING;
	c->on_close = NULL;
	c->on_eof = NULL;
	c->owner = NULL;
	c->head_seen = 0;
	set_phase(c, PH_IDLE);
	if (c->srv->closing || (c->peer_eof && c->pending.len == 0)) {
		conn_close(c);
		return;
	}
	if (c->pending.len > 0) {
		glia_buf tmp = c->pending;
		glia_buf_init(&c->pending, tmp.max);
		conn_process(c, tmp.data, tmp.len);
		glia_buf_free(&tmp);
	}
	if (c->closed)
		return;
	if (c->peer_eof && c->state == CONN_READING) {
		conn_close(c); /* what is left can never be complete */
		return;
	}
	if (c->read_paused && !c->peer_eof && c->state != CONN_LINGER) {
		c->read_paused = 0;
		uv_read_start(&c->h.stream, alloc_cb, read_cb);
	}
}

/* A big answer buffer is not kept for the connection's next request. */
static void release_out(glia_httpd_conn *c)
{
	glia_http_body_free(&c->out_body);
	if (c->out.cap <= OUT_KEEP)
		return;
	atomic_fetch_add(&out_released, c->out.cap);
	glia_buf_free(&c->out);
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
}

/* After a refusal: our side is shut (the client reads the answer, then
 * EOF) while its bytes are read and dropped, until it closes or sends
 * nothing for LINGER_MS (LINGER_TOTAL_MS, LINGER_MAX_BYTES at most). */
static void start_linger(glia_httpd_conn *c)
{
	c->state = CONN_LINGER;
	c->deadline = uv_now(c->srv->loop) + LINGER_MS;
	c->linger_end = uv_now(c->srv->loop) + LINGER_TOTAL_MS;
	if (uv_shutdown(&c->sreq, &c->h.stream, shutdown_cb) < 0 ||
	    uv_read_start(&c->h.stream, alloc_cb, read_cb) < 0)
		conn_close(c);
}

/* The answer is sent: the next request, or the end of the connection. */
static void conn_done(glia_httpd_conn *c)
{
	release_out(c);
	if (c->keep_alive)
		next_request(c);
	else if (c->linger && !c->peer_eof)
		start_linger(c);
	else
		conn_close(c);
}

static void finish_write_cb(uv_write_t *req, int status)
{
	glia_httpd_conn *c = req->data;
	if (c->closed)
		return;
	if (status < 0) {
		conn_close(c);
		return;
	}
	conn_done(c);
}

glia_buf *glia_httpd_out(glia_httpd_conn *c)
{
	return &c->out;
}

int glia_uv_write_all(uv_stream_t *s, uv_write_t *req, uv_buf_t *bufs,
                      unsigned n, uv_write_cb cb)
{
	int w = uv_try_write(s, bufs, n);
	if (w < 0 && w != UV_EAGAIN)
		return w;
	size_t done = w > 0 ? (size_t)w : 0;
	while (n > 0 && done >= bufs->len) {
		done -= bufs->len;
		bufs++;
		n--;
	}
	if (n == 0)
		return 1;
	bufs->base += done;
	bufs->len -= done;
	int rc = uv_write(req, s, bufs, n, cb);
	return rc < 0 ? rc : 0;
}

void glia_httpd_finish(glia_httpd_conn *c, int keep_alive)
{
	if (c->closed)
		return;
	c->keep_alive = c->keep_alive && keep_alive && !c->srv->closing;
	c->on_close = NULL;
	c->on_eof = NULL;
	c->state = CONN_WRITING;
	uv_buf_t b[2] = {
	    uv_buf_init(c->out.data, (unsigned)c->out.len),
	    uv_buf_init((char *)c->out_body.body, (unsigned)c->out_body.len)};
	unsigned nb = c->out_body.len ? 2 : 1;
	c->wreq.data = c;
	/* Most answers fit the socket buffer: written here, they skip the
	 * write-request machinery, which costs libuv an epoll_ctl each. With
	 * pipelined bytes waiting, the asynchronous path keeps the next
	 * request out of this call stack. */
	int rc;
	if (c->pending.len == 0 && c->peer_eof == 0)
		rc = glia_uv_write_all(&c->h.stream, &c->wreq, b, nb,
		                       finish_write_cb);
	else
		rc = uv_write(&c->wreq, &c->h.stream, b, nb, finish_write_cb);
	if (rc == 1)
		conn_done(c);
	else if (rc < 0)
		conn_close(c);
}

void glia_httpd_finish_body(glia_httpd_conn *c, int keep_alive,
                            glia_http_body *body)
{
	glia_http_body_free(&c->out_body);
	c->out_body = *body;
	memset(body, 0, sizeof *body);
	if (c->closed) {
		glia_http_body_free(&c->out_body);
		return;
	}
	glia_httpd_finish(c, keep_alive);
}

void glia_httpd_respond(glia_httpd_conn *c, int status,
			const char *content_type, const char *body,
			size_t len, const char *extra_headers)
{
	glia_buf_reset(&c->out);
	glia_http_format_response_head(&c->out, status, content_type, len,
				       c->keep_alive, extra_headers);
	glia_buf_append(&c->out, body, len);
	glia_httpd_finish(c, 1);
}

void glia_httpd_respond_error(glia_httpd_conn *c, int status,
			      const char *message, const char *extra_headers)
{
	glia_buf_reset(&c->out);
	glia_http_format_error(&c->out, status, message, c->keep_alive,
			       extra_headers);
	glia_httpd_finish(c, 1);
}

static void stream_write_cb(uv_write_t *req, int status)
{
	stream_write *w = req->data;
	glia_httpd_conn *c = w->conn;
	if (!c->closed) {
		c->stream_pending -= w->len;
		if (status < 0)
			conn_close(c);
	}
	free(w);
}

static int stream_send(glia_httpd_conn *c, const char *data, size_t len)
{
	if (c->closed)
		return -1;
	if (c->stream_pending + len > STREAM_MAX_PENDING)
		return -1;
	stream_write *w = glia_malloc(sizeof *w + len);
	w->conn = c;
	w->len = len;
	w->req.data = w;
	memcpy(w->data, data, len);
	uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
	c->stream_pending += len;
	if (uv_write(&w->req, &c->h.stream, &b, 1, stream_write_cb) < 0) {
		c->stream_pending -= len;
		free(w);
		conn_close(c);
		return -1;
	}
	return 0;
}

void glia_httpd_stream_begin(glia_httpd_conn *c, int status,
			     const char *content_type)
{
	glia_buf head;
	glia_buf_init(&head, 0);
	glia_buf_printf(&head,
			"HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
			"Transfer-Encoding: chunked\r\nConnection: close\r\n"
			"X-Content-Type-Options: nosniff\r\n\r\n",
			status, glia_http_status_text(status), content_type);
	c->state = CONN_STREAMING;
	c->keep_alive = 0;
	stream_send(c, head.data, head.len);
	glia_buf_free(&head);
	if (c->peer_eof)
		conn_close(c);
}

int glia_httpd_stream_write(glia_httpd_conn *c, const char *data, size_t len)
{
	if (len == 0)
		return 0;
	glia_buf chunk;
	glia_buf_init(&chunk, 0);
	glia_buf_printf(&chunk, "%zx\r\n", len);
	glia_buf_append(&chunk, data, len);
	glia_buf_puts(&chunk, "\r\n");
	int rc = stream_send(c, chunk.data, chunk.len);
	glia_buf_free(&chunk);
	return rc;
}

static void stream_end_cb(uv_write_t *req, int status)
{
	stream_write *w = req->data;
	glia_httpd_conn *c = w->conn;
	free(w);
	conn_close(c);
}

void glia_httpd_stream_end(glia_httpd_conn *c)
{
	if (c->closed)
		return;
	c->on_close = NULL;
	c->on_eof = NULL;
	stream_write *w = glia_malloc(sizeof *w + 5);
	w->conn = c;
	w->len = 5;
	w->req.data = w;
	memcpy(w->data, "0\r\n\r\n", 5);
	uv_buf_t b = uv_buf_init(w->data, 5);
	if (uv_write(&w->req, &c->h.stream, &b, 1, stream_end_cb) < 0) {
		free(w);
		conn_close(c);
	}
}

void glia_httpd_set_owner(glia_httpd_conn *c, glia_httpd_close_cb cb,
			  void *owner)
{
	c->on_close = cb;
	c->owner = owner;
	if (!cb)
		c->on_eof = NULL;
}

void glia_httpd_set_eof_cb(glia_httpd_conn *c, glia_httpd_close_cb cb)
{
	c->on_eof = cb;
}

void glia_httpd_abort(glia_httpd_conn *c)
{
	c->on_close = NULL;
	c->on_eof = NULL;
	conn_close(c);
}

const char *glia_httpd_peer(const glia_httpd_conn *c)
{
	return c->peer;
}

static void peer_name(glia_httpd_conn *c)
{
	if (c->srv->is_unix) {
		strcpy(c->peer, "unix");
		return;
	}
	struct sockaddr_storage ss;
	int len = sizeof ss;
	strcpy(c->peer, "-");
	if (uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET)
			uv_ip4_name((struct sockaddr_in *)&ss, c->peer,
				    sizeof c->peer);
		else
			uv_ip6_name((struct sockaddr_in6 *)&ss, c->peer,
				    sizeof c->peer);
	}
}

/* A connection past max_conns is accepted, told 503 and closed, so that
 * the client sees why instead of waiting in the backlog. Its side is read
 * out (and dropped) for up to LINGER_MS first: closing on unread request
 * bytes would send a reset that destroys the answer. At most LINGER_MAX
 * linger at once, over all servers; beyond, they are closed at once. */

typedef struct refused {
	any_stream h;
	uv_timer_t timer;
	uv_shutdown_t sreq;
	int open; /* handles not closed yet */
	int closing;
} refused;

static int n_lingering;

static void refused_free_cb(uv_handle_t *h)
{
	refused *r = h->data;
	if (--r->open == 0) {
		n_lingering--;
		free(r);
	}
}

static void refused_close(refused *r)
{
	if (r->closing)
		return;
	r->closing = 1;
	uv_close(&r->h.handle, refused_free_cb);
	uv_close((uv_handle_t *)&r->timer, refused_free_cb);
}

static void refused_alloc_cb(uv_handle_t *h, size_t n, uv_buf_t *buf)
{
	static char sink[4096];
	buf->base = sink;
	buf->len = sizeof sink;
}

static void refused_read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	if (n < 0)
		refused_close(st->data);
}

static void refused_timer_cb(uv_timer_t *t)
{
	refused_close(t->data);
}

static void refused_shutdown_cb(uv_shutdown_t *req, int status)
{
}

static void refuse(glia_httpd *s)
{
	static char msg[] = "HTTP/1.1 503 Service Unavailable\r\n"
	                    "Content-Type: application/json\r\n"
	                    "Content-Length: 34\r\n"
	                    "Connection: close\r\nRetry-After: 1\r\n\r\n"
	                    "{\"error\": \"too many connections\"}\n";
	refused *r = glia_calloc(1, sizeof *r);
	r->open = 2;
	n_lingering++;
	if (s->is_unix)
		uv_pipe_init(s->loop, &r->h.pipe, 0);
	else
		uv_tcp_init(s->loop, &r->h.tcp);
	uv_timer_init(s->loop, &r->timer);
	r->h.handle.data = r;
	r->timer.data = r;
	if (uv_accept(&s->srv.stream, &r->h.stream) < 0) {
		refused_close(r);
		return;
	}
	uv_buf_t b = uv_buf_init(msg, sizeof msg - 1);
	uv_try_write(&r->h.stream, &b, 1);
	if (n_lingering > LINGER_MAX ||
	    uv_shutdown(&r->sreq, &r->h.stream, refused_shutdown_cb) < 0 ||
	    uv_read_start(&r->h.stream, refused_alloc_cb, refused_read_cb) <
	        0) {
		refused_close(r);
		return;
	}
	uv_timer_start(&r->timer, refused_timer_cb, LINGER_MS, 0);
}

static void on_connection(uv_stream_t *server, int status)
{
	glia_httpd *s = server->data;
	if (status < 0 || s->closing)
		return;
	if (s->n_conns >= s->cl.max_conns) {
		refuse(s);
		return;
	}
	glia_httpd_conn *c = glia_calloc(1, sizeof *c);
	c->srv = s;
	if (s->is_unix)
		uv_pipe_init(s->loop, &c->h.pipe, 0);
	else
		uv_tcp_init(s->loop, &c->h.tcp);
	c->h.handle.data = c;
	if (uv_accept(server, &c->h.stream) < 0) {
		uv_close(&c->h.handle, (uv_close_cb)free);
		return;
	}
	if (!s->is_unix)
		uv_tcp_nodelay(&c->h.tcp, 1);
	c->parser = glia_http_parser_new(GLIA_HTTP_REQUEST, &s->limits);
	glia_http_parser_set_budget(c->parser, &s->budget);
	glia_buf_init(&c->pending, s->limits.max_header_bytes +
					   s->limits.max_body_bytes + 1024);
	glia_buf_init(&c->out, 0);
	peer_name(c);
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->n_conns++;
	set_phase(c, PH_HEAD);
	uv_read_start(&c->h.stream, alloc_cb, read_cb);
}

static glia_httpd *server_new(uv_loop_t *loop, const glia_http_limits *limits,
			      glia_httpd_request_cb cb, void *data)
{
	glia_httpd *s = glia_calloc(1, sizeof *s);
	s->loop = loop;
	s->limits.max_header_bytes = 64 * 1024;
	s->limits.max_body_bytes = 32 * 1024 * 1024;
	if (limits)
		s->limits = *limits;
	s->on_request = cb;
	s->data = data;
	s->n_handles = 1;
	glia_httpd_set_conn_limits(s, NULL);
	return s;
}

static void server_free_cb(uv_handle_t *h)
{
	glia_httpd *s = h->data;
	if (--s->n_handles == 0)
		free(s);
}

/* An answer or stream waiting to be sent: 1 when the peer has taken
 * nothing of it for send_timeout_ms. */
static int send_stalled(glia_httpd_conn *c, uint64_t now)
{
	size_t q = uv_stream_get_write_queue_size(&c->h.stream);
	if (c->phase != PH_SEND || q == 0 || q < c->send_queued) {
		c->phase = PH_SEND;
		c->send_queued = q;
		c->deadline = now + c->srv->cl.send_timeout_ms;
		return 0;
	}
	c->send_queued = q;
	return c->deadline <= now;
}

/* Gives memory freed by big requests and answers back to the system, at
 * most once per TRIM_EVERY_MS: glibc keeps freed heap pages (and, after a
 * big free, raises its mmap threshold so the next big buffers come from
 * the heap too). */
static void maybe_trim(uint64_t now)
{
	static size_t released;
	static uint64_t last;
	released += glia_http_take_released() + atomic_exchange(&out_released, 0);
	if (released < TRIM_AFTER || now - last < TRIM_EVERY_MS)
		return;
	released = 0;
	last = now;
	malloc_trim(0);
}

/* Closes connections past their deadline. */
static void sweep_cb(uv_timer_t *t)
{
	static char msg[] = "HTTP/1.1 408 Request Timeout\r\n"
	                    "Content-Type: application/json\r\n"
	                    "Content-Length: 31\r\nConnection: close\r\n\r\n"
	                    "{\"error\": \"request timed out\"}\n";
	glia_httpd *s = t->data;
	uint64_t now = uv_now(s->loop);
	glia_httpd_conn *next;
	maybe_trim(now);
	for (glia_httpd_conn *c = s->conns; c; c = next) {
		next = c->next;
		if (c->state == CONN_LINGER) {
			if (c->deadline <= now)
				conn_close(c);
			continue;
		}
		if (c->state == CONN_WRITING || c->state == CONN_STREAMING) {
			if (send_stalled(c, now))
				conn_close(c);
			continue;
		}
		if (c->state != CONN_READING || !c->deadline ||
		    c->deadline > now)
			continue;
		if (c->phase != PH_IDLE) {
			uv_buf_t b = uv_buf_init(msg, sizeof msg - 1);
			uv_try_write(&c->h.stream, &b, 1);
		}
		conn_close(c);
	}
}

/* A quarter of the shortest timeout, within 10 ms..1 s. */
static uint64_t sweep_interval(const glia_httpd_conn_limits *l)
{
	uint64_t ms = l->header_timeout_ms;
	if (l->body_timeout_ms < ms)
		ms = l->body_timeout_ms;
	if (l->keepalive_timeout_ms < ms)
		ms = l->keepalive_timeout_ms;
	if (l->send_timeout_ms < ms)
		ms = l->send_timeout_ms;
	ms /= 4;
	return ms < 10 ? 10 : ms > 1000 ? 1000 : ms;
}

static void sweep_restart(glia_httpd *s)
{
	uint64_t ms = sweep_interval(&s->cl);
	uv_timer_start(&s->sweep, sweep_cb, ms, ms);
}

/* The server listens: the sweep starts. */
static glia_httpd *listening(glia_httpd *s)
{
	uv_timer_init(s->loop, &s->sweep);
	s->sweep.data = s;
	uv_unref((uv_handle_t *)&s->sweep);
	s->n_handles = 2;
	sweep_restart(s);
	return s;
}

void glia_httpd_set_conn_limits(glia_httpd *s, const glia_httpd_conn_limits *l)
{
	glia_httpd_conn_limits d = {
	    DEFAULT_HEADER_TIMEOUT_MS, DEFAULT_BODY_TIMEOUT_MS,
	    DEFAULT_KEEPALIVE_TIMEOUT_MS, DEFAULT_SEND_TIMEOUT_MS,
	    glia_httpd_default_max_conns(), 0};
	if (l && l->header_timeout_ms)
		d.header_timeout_ms = l->header_timeout_ms;
	if (l && l->body_timeout_ms)
		d.body_timeout_ms = l->body_timeout_ms;
	if (l && l->keepalive_timeout_ms)
		d.keepalive_timeout_ms = l->keepalive_timeout_ms;
	if (l && l->send_timeout_ms)
		d.send_timeout_ms = l->send_timeout_ms;
	if (l && l->max_conns)
		d.max_conns = l->max_conns;
	d.max_buffered = l && l->max_buffered ? l->max_buffered
					      : glia_httpd_default_max_buffered();
	/* One request of the largest size always fits. */
	size_t one = s->limits.max_header_bytes + s->limits.max_body_bytes +
		     (1u << 20);
	if (d.max_buffered < one)
		d.max_buffered = one;
	s->cl = d;
	s->budget.max = d.max_buffered;
	if (s->n_handles == 2)
		sweep_restart(s);
}

size_t glia_httpd_default_max_buffered(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
	size_t quarter = pages > 0 && size > 0
			     ? (size_t)pages / 4 * (size_t)size
			     : MAX_BUFFERED_DEFAULT;
	return quarter < MAX_BUFFERED_DEFAULT ? quarter : MAX_BUFFERED_DEFAULT;
}

void glia_httpd_set_head_cb(glia_httpd *s, glia_httpd_head_cb cb)
{
	s->on_head = cb;
}

size_t glia_httpd_default_max_conns(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return 65536;
	size_t n = (size_t)rl.rlim_cur;
	size_t reserve = NOFILE_RESERVE + n / 16;
	return n > reserve + 16 ? n - reserve : 16;
}

int glia_raise_nofile_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	if (rl.rlim_cur == rl.rlim_max)
		return 0;
	rl.rlim_cur = rl.rlim_max;
	return setrlimit(RLIMIT_NOFILE, &rl);
}

static glia_httpd *listen_fail(glia_httpd *s, int rc, const char *what,
			       char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: %s", what, uv_strerror(rc));
	uv_close(&s->srv.handle, server_free_cb);
	return NULL;
}

glia_httpd *glia_httpd_listen_tcp(uv_loop_t *loop, const char *host, int port,
				  const glia_http_limits *limits,
				  glia_httpd_request_cb cb, void *data,
				  char *err, size_t errlen)
{
	glia_httpd *s = server_new(loop, limits, cb, data);
	struct sockaddr_storage addr;
	int rc;
	uv_tcp_init(loop, &s->srv.tcp);
	s->srv.handle.data = s;
	if (strchr(host, ':'))
		rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr);
	else
		rc = uv_ip4_addr(host, port, (struct sockaddr_in *)&addr);
	if (rc < 0)
		return listen_fail(s, rc, "bad listen address", err, errlen);
	rc = uv_tcp_bind(&s->srv.tcp, (struct sockaddr *)&addr, 0);
	if (rc == 0)
		rc = uv_listen(&s->srv.stream, 511, on_connection);
	if (rc < 0) {
		char what[300];
		snprintf(what, sizeof what, "cannot listen on %s:%d", host,
			 port);
		return listen_fail(s, rc, what, err, errlen);
	}
	return listening(s);
}

/* A Unix socket bound at path (a stale file there replaced), mode 0600.
 * Bound here rather than by uv_pipe_bind, whose close unlinks the path
 * whatever it then holds: the owner removes the file when it is still its
 * own. The fd, or a negative libuv error. */
static int bind_unix(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path)
		return UV_ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	mode_t old = umask(0077);
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
	int e = errno;
	umask(old);
	if (rc < 0) {
		close(fd);
		return -e;
	}
	return fd;
}

glia_httpd *glia_httpd_listen_unix(uv_loop_t *loop, const char *path,
				   const glia_http_limits *limits,
				   glia_httpd_request_cb cb, void *data,
				   char *err, size_t errlen)
{
	glia_httpd *s = server_new(loop, limits, cb, data);
	s->is_unix = 1;
	uv_pipe_init(loop, &s->srv.pipe, 0);
	s->srv.handle.data = s;
	int fd = bind_unix(path);
	int rc = fd < 0 ? fd : uv_pipe_open(&s->srv.pipe, fd);
	if (rc < 0 && fd >= 0)
		close(fd);
	if (rc == 0)
		rc = uv_listen(&s->srv.stream, 128, on_connection);
	if (rc < 0) {
		char what[300];
		snprintf(what, sizeof what, "cannot listen on %s", path);
		return listen_fail(s, rc, what, err, errlen);
	}
	chmod(path, 0600);
	return listening(s);
}

void glia_httpd_close(glia_httpd *s)
{
	s->closing = 1;
	while (s->conns) {
		glia_httpd_conn *c = s->conns;
		conn_close(c);
	}
	if (s->n_handles == 2)
		uv_close((uv_handle_t *)&s->sweep, server_free_cb);
	uv_close(&s->srv.handle, server_free_cb);
}

size_t glia_httpd_conn_count(const glia_httpd *s)
{
	return s->n_conns;
}
