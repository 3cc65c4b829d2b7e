/* client.c: see client.h. Whole answers go through http.h's parser; a
 * streamed answer is read by a small head reader and body decoder here,
 * because the parser only hands out complete messages. */
#include "client.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "http.h"

#define SLICE_MS 200
#define MAX_HEAD 65536

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void glia_client_response_free(glia_client_response *r)
{
	free(r->content_type);
	r->content_type = NULL;
	glia_buf_free(&r->body);
}

/* ---- deadlines and waiting ---- */

static uint64_t deadline_of(int timeout_ms)
{
	return timeout_ms > 0 ? glia_now_ms() + (uint64_t)timeout_ms : 0;
}

/* Waits until fd is ready for events, in slices so that cancel is seen.
 * 0, or GLIA_CLIENT_ETIMEDOUT / ECANCELED / EFAIL. */
static int wait_fd(int fd, short events, uint64_t deadline,
		   const volatile sig_atomic_t *cancel)
{
	for (;;) {
		if (cancel && *cancel)
			return GLIA_CLIENT_ECANCELED;
		int slice = SLICE_MS;
		if (deadline) {
			uint64_t now = glia_now_ms();
			if (now >= deadline)
				return GLIA_CLIENT_ETIMEDOUT;
			if (deadline - now < (uint64_t)slice)
				slice = (int)(deadline - now);
		}
		struct pollfd pfd = {.fd = fd, .events = events};
		int n = poll(&pfd, 1, slice);
		if (n < 0 && errno != EINTR)
			return GLIA_CLIENT_EFAIL;
		if (n > 0)
			return 0;
	}
}

static int set_nonblocking(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -1;
	fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
	return fcntl(fd, F_SETFL, fl);
}

/* ---- connecting ---- */

static int connect_code(int e)
{
	return (e == ENOENT || e == ECONNREFUSED) ? GLIA_CLIENT_ECONNECT
						  : GLIA_CLIENT_EFAIL;
}

/* Fills sa for path. A path too long for sun_path is reached through
 * /proc/self/fd/N/<base>, N being its directory opened in *dirfd. */
static int unix_addr(const char *path, struct sockaddr_un *sa, int *dirfd,
		     char *err, size_t errlen)
{
	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	*dirfd = -1;
	if (strlen(path) < sizeof sa->sun_path) {
		memcpy(sa->sun_path, path, strlen(path) + 1);
		return 0;
	}
	const char *slash = strrchr(path, '/');
	char *dir = slash ? glia_strndup(path, (size_t)(slash - path)) : NULL;
	const char *base = slash ? slash + 1 : path;
	*dirfd = open(dir && *dir ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (*dirfd < 0) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return connect_code(errno);
	}
	int n = snprintf(sa->sun_path, sizeof sa->sun_path,
			 "/proc/self/fd/%d/%s", *dirfd, base);
	if (n < 0 || (size_t)n >= sizeof sa->sun_path) {
		seterr(err, errlen, "%s: socket path too long", path);
		return GLIA_CLIENT_EFAIL;
	}
	return 0;
}

/* Unix sockets connect at once (or block briefly on a full backlog). */
static int connect_unix(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	int dirfd;
	int fd = -1;
	int rc = unix_addr(path, &sa, &dirfd, err, errlen);
	if (rc < 0)
		goto fail;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		seterr(err, errlen, "socket: %s", strerror(errno));
		rc = GLIA_CLIENT_EFAIL;
		goto fail;
	}
	int r;
	do {
		r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
	} while (r < 0 && errno == EINTR);
	if (r < 0) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		rc = connect_code(errno);
		goto fail;
	}
	if (dirfd >= 0)
		close(dirfd);
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	if (dirfd >= 0)
		close(dirfd);
	return rc;
}

/* One non-blocking connect attempt to ai, bounded by deadline.
 * Returns fd, or a negative code with errno-derived message. */
