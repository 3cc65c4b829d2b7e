/* probe.c: see probe.h. */
#include "probe.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

struct glia_probe {
	uv_tcp_t tcp;
	uv_connect_t creq;
	uv_write_t wreq;
	uv_timer_t timer;
	glia_probe_cb cb;
	void *arg;
	char *request; /* NULL: connect only */
	char answer[16];
	size_t answer_len;
	int verdict; /* -1 until the status line is read */
	char discard[4096];
	int open_handles;
	int done;
};

static void handle_closed(uv_handle_t *h)
{
	glia_probe *p = h->data;
	if (--p->open_handles > 0)
		return;
	free(p->request);
	free(p);
}

static void finish(glia_probe *p, int ok)
{
	if (p->done)
		return;
	p->done = 1;
	uv_timer_stop(&p->timer);
	uv_close((uv_handle_t *)&p->tcp, handle_closed);
	uv_close((uv_handle_t *)&p->timer, handle_closed);
	if (p->cb)
		p->cb(p->arg, ok);
}

static void alloc_cb(uv_handle_t *h, size_t s, uv_buf_t *buf)
{
	glia_probe *p = h->data;
	if (p->verdict >= 0) {
		buf->base = p->discard;
		buf->len = sizeof p->discard;
		return;
	}
	buf->base = p->answer + p->answer_len;
	buf->len = sizeof p->answer - 1 - p->answer_len;
}

/* "HTTP/1.1 200" is all that matters: the status class. The rest is read
 * to the end, so the server never sees its answer reset. */
static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	glia_probe *p = st->data;
	if (n < 0) {
		finish(p, p->verdict > 0);
		return;
	}
	if (p->verdict >= 0)
		return;
	p->answer_len += (size_t)n;
	if (p->answer_len < 12 && p->answer_len < sizeof p->answer - 1)
		return;
	p->answer[p->answer_len] = '\0';
	p->verdict = strncmp(p->answer, "HTTP/1.", 7) == 0 &&
		     p->answer[9] == '2';
}

static void write_cb(uv_write_t *w, int status)
{
	glia_probe *p = w->data;
	if (status < 0)
		finish(p, 0);
}

static void connect_cb(uv_connect_t *c, int status)
{
	glia_probe *p = c->data;
	if (p->done)
		return;
	if (status < 0 || !p->request) {
		finish(p, status == 0);
		return;
	}
	uv_buf_t b = uv_buf_init(p->request, (unsigned)strlen(p->request));
	p->wreq.data = p;
	if (uv_write(&p->wreq, (uv_stream_t *)&p->tcp, &b, 1, write_cb) < 0 ||
	    uv_read_start((uv_stream_t *)&p->tcp, alloc_cb, read_cb) < 0)
		finish(p, 0);
}

static void timeout_cb(uv_timer_t *t)
{
	finish(t->data, 0);
}

glia_probe *glia_probe_start(uv_loop_t *loop, int port, const char *path,
			     unsigned timeout_ms, glia_probe_cb cb, void *arg)
{
	glia_probe *p = glia_calloc(1, sizeof *p);
	p->cb = cb;
	p->arg = arg;
	p->verdict = -1;
	if (path)
		p->request = glia_sprintf("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d"
					  "\r\nUser-Agent: glia-probe\r\n"
					  "Connection: close\r\n\r\n",
					  path, port);
	uv_tcp_init(loop, &p->tcp);
	uv_timer_init(loop, &p->timer);
	p->tcp.data = p->timer.data = p;
	p->open_handles = 2;
	struct sockaddr_in addr;
	uv_ip4_addr("127.0.0.1", port, &addr);
	p->creq.data = p;
	uv_timer_start(&p->timer, timeout_cb, timeout_ms, 0);
	if (uv_tcp_connect(&p->creq, &p->tcp, (struct sockaddr *)&addr,
			   connect_cb) < 0) {
		/* finish() must not call back synchronously into the caller
		 * before it has the handle: report on the timer instead. */
		uv_timer_start(&p->timer, timeout_cb, 0, 0);
	}
	return p;
}

void glia_probe_cancel(glia_probe *p)
{
	p->cb = NULL;
	finish(p, 0);
}

int glia_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof a;
	int port = -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}
