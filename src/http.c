/* http.c: see http.h. A thin, incremental layer over http-parser.
 *
 * Everything of one message (url, header names and values, body) is
 * appended to a single growable buffer owned by the parser, in the order
 * http-parser reports it; the path copy has a small buffer of its own. While
 * parsing we only record offsets, because the buffer may move when it grows;
 * the pointers in glia_http_msg are computed once the message is complete.
 * The buffers survive reset, so a connection parses message after message
 * without allocating once they have reached their working size.
 *
 * Limits are exact: while the header section is being read, the parser is
 * never handed more bytes than the header allowance left (http-parser's own
 * 80 KiB cap still applies above that), and the body cap is checked against
 * Content-Length or the chunk size before the bytes are read.
 *
 * Stricter than http-parser built non-strict: header names must be tokens
 * and values free of control bytes, as RFC 9110 asks; both are request
 * smuggling vectors otherwise. */
#include "http.h"

#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_MAX_HEADER_BYTES (64 * 1024)
#define DEFAULT_MAX_BODY_BYTES   (32 * 1024 * 1024)

/* Which data callback ran last: decides where one string ends. */
enum last_cb { CB_NONE, CB_FIELD, CB_VALUE };

enum state { ST_PARSING, ST_DONE, ST_ERROR };

typedef struct header_off {
	size_t name_off, name_len;
	size_t value_off, value_len;
} header_off;

struct glia_http_parser {
	http_parser hp;
	glia_http_kind kind;
	glia_http_limits limits;
	enum state state;
	int started;      /* on_message_begin seen */
	int headers_done; /* on_headers_complete seen */
	int expect_continue; /* "Expect: 100-continue" not yet answered */
	int url_done;     /* the url's NUL has been stored */
	enum last_cb last;
	size_t header_bytes; /* bytes fed while in the header section */
	glia_buf store;      /* url, headers, body */
	glia_buf path;       /* url up to '?' */
	size_t url_len;
	size_t path_len;
	size_t body_off, body_len;
	header_off hdr[GLIA_HTTP_MAX_HEADERS];
	size_t n_hdr;
	int err_status;
	char err_msg[128];
	glia_http_msg msg;
};

static int on_message_begin(http_parser *hp);
static int on_url(http_parser *hp, const char *at, size_t len);
static int on_header_field(http_parser *hp, const char *at, size_t len);
static int on_header_value(http_parser *hp, const char *at, size_t len);
static int on_headers_complete(http_parser *hp);
static int on_body(http_parser *hp, const char *at, size_t len);
static int on_chunk_header(http_parser *hp);
static int on_message_complete(http_parser *hp);

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
    .on_chunk_header = on_chunk_header,
};

/* Records the first error of a message; returns -1 for the callbacks. */
static int fail_with(glia_http_parser *p, int status, const char *msg)
{
	if (!p->err_status) {
		p->err_status = status;
		snprintf(p->err_msg, sizeof(p->err_msg), "%s", msg);
	}
	return -1;
}

static int store_append(glia_http_parser *p, const char *at, size_t len)
{
	if (glia_buf_append(&p->store, at, len) < 0)
		return fail_with(p, 500, "out of parser memory");
	return 0;
}

static int store_nul(glia_http_parser *p)
{
	return store_append(p, "", 1);
}

static int is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Terminates the url (the first thing stored) once something else begins. */
static int end_url(glia_http_parser *p)
{
	if (p->url_done)
		return 0;
	p->url_done = 1;
	p->url_len = p->store.len;
	return store_nul(p);
}

static int is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Control bytes other than HTAB may not appear in a field value (RFC 9110
 * 5.5); http-parser lets NUL through, which would cut our C strings. */