static int connect_ai(const struct addrinfo *ai, uint64_t deadline, int *eout)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
						SOCK_NONBLOCK, ai->ai_protocol);
	if (fd < 0) {
		*eout = errno;
		return GLIA_CLIENT_EFAIL;
	}
	int rc = GLIA_CLIENT_EFAIL;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		*eout = errno;
		rc = connect_code(errno);
		goto fail;
	}
	rc = wait_fd(fd, POLLOUT, deadline, NULL);
	if (rc < 0) {
		*eout = ETIMEDOUT;
		goto fail;
	}
	int soerr = 0;
	socklen_t sl = sizeof soerr;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		soerr = errno;
	if (soerr == 0)
		return fd;
	*eout = soerr;
	rc = connect_code(soerr);
fail:
	close(fd);
	return rc;
}

static int connect_tcp(const char *host, int port, uint64_t deadline,
		       char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	char portstr[16];
	snprintf(portstr, sizeof portstr, "%d", port);
	int g = getaddrinfo(host, portstr, &hints, &res);
	if (g != 0) {
		seterr(err, errlen, "%s: %s", host, gai_strerror(g));
		return GLIA_CLIENT_EFAIL;
	}
	int rc = GLIA_CLIENT_EFAIL;
	int e = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		rc = connect_ai(ai, deadline, &e);
		if (rc >= 0)
			break;
	}
	freeaddrinfo(res);
	if (rc == GLIA_CLIENT_EFAIL && e == ETIMEDOUT)
		rc = GLIA_CLIENT_ETIMEDOUT;
	if (rc < 0)
		seterr(err, errlen, "%s:%d: %s", host, port, strerror(e));
	return rc;
}

/* Returns a non-blocking connected fd or a negative code. */
static int open_conn(const char *unix_path, const char *host, int port,
		     uint64_t deadline, char *err, size_t errlen)
{
	if (!unix_path)
		return connect_tcp(host, port, deadline, err, errlen);
	int fd = connect_unix(unix_path, err, errlen);
	if (fd >= 0 && set_nonblocking(fd, 1) < 0) {
		seterr(err, errlen, "fcntl: %s", strerror(errno));
		close(fd);
		return GLIA_CLIENT_EFAIL;
	}
	return fd;
}

int glia_client_connect(const char *unix_path, const char *host, int port,
			int timeout_ms, char *err, size_t errlen)
{
	int fd = open_conn(unix_path, host, port, deadline_of(timeout_ms), err,
			   errlen);
	if (fd >= 0 && set_nonblocking(fd, 0) < 0) {
		seterr(err, errlen, "fcntl: %s", strerror(errno));
		close(fd);
		return GLIA_CLIENT_EFAIL;
	}
	return fd;
}

/* ---- sending ---- */

static int send_all(int fd, const char *p, size_t n, uint64_t deadline,
		    const volatile sig_atomic_t *cancel, char *err,
		    size_t errlen)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			seterr(err, errlen, "send: %s", strerror(errno));
			return GLIA_CLIENT_EFAIL;
		}
		int rc = wait_fd(fd, POLLOUT, deadline, cancel);
		if (rc < 0) {
			seterr(err, errlen, "sending the request: %s",
			       rc == GLIA_CLIENT_ETIMEDOUT ? "timed out"
							   : "interrupted");
			return rc;
		}
	}
	return 0;
}

static int method_has_body(const char *method)
{
	return strcmp(method, "GET") && strcmp(method, "HEAD") &&
	       strcmp(method, "DELETE");
}

static int send_request(int fd, const char *host, int port,
			const char *token, const char *method, const char *path,
			const char *content_type, const char *body,
			size_t body_len, uint64_t deadline,
			const volatile sig_atomic_t *cancel, char *err,
			size_t errlen)
{
	glia_buf head;
	glia_buf_init(&head, 0);
	glia_buf_printf(&head, "%s %s HTTP/1.1\r\n", method, path);
	if (!host)
		glia_buf_puts(&head, "Host: localhost\r\n");
	else if (strchr(host, ':'))
		glia_buf_printf(&head, "Host: [%s]:%d\r\n", host, port);
	else
		glia_buf_printf(&head, "Host: %s:%d\r\n", host, port);
	glia_buf_puts(&head, "User-Agent: glia/" GLIA_VERSION "\r\n"
			     "Accept: */*\r\nConnection: close\r\n");
	if (token)
		glia_buf_printf(&head, "Authorization: Bearer %s\r\n", token);
	if (content_type)
		glia_buf_printf(&head, "Content-Type: %s\r\n", content_type);
	if (body_len > 0 || method_has_body(method))
		glia_buf_printf(&head, "Content-Length: %zu\r\n", body_len);
	glia_buf_puts(&head, "\r\n");
	int rc = send_all(fd, head.data, head.len, deadline, cancel, err,
			  errlen);
	if (rc == 0 && body_len > 0)
		rc = send_all(fd, body, body_len, deadline, cancel, err,
			      errlen);
	glia_buf_free(&head);
	return rc;
}

/* ---- receiving ---- */

/* Reads what is there (waiting for at least one byte). Returns the count,
 * 0 at EOF, or a negative code. */
static ssize_t recv_some(int fd, char *buf, size_t n, uint64_t deadline,
			 const volatile sig_atomic_t *cancel, char *err,
			 size_t errlen)
{
	for (;;) {
		ssize_t r = recv(fd, buf, n, 0);
		if (r >= 0)
			return r;
		if (errno != EAGAIN && errno != EINTR) {
			seterr(err, errlen, "recv: %s", strerror(errno));
			return GLIA_CLIENT_EFAIL;
		}
		int rc = wait_fd(fd, POLLIN, deadline, cancel);
		if (rc < 0) {
			seterr(err, errlen, "waiting for the answer: %s",
			       rc == GLIA_CLIENT_ETIMEDOUT ? "timed out"
							   : "interrupted");
			return rc;
		}
	}
}

static void take_message(const glia_http_msg *m, glia_client_response *out)
{
	out->status = m->status;
	const char *ct = glia_http_msg_header(m, "Content-Type");
	free(out->content_type);
	out->content_type = ct ? glia_strdup(ct) : NULL;
	glia_buf_reset(&out->body);
	glia_buf_append(&out->body, m->body, m->body_len);
}

static int parse_failed(glia_http_parser *p, char *err, size_t errlen)
{
	if (glia_http_parser_error_status(p) == 413) {
		seterr(err, errlen, "answer larger than %u bytes",
		       GLIA_CLIENT_MAX_BODY);
		return GLIA_CLIENT_ETOOBIG;
	}
	seterr(err, errlen, "bad HTTP answer: %s",
	       glia_http_parser_error_message(p));
	return GLIA_CLIENT_EFAIL;
}

static int read_whole(int fd, uint64_t deadline, glia_client_response *out,
		      char *err, size_t errlen)
{
	glia_http_limits lim = {.max_header_bytes = MAX_HEAD,
				.max_body_bytes = GLIA_CLIENT_MAX_BODY};
	glia_http_parser *p = glia_http_parser_new(GLIA_HTTP_RESPONSE, &lim);
	char buf[65536];
	int rc;
	for (;;) {
		ssize_t n = recv_some(fd, buf, sizeof buf, deadline, NULL, err,
				      errlen);
		if (n < 0) {
			rc = (int)n;
			goto done;
		}
		size_t used = 0;
		int st = n ? glia_http_parser_feed(p, buf, (size_t)n, &used)
			   : glia_http_parser_eof(p);
		if (st == GLIA_HTTP_DONE) {
			take_message(glia_http_parser_msg(p), out);
			rc = 0;
			goto done;
		}
		if (st == GLIA_HTTP_ERROR) {
			rc = parse_failed(p, err, errlen);
			goto done;
		}
		if (n == 0) {
			seterr(err, errlen, "connection closed before an answer");
			rc = GLIA_CLIENT_EFAIL;
			goto done;
		}
	}
done:
	glia_http_parser_free(p);
	return rc;
}

int glia_client_request(const char *unix_path, const char *host, int port,
			const char *method, const char *path,
			const char *content_type, const char *body,
			size_t body_len, int timeout_ms,
			glia_client_response *out, char *err, size_t errlen)
{
	return glia_client_request_auth(unix_path, host, port, NULL, method,
					path, content_type, body, body_len,
					timeout_ms, out, err, errlen);
}