static int is_ctl(unsigned char c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

/* Ends the name being stored. http-parser (unless built strict) lets spaces
 * into names; RFC 9112 says to reject them, they smuggle requests. */
static int end_name(glia_http_parser *p)
{
	header_off *h = &p->hdr[p->n_hdr - 1];
	const unsigned char *s =
	    (const unsigned char *)p->store.data + h->name_off;

	h->name_len = p->store.len - h->name_off;
	if (h->name_len == 0)
		return fail_with(p, 400, "empty header name");
	for (size_t i = 0; i < h->name_len; i++)
		if (!is_tchar(s[i]))
			return fail_with(p, 400,
			                 "invalid character in header name");
	if (store_nul(p) < 0)
		return -1;
	h->value_off = p->store.len;
	return 0;
}

/* Closes the header being stored: a value (maybe empty) follows its name,
 * and surrounding whitespace is trimmed off the value. */
static int end_header(glia_http_parser *p)
{
	header_off *h = &p->hdr[p->n_hdr - 1];

	if (p->last == CB_FIELD && end_name(p) < 0)
		return -1;
	const char *v = p->store.data + h->value_off;
	size_t n = p->store.len - h->value_off;
	while (n && is_ows(v[n - 1]))
		n--;
	p->store.len = h->value_off + n;
	while (n && is_ows(*v)) {
		v++;
		n--;
		h->value_off++;
	}
	h->value_len = n;
	p->last = CB_NONE;
	for (size_t i = 0; i < n; i++)
		if (is_ctl((unsigned char)v[i]))
			return fail_with(p, 400,
			                 "invalid character in header value");
	return store_nul(p);
}

static glia_http_parser *from_hp(http_parser *hp)
{
	return hp->data;
}

static int on_message_begin(http_parser *hp)
{
	from_hp(hp)->started = 1;
	return 0;
}

static int on_url(http_parser *hp, const char *at, size_t len)
{
	return store_append(from_hp(hp), at, len);
}

static int on_header_field(http_parser *hp, const char *at, size_t len)
{
	glia_http_parser *p = from_hp(hp);

	if (p->headers_done)
		return 0; /* chunked trailers are not kept */
	if (end_url(p) < 0)
		return -1;
	if (p->last != CB_FIELD) {
		if (p->last == CB_VALUE && end_header(p) < 0)
			return -1;
		if (p->n_hdr == GLIA_HTTP_MAX_HEADERS)
			return fail_with(p, 431, "too many header fields");
		p->hdr[p->n_hdr++].name_off = p->store.len;
		p->last = CB_FIELD;
	}
	return store_append(p, at, len);
}

static int on_header_value(http_parser *hp, const char *at, size_t len)
{
	glia_http_parser *p = from_hp(hp);

	if (p->headers_done)
		return 0;
	if (p->last == CB_FIELD) {
		if (end_name(p) < 0)
			return -1;
		p->last = CB_VALUE;
	}
	return store_append(p, at, len);
}

static int check_version(glia_http_parser *p)
{
	if (p->hp.http_major == 1 && p->hp.http_minor <= 1)
		return 0;
	return fail_with(p, 505, "HTTP version not supported");
}

/* A request target must be origin-form ("/path?query"), except for CONNECT
 * (authority-form) and "OPTIONS *". */
static int check_target(glia_http_parser *p)
{
	const char *url = p->store.data;

	if (p->hp.method == HTTP_CONNECT)
		return 0;
	if (url[0] == '/')
		return 0;
	if (p->hp.method == HTTP_OPTIONS && strcmp(url, "*") == 0)
		return 0;
	return fail_with(p, 400, "request target must be an absolute path");
}

/* Copies the url up to '?' into its own buffer, NUL-terminated. */
static int store_path(glia_http_parser *p)
{
	size_t n = p->url_len;

	if (p->kind == GLIA_HTTP_REQUEST && p->hp.method != HTTP_CONNECT) {
		const char *q = memchr(p->store.data, '?', p->url_len);
		if (q)
			n = (size_t)(q - p->store.data);
	}
	p->path_len = n;
	glia_buf_reset(&p->path);
	if (glia_buf_append(&p->path, p->store.data, n) < 0)
		return fail_with(p, 500, "out of parser memory");
	return 0;
}

static int check_content_length(glia_http_parser *p)
{
	if (!(p->hp.flags & F_CONTENTLENGTH))
		return 0;
	if (p->hp.content_length <= p->limits.max_body_bytes)
		return 0;
	return fail_with(p, 413, "body too large");
}

static int expects_continue(const glia_http_parser *p)
{
	for (size_t i = 0; i < p->n_hdr; i++) {
		const header_off *h = &p->hdr[i];
		if (h->name_len == 6 &&
		    strncasecmp(p->store.data + h->name_off, "expect", 6) == 0 &&
		    h->value_len == 12 &&
		    strncasecmp(p->store.data + h->value_off, "100-continue",
				12) == 0)
			return 1;
	}
	return 0;
}

static int on_headers_complete(http_parser *hp)
{
	glia_http_parser *p = from_hp(hp);

	if (end_url(p) < 0)
		return -1;
	if (p->last != CB_NONE && end_header(p) < 0)
		return -1;
	p->headers_done = 1;
	if (check_version(p) < 0)
		return -1;
	if (p->kind == GLIA_HTTP_REQUEST && check_target(p) < 0)
		return -1;
	if (check_content_length(p) < 0)
		return -1;
	if (store_path(p) < 0)
		return -1;
	p->body_off = p->store.len;
	p->expect_continue = p->kind == GLIA_HTTP_REQUEST && expects_continue(p);
	return 0;
}

static int on_body(http_parser *hp, const char *at, size_t len)
{
	glia_http_parser *p = from_hp(hp);

	if (len > p->limits.max_body_bytes - p->body_len)
		return fail_with(p, 413, "body too large");
	p->body_len += len;
	return store_append(p, at, len);
}

/* Fails on a chunk that would overflow the body cap before reading it. */
static int on_chunk_header(http_parser *hp)
{
	glia_http_parser *p = from_hp(hp);

	if (hp->content_length > p->limits.max_body_bytes - p->body_len)
		return fail_with(p, 413, "body too large");
	return 0;
}

static void build_msg(glia_http_parser *p)
{
	glia_http_msg *m = &p->msg;
	const char *base = p->store.data;

	if (p->kind == GLIA_HTTP_REQUEST) {
		const char *q;
		m->method = http_method_str((enum http_method)p->hp.method);
		m->url = base;
		m->path = p->path.data;
		q = p->path_len < p->url_len ? base + p->path_len + 1 : "";
		m->query = q;
	} else {
		m->method = m->url = m->path = m->query = "";
	}
	m->status = p->kind == GLIA_HTTP_RESPONSE ? (int)p->hp.status_code : 0;
	m->http_major = p->hp.http_major;
	m->http_minor = p->hp.http_minor;
	m->keep_alive = http_should_keep_alive(&p->hp);
	m->chunked = (p->hp.flags & F_CHUNKED) != 0;
	for (size_t i = 0; i < p->n_hdr; i++) {
		m->headers[i].name = base + p->hdr[i].name_off;
		m->headers[i].name_len = p->hdr[i].name_len;
		m->headers[i].value = base + p->hdr[i].value_off;
		m->headers[i].value_len = p->hdr[i].value_len;
	}
	m->n_headers = p->n_hdr;
	m->body = base + p->body_off;
	m->body_len = p->body_len;
}

static int on_message_complete(http_parser *hp)
{
	glia_http_parser *p = from_hp(hp);

	/* The body is last in the buffer, so it is already NUL-terminated. */
	build_msg(p);
	p->state = ST_DONE;
	http_parser_pause(hp, 1); /* leave pipelined bytes unconsumed */
	return 0;
}

glia_http_parser *glia_http_parser_new(glia_http_kind kind,
                                       const glia_http_limits *limits)
{
	glia_http_parser *p = glia_calloc(1, sizeof(*p));

	p->kind = kind;
	p->limits.max_header_bytes = DEFAULT_MAX_HEADER_BYTES;
	p->limits.max_body_bytes = DEFAULT_MAX_BODY_BYTES;
	if (limits && limits->max_header_bytes)
		p->limits.max_header_bytes = limits->max_header_bytes;
	if (limits && limits->max_body_bytes)
		p->limits.max_body_bytes = limits->max_body_bytes;
	glia_buf_init(&p->store, 0);
	glia_buf_init(&p->path, 0);
	/* Allocate now, so that data is never NULL (empty url, empty body). */
	glia_buf_append(&p->store, "", 0);
	glia_buf_append(&p->path, "", 0);
	glia_http_parser_reset(p);
	return p;
}

void glia_http_parser_free(glia_http_parser *p)
{
	if (!p)
		return;
	glia_buf_free(&p->store);
	glia_buf_free(&p->path);
	free(p);
}

void glia_http_parser_reset(glia_http_parser *p)
{
	http_parser_init(&p->hp, p->kind == GLIA_HTTP_REQUEST ? HTTP_REQUEST
	                                                      : HTTP_RESPONSE);
	p->hp.data = p;
	p->state = ST_PARSING;
	p->started = 0;
	p->headers_done = 0;
	p->expect_continue = 0;
	p->url_done = 0;
	p->last = CB_NONE;
	p->header_bytes = 0;
	glia_buf_reset(&p->store);
	glia_buf_reset(&p->path);
	p->url_len = 0;
	p->path_len = 0;
	p->body_off = 0;
	p->body_len = 0;
	p->n_hdr = 0;
	p->err_status = 0;
	p->err_msg[0] = '\0';
}

/* Turns an http-parser failure into our error, unless a callback already
 * recorded a more precise one. */
static int parse_error(glia_http_parser *p)
{
	enum http_errno e = HTTP_PARSER_ERRNO(&p->hp);

	p->state = ST_ERROR;
	if (p->err_status)
		return GLIA_HTTP_ERROR;
	if (e == HPE_HEADER_OVERFLOW) {
		fail_with(p, 431, "header section too large");
		return GLIA_HTTP_ERROR;
	}
	p->err_status = 400;
	snprintf(p->err_msg, sizeof(p->err_msg), "malformed %s: %s",
	         p->kind == GLIA_HTTP_REQUEST ? "request" : "response",
	         http_errno_description(e));
	return GLIA_HTTP_ERROR;
}

static int header_overflow(glia_http_parser *p)
{
	p->state = ST_ERROR;
	fail_with(p, 431, "header section too large");
	return GLIA_HTTP_ERROR;
}

/* Runs http-parser over data. While the header section is incomplete it is
 * given at most the header allowance that is left, so an oversized header
 * section is caught exactly at max_header_bytes. */
int glia_http_parser_feed(glia_http_parser *p, const char *data, size_t len,
                          size_t *consumed)
{
	size_t off = 0;

	*consumed = 0;
	if (p->state == ST_DONE)
		return GLIA_HTTP_DONE;
	if (p->state == ST_ERROR)
		return GLIA_HTTP_ERROR;
	while (off < len) {
		size_t n = len - off;
		int in_header = !p->headers_done;
		if (in_header &&
		    n > p->limits.max_header_bytes - p->header_bytes)
			n = p->limits.max_header_bytes - p->header_bytes;
		size_t got =
		    http_parser_execute(&p->hp, &settings, data + off, n);
		off += got;
		*consumed = off;
		if (p->state == ST_DONE)
			return GLIA_HTTP_DONE;
		if (HTTP_PARSER_ERRNO(&p->hp) != HPE_OK || got < n)
			return parse_error(p);
		if (in_header && !p->headers_done) {
			p->header_bytes += got;
			if (p->header_bytes >= p->limits.max_header_bytes)
				return header_overflow(p);
		}
	}
	return GLIA_HTTP_AGAIN;
}

int glia_http_parser_eof(glia_http_parser *p)
{
	if (p->state == ST_DONE)
		return GLIA_HTTP_DONE;
	if (p->state == ST_ERROR)
		return GLIA_HTTP_ERROR;
	if (!p->started)
		return GLIA_HTTP_AGAIN;
	http_parser_execute(&p->hp, &settings, "", 0);
	if (p->state == ST_DONE)
		return GLIA_HTTP_DONE;
	p->state = ST_ERROR;
	fail_with(p, 400,
	          p->kind == GLIA_HTTP_REQUEST
	              ? "connection closed before the request was complete"
	              : "connection closed before the response was complete");
	return GLIA_HTTP_ERROR;
}

int glia_http_parser_take_continue(glia_http_parser *p)
{
	int want = p->expect_continue && p->headers_done &&
		   p->state == ST_PARSING;
	p->expect_continue = 0;
	return want;
}

int glia_http_parser_started(const glia_http_parser *p)
{
	return p->started;
}

int glia_http_parser_headers_done(const glia_http_parser *p)
{
	return p->headers_done;
}

/* The last complete message; NULL unless feed or eof returned DONE. */
const glia_http_msg *glia_http_parser_msg(const glia_http_parser *p)
{
	return p->state == ST_DONE ? &p->msg : NULL;
}

int glia_http_parser_error_status(const glia_http_parser *p)
{
	return p->state == ST_ERROR ? p->err_status : 0;
}

const char *glia_http_parser_error_message(const glia_http_parser *p)
{
	return p->state == ST_ERROR ? p->err_msg : "";
}

const char *glia_http_msg_header(const glia_http_msg *m, const char *name)
{
	for (size_t i = 0; i < m->n_headers; i++)
		if (strcasecmp(m->headers[i].name, name) == 0)
			return m->headers[i].value;
	return NULL;
}

const char *glia_http_status_text(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 101:
		return "Switching Protocols";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 301:
		return "Moved Permanently";
	case 302:
		return "Found";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 411:
		return "Length Required";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 415:
		return "Unsupported Media Type";
	case 422:
		return "Unprocessable Content";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	case 507:
		return "Insufficient Storage";
	default:
		return "Unknown";
	}
}