int glia_client_request_auth(const char *unix_path, const char *host,
			     int port, const char *token, const char *method,
			     const char *path, const char *content_type,
			     const char *body, size_t body_len, int timeout_ms,
			     glia_client_response *out, char *err,
			     size_t errlen)
{
	uint64_t deadline = deadline_of(timeout_ms);
	if (!out->body.max)
		glia_buf_init(&out->body, 0);
	out->status = 0;
	int fd = open_conn(unix_path, host, port, deadline, err, errlen);
	if (fd < 0)
		return fd;
	int rc = send_request(fd, unix_path ? NULL : host, port, token, method,
			      path, content_type, body, body_len, deadline,
			      NULL, err, errlen);
	if (rc == 0)
		rc = read_whole(fd, deadline, out, err, errlen);
	close(fd);
	return rc;
}

/* ---- streaming: head reader and body decoder ---- */

enum { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_EOF };
enum { CH_SIZE, CH_DATA, CH_DATA_END, CH_TRAILER, CH_DONE };

typedef struct stream {
	int status;
	int mode;
	uint64_t remaining; /* BODY_LENGTH: left; chunked: left in chunk */
	int chunk_state;
	char line[256]; /* chunk size or trailer line being read */
	size_t line_len;
	glia_client_body_cb cb;
	void *ud;
	int stopped; /* the callback asked to stop */
} stream;

/* Value of header name in the head block (lines after the status line),
 * copied into out; 0 when found, -1 otherwise. */
static int head_value(const char *head, const char *name, char *out,
		      size_t outlen)
{
	size_t nlen = strlen(name);
	const char *line = strstr(head, "\r\n");
	while (line && line[2] != '\r' && line[2] != '\0') {
		line += 2;
		const char *end = strstr(line, "\r\n");
		if (!end)
			return -1;
		if ((size_t)(end - line) > nlen && line[nlen] == ':' &&
		    strncasecmp(line, name, nlen) == 0) {
			const char *v = line + nlen + 1;
			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			size_t vlen = (size_t)(end - v);
			while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
				vlen--;
			snprintf(out, outlen, "%.*s", (int)vlen, v);
			return 0;
		}
		line = end;
	}
	return -1;
}

/* Parses the head (status line and headers, ending in CRLFCRLF) into s. */
static int parse_head(const char *head, stream *s, char *err, size_t errlen)
{
	int major, minor, status;
	if (sscanf(head, "HTTP/%d.%d %3d", &major, &minor, &status) != 3 ||
	    status < 100 || status > 999) {
		seterr(err, errlen, "bad HTTP answer: malformed status line");
		return GLIA_CLIENT_EFAIL;
	}
	s->status = status;
	char v[128];
	if (status == 204 || status == 304 || status < 200) {
		s->mode = BODY_NONE;
	} else if (head_value(head, "Transfer-Encoding", v, sizeof v) == 0 &&
		   strcasestr(v, "chunked")) {
		s->mode = BODY_CHUNKED;
		s->chunk_state = CH_SIZE;
	} else if (head_value(head, "Content-Length", v, sizeof v) == 0) {
		char *end;
		errno = 0;
		unsigned long long cl = strtoull(v, &end, 10);
		if (errno || end == v || *end || v[0] == '-') {
			seterr(err, errlen, "bad HTTP answer: Content-Length");
			return GLIA_CLIENT_EFAIL;
		}
		s->mode = cl ? BODY_LENGTH : BODY_NONE;
		s->remaining = cl;
	} else {
		s->mode = BODY_EOF;
	}
	return 0;
}

static void emit(stream *s, const char *p, size_t n)
{
	if (n && !s->stopped && s->cb(s->ud, s->status, p, n))
		s->stopped = 1;
}

/* Collects one CRLF-terminated line into s->line (without CRLF).
 * Returns bytes used; *complete set when the line ended; -1 when too long. */
static ssize_t take_line(stream *s, const char *p, size_t n, int *complete)
{
	*complete = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			if (s->line_len && s->line[s->line_len - 1] == '\r')
				s->line_len--;
			s->line[s->line_len] = '\0';
			*complete = 1;
			return (ssize_t)(i + 1);
		}
		if (s->line_len + 1 >= sizeof s->line)
			return -1;
		s->line[s->line_len++] = p[i];
	}
	return (ssize_t)n;
}

/* Handles a complete control line in the chunked state machine. */
static int chunk_line(stream *s)
{
	if (s->chunk_state == CH_SIZE) {
		char *end;
		errno = 0;
		unsigned long long sz = strtoull(s->line, &end, 16);
		if (errno || end == s->line || (*end && *end != ';' &&
						*end != ' ' && *end != '\t'))
			return -1;
		s->remaining = sz;
		s->chunk_state = sz ? CH_DATA : CH_TRAILER;
	} else if (s->chunk_state == CH_DATA_END) {
		if (s->line[0])
			return -1;
		s->chunk_state = CH_SIZE;
	} else if (s->chunk_state == CH_TRAILER && !s->line[0]) {
		s->chunk_state = CH_DONE;
	}
	s->line_len = 0;
	return 0;
}

/* Feeds chunked body bytes. 1 when the body ended, 0 for more, -1 bad. */
static int feed_chunked(stream *s, const char *p, size_t n)
{
	while (n > 0 && s->chunk_state != CH_DONE) {
		if (s->chunk_state == CH_DATA) {
			size_t k = n < s->remaining ? n : (size_t)s->remaining;
			emit(s, p, k);
			p += k;
			n -= k;
			s->remaining -= k;
			if (!s->remaining)
				s->chunk_state = CH_DATA_END;
			continue;
		}
		int complete;
		ssize_t used = take_line(s, p, n, &complete);
		if (used < 0 || (complete && chunk_line(s) < 0))
			return -1;
		p += used;
		n -= (size_t)used;
	}
	return s->chunk_state == CH_DONE;
}

/* Feeds body bytes in any mode. 1 when the body ended, 0 for more, -1 bad. */
static int feed_body(stream *s, const char *p, size_t n)
{
	switch (s->mode) {
	case BODY_NONE:
		return 1;
	case BODY_LENGTH: {
		size_t k = n < s->remaining ? n : (size_t)s->remaining;
		emit(s, p, k);
		s->remaining -= k;
		return s->remaining == 0;
	}
	case BODY_CHUNKED:
		return feed_chunked(s, p, n);
	default:
		emit(s, p, n);
		return 0;
	}
}

/* Reads until the end of the head; leftover body bytes are fed on. */
static int read_head(int fd, stream *s, uint64_t deadline,
		     const volatile sig_atomic_t *cancel, char *err,
		     size_t errlen, int *ended)
{
	glia_buf head;
	glia_buf_init(&head, MAX_HEAD);
	char buf[16384];
	int rc = GLIA_CLIENT_EFAIL;
	*ended = 0;
	for (;;) {
		ssize_t n = recv_some(fd, buf, sizeof buf, deadline, cancel,
				      err, errlen);
		if (n < 0) {
			rc = (int)n;
			goto done;
		}
		if (n == 0) {
			seterr(err, errlen, "connection closed before an answer");
			goto done;
		}
		if (glia_buf_append(&head, buf, (size_t)n) < 0) {
			seterr(err, errlen, "bad HTTP answer: head too large");
			goto done;
		}
		char *end = strstr(head.data, "\r\n\r\n");
		if (!end)
			continue;
		size_t hlen = (size_t)(end - head.data) + 4;
		end[2] = '\0'; /* keep the last header's CRLF */
		rc = parse_head(head.data, s, err, errlen);
		if (rc < 0)
			goto done;
		s->stopped = s->cb(s->ud, s->status, "", 0) != 0;
		int r = feed_body(s, head.data + hlen, head.len - hlen);
		if (r < 0) {
			seterr(err, errlen, "bad HTTP answer: chunked body");
			rc = GLIA_CLIENT_EFAIL;
			goto done;
		}
		*ended = r;
		rc = 0;
		goto done;
	}
done:
	glia_buf_free(&head);
	return rc;
}