/* Formatting avoids printf: these run once per response on the hot path. */
static int append_str(glia_buf *out, const char *s)
{
	return glia_buf_append(out, s, strlen(s));
}

static int append_uint(glia_buf *out, unsigned long long v)
{
	char tmp[24];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return glia_buf_append(out, tmp + i, sizeof(tmp) - i);
}

static int append_head(glia_buf *out, int status, const char *content_type,
                       size_t body_len, int keep_alive,
                       const char *extra_headers)
{
	if (append_str(out, "HTTP/1.1 ") < 0 ||
	    append_uint(out, status < 0 ? 0 : (unsigned)status) < 0 ||
	    append_str(out, " ") < 0 ||
	    append_str(out, glia_http_status_text(status)) < 0 ||
	    append_str(out, "\r\n") < 0)
		return -1;
	if (content_type &&
	    (append_str(out, "Content-Type: ") < 0 ||
	     append_str(out, content_type) < 0 || append_str(out, "\r\n") < 0))
		return -1;
	if (append_str(out, "Content-Length: ") < 0 ||
	    append_uint(out, body_len) < 0 ||
	    append_str(out, keep_alive ? "\r\nConnection: keep-alive\r\n"
	                               : "\r\nConnection: close\r\n") < 0)
		return -1;
	if (extra_headers && append_str(out, extra_headers) < 0)
		return -1;
	return append_str(out, "\r\n");
}