static int read_stream(int fd, stream *s, uint64_t deadline,
		       const volatile sig_atomic_t *cancel, char *err,
		       size_t errlen)
{
	int ended;
	int rc = read_head(fd, s, deadline, cancel, err, errlen, &ended);
	char buf[65536];
	while (rc == 0 && !ended && !s->stopped) {
		ssize_t n = recv_some(fd, buf, sizeof buf, deadline, cancel,
				      err, errlen);
		if (n < 0)
			return (int)n;
		if (n == 0) {
			if (s->mode == BODY_EOF)
				return 0;
			seterr(err, errlen, "connection closed mid-answer");
			return GLIA_CLIENT_EFAIL;
		}
		int r = feed_body(s, buf, (size_t)n);
		if (r < 0) {
			seterr(err, errlen, "bad HTTP answer: chunked body");
			return GLIA_CLIENT_EFAIL;
		}
		ended = r;
	}
	return rc;
}

int glia_client_stream(const char *unix_path, const char *host, int port,
		       const char *method, const char *path,
		       const char *content_type, const char *body,
		       size_t body_len, int timeout_ms,
		       const volatile sig_atomic_t *cancel,
		       glia_client_body_cb cb, void *ud, int *status_out,
		       char *err, size_t errlen)
{
	return glia_client_stream_auth(unix_path, host, port, NULL, method,
				       path, content_type, body, body_len,
				       timeout_ms, cancel, cb, ud, status_out,
				       err, errlen);
}

int glia_client_stream_auth(const char *unix_path, const char *host,
			    int port, const char *token, const char *method,
			    const char *path, const char *content_type,
			    const char *body, size_t body_len, int timeout_ms,
			    const volatile sig_atomic_t *cancel,
			    glia_client_body_cb cb, void *ud, int *status_out,
			    char *err, size_t errlen)
{
	uint64_t deadline = deadline_of(timeout_ms);
	stream s = {.cb = cb, .ud = ud};
	int fd = open_conn(unix_path, host, port, deadline, err, errlen);
	if (fd < 0)
		return fd;
	int rc = send_request(fd, unix_path ? NULL : host, port, token, method,
			      path, content_type, body, body_len, deadline,
			      cancel, err, errlen);
	if (rc == 0)
		rc = read_stream(fd, &s, deadline, cancel, err, errlen);
	close(fd);
	if (status_out)
		*status_out = s.status;
	return rc;
}

/* ---- URLs ---- */

static int parse_port(const char *s, size_t n, int *port)
{
	if (n == 0 || n > 5)
		return -1;
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return -1;
	*port = v;
	return 0;
}

int glia_client_parse_url(const char *url, char *host, size_t hostlen,
			  int *port, char **path)
{
	static const char scheme[] = "http://";
	if (strncasecmp(url, scheme, sizeof scheme - 1) != 0)
		return -1;
	const char *h = url + sizeof scheme - 1;
	const char *slash = strchr(h, '/');
	const char *end = slash ? slash : h + strlen(h);
	const char *hend, *colon;
	if (*h == '[') {
		h++;
		hend = memchr(h, ']', (size_t)(end - h));
		if (!hend)
			return -1;
		colon = hend + 1 < end ? hend + 1 : NULL;
		if (colon && *colon != ':')
			return -1;
	} else {
		colon = memchr(h, ':', (size_t)(end - h));
		hend = colon ? colon : end;
	}
	if (hend == h || (size_t)(hend - h) >= hostlen)
		return -1;
	*port = 80;
	if (colon && parse_port(colon + 1, (size_t)(end - colon - 1), port) < 0)
		return -1;
	memcpy(host, h, (size_t)(hend - h));
	host[hend - h] = '\0';
	*path = glia_strdup(slash ? slash : "/");
	return 0;
}

int glia_client_url_encode(glia_buf *out, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		int plain = isalnum(c) || c == '-' || c == '.' || c == '_' ||
			    c == '~';
		int r = plain ? glia_buf_append(out, s, 1)
			      : glia_buf_printf(out, "%%%02X", c);
		if (r < 0)
			return -1;
	}
	return 0;
}