/* Puts out back as it was before a failed append sequence. */
static int rollback(glia_buf *out, size_t len)
{
	out->len = len;
	if (out->data)
		out->data[len] = '\0';
	return -1;
}

int glia_http_format_response_head(glia_buf *out, int status,
                                   const char *content_type, size_t body_len,
                                   int keep_alive, const char *extra_headers)
{
	size_t saved = out->len;

	if (append_head(out, status, content_type, body_len, keep_alive,
	                extra_headers) < 0)
		return rollback(out, saved);
	return 0;
}

/* Length of the UTF-8 sequence starting at s (at most n bytes), or 0 when
 * it is not well-formed (overlong, surrogate, beyond U+10FFFF, cut). */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned char lo = 0x80, hi = 0xBF;

	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		len = 2;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		len = 3;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		len = 4;
	else
		return 0;
	if (s[0] == 0xE0)
		lo = 0xA0;
	else if (s[0] == 0xED)
		hi = 0x9F;
	else if (s[0] == 0xF0)
		lo = 0x90;
	else if (s[0] == 0xF4)
		hi = 0x8F;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return len;
}

/* Writes the JSON string body of s (no quotes) to out when out is not NULL;
 * returns its length. Ill-formed UTF-8 becomes U+FFFD, so the result is
 * always valid JSON whatever the message holds. */
static size_t json_escape(glia_buf *out, const char *s, int *err)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t n = strlen(s), total = 0, i = 0;

	while (i < n) {
		char esc[8];
		const char *piece = esc;
		size_t len;
		if (u[i] == '"' || u[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)u[i];
			len = 2;
			i++;
		} else if (u[i] < 0x20) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[u[i] >> 4];
			esc[5] = hex[u[i] & 15];
			len = 6;
			i++;
		} else if (u[i] < 0x80) {
			size_t j = i;
			while (j < n && u[j] >= 0x20 && u[j] < 0x80 &&
			       u[j] != '"' && u[j] != '\\')
				j++;
			piece = s + i;
			len = j - i;
			i = j;
		} else if ((len = utf8_seq_len(u + i, n - i)) > 0) {
			piece = s + i;
			i += len;
		} else {
			piece = "\\ufffd";
			len = 6;
			i++;
		}
		if (out && glia_buf_append(out, piece, len) < 0)
			*err = 1;
		total += len;
	}
	return total;
}

int glia_http_format_error(glia_buf *out, int status, const char *message,
                           int keep_alive, const char *extra_headers)
{
	static const char pre[] = "{\"error\":\"", post[] = "\"}";
	size_t saved = out->len;
	int err = 0;

	if (!message)
		message = glia_http_status_text(status);
	size_t body_len = sizeof(pre) - 1 + json_escape(NULL, message, &err) +
	                  sizeof(post) - 1;
	if (append_head(out, status, "application/json", body_len, keep_alive,
	                extra_headers) < 0 ||
	    append_str(out, pre) < 0)
		return rollback(out, saved);
	json_escape(out, message, &err);
	if (err || append_str(out, post) < 0)
		return rollback(out, saved);
	return 0;
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Copies runs of plain bytes at once; only '%' and '+' stop the run. */
int glia_url_decode(glia_buf *out, const char *s, size_t len, int plus_is_space)
{
	size_t saved = out->len, i = 0;

	while (i < len) {
		size_t j = i;
		while (j < len && s[j] != '%' &&
		       (s[j] != '+' || !plus_is_space))
			j++;
		if (j > i && glia_buf_append(out, s + i, j - i) < 0)
			return rollback(out, saved);
		if (j == len)
			break;
		char c = ' ';
		if (s[j] == '%') {
			int hi = j + 2 < len ? hex_val(s[j + 1]) : -1;
			int lo = hi >= 0 ? hex_val(s[j + 2]) : -1;
			if (lo < 0)
				return rollback(out, saved);
			c = (char)(hi * 16 + lo);
			i = j + 3;
		} else {
			i = j + 1;
		}
		if (glia_buf_append(out, &c, 1) < 0)
			return rollback(out, saved);
	}
	if (!out->data)
		glia_buf_append(out, "", 0);
	return 0;
}
