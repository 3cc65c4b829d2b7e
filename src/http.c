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
 * http-parser parses heads only: bodies are framed here (Content-Length,
 * chunked, or up to EOF for a response), because Debian's libhttp-parser is
 * built non-strict and takes any two bytes after chunk data, or any byte
 * after a CR, as a line end. Stricter than that build everywhere: a CR in a
 * head must be followed by LF; chunk-size lines and chunk data end in CRLF;
 * Transfer-Encoding must be exactly "chunked" (another coding before it is
 * 501, chunked missing or not last is 400); header names must be tokens and
 * values free of control bytes, as RFC 9110 asks. Each is a request
 * smuggling vector otherwise.
 *
 * Storage: a body of known length is allocated once, at its full size;
 * other bodies grow by doubling, never past the limits. Storage larger than
 * SHRINK_ABOVE is released on reset, not kept for the next message, and
 * every byte of storage is charged to the parser's budget when it has one. */
#include "http.h"

#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_MAX_HEADER_BYTES (64 * 1024)
#define DEFAULT_MAX_BODY_BYTES   (32 * 1024 * 1024)
#define SHRINK_ABOVE             (256 * 1024)
#define SMALL_STORE              4096
#define MAX_CHUNK_LINE           4096 /* chunk-size line with extensions */

#include <stdatomic.h>

/* How a body is delimited, decided when the head is complete. */
enum body_mode { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_EOF };

/* Where the chunked reader stands. */
enum chunk_state {
	CH_SIZE,    /* hex digits of a chunk size */
	CH_BWS,     /* whitespace after the size: only ';' may follow */
	CH_EXT,     /* chunk extensions, up to CR */
	CH_SIZE_LF, /* the LF of the size line */
	CH_DATA,    /* chunk_left bytes of data */
	CH_DATA_CR, /* the CRLF after the data */
	CH_DATA_LF,
	CH_TRAILER,    /* start of a trailer line, or the final CRLF */
	CH_TRAILER_LN, /* inside a trailer line */
	CH_TRAILER_LF, /* the LF of a trailer line */
	CH_END_LF,     /* the LF of the final CRLF */
};

static _Atomic size_t released_bytes; /* glia_http_take_released */

/* Which data callback ran last: decides where one string ends. */
enum last_cb { CB_NONE, CB_FIELD, CB_VALUE };

enum state { ST_PARSING, ST_BODY, ST_DONE, ST_ERROR };

typedef struct header_off {
	size_t name_off, name_len;
	size_t value_off, value_len;
} header_off;

struct glia_http_parser {
	http_parser hp;
	glia_http_kind kind;
	glia_http_limits limits;
	enum state state;
	int started;         /* on_message_begin seen */
	int headers_done;    /* on_headers_complete seen */
	int expect_continue; /* "Expect: 100-continue" not yet answered */
	int url_done;        /* the url's NUL has been stored */
	int head_cr;         /* the last head byte was a CR: LF must follow */
	enum last_cb last;
	size_t header_bytes; /* bytes fed while in the header section */
	enum body_mode body_mode;
	enum chunk_state chunk;
	size_t body_left;  /* BODY_LENGTH: bytes still to come */
	size_t chunk_left; /* CH_DATA: bytes of the chunk still to come */
	size_t chunk_line; /* bytes of the chunk-size line or trailers */
	int chunk_digits;
	glia_http_budget *budget;
	glia_buf store; /* url, headers, body */
	glia_buf path;  /* url up to '?' */
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
static int on_message_complete(http_parser *hp);

/* No body callbacks: on_headers_complete tells http-parser to skip the body
 * and stop, and body_feed reads it. */
static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_message_complete = on_message_complete,
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

/* Gives the store exactly cap bytes, charged to the budget (force: even
 * past it, for the small store a reset keeps). */
static int store_resize(glia_http_parser *p, size_t cap, int force)
{
	size_t old = p->store.cap;
	glia_http_budget *b = p->budget;

	if (b && cap > old && !force && b->used + (cap - old) > b->max)
		return fail_with(p, 503,
		                 p->kind == GLIA_HTTP_REQUEST
		                     ? "server busy: too many request bytes "
		                       "buffered, retry later"
		                     : "server busy: too many answer bytes "
		                       "buffered, retry later");
	p->store.data = glia_realloc(p->store.data, cap);
	p->store.cap = cap;
	if (b)
		b->used = b->used + cap - old;
	return 0;
}

/* Largest store a message can need: the head, its NULs, the body. */
static size_t store_limit(const glia_http_parser *p)
{
	return p->limits.max_header_bytes + p->limits.max_body_bytes +
	       2 * GLIA_HTTP_MAX_HEADERS + 64;
}

/* Room for len more bytes and the NUL, doubling but not past the limit. */
static int store_reserve(glia_http_parser *p, size_t len)
{
	size_t need = p->store.len + len + 1;
	size_t cap = p->store.cap ? p->store.cap : 256;

	if (need <= p->store.cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if (cap > store_limit(p) && need <= store_limit(p))
		cap = store_limit(p);
	return store_resize(p, cap, 0);
}

static int store_append(glia_http_parser *p, const char *at, size_t len)
{
	if (store_reserve(p, len) < 0)
		return -1;
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
		    strncasecmp(p->store.data + h->name_off, "expect", 6) ==
		        0 &&
		    h->value_len == 12 &&
		    strncasecmp(p->store.data + h->value_off, "100-continue",
		                12) == 0)
			return 1;
	}
	return 0;
}

/* One coding of a Transfer-Encoding list: 1 for "chunked", 0 for another,
 * -1 for an empty element (skipped, as lists allow). */
static int coding_is_chunked(const char *s, size_t n)
{
	while (n && is_ows(*s)) {
		s++;
		n--;
	}
	while (n && is_ows(s[n - 1]))
		n--;
	if (n == 0)
		return -1;
	return n == 7 && strncasecmp(s, "chunked", 7) == 0;
}

/* Transfer-Encoding, over every field line of it: chunked once and last,
 * nothing else (RFC 9112 6.1 and 6.3). Sets *chunked. */
static int check_transfer_encoding(glia_http_parser *p, int *chunked)
{
	int n_chunked = 0, other = 0, last = 0;

	*chunked = 0;
	for (size_t i = 0; i < p->n_hdr; i++) {
		const header_off *h = &p->hdr[i];
		const char *v = p->store.data + h->value_off;
		if (h->name_len != 17 ||
		    strncasecmp(p->store.data + h->name_off,
		                "transfer-encoding", 17) != 0)
			continue;
		for (size_t a = 0; a <= h->value_len;) {
			size_t b = a;
			while (b < h->value_len && v[b] != ',')
				b++;
			int c = coding_is_chunked(v + a, b - a);
			if (c >= 0) {
				n_chunked += c;
				other += !c;
				last = c;
			}
			a = b + 1;
		}
	}
	if (n_chunked == 0 && other == 0)
		return 0;
	if (n_chunked != 1 || !last)
		return fail_with(p, 400,
		                 "Transfer-Encoding must end with chunked, "
		                 "once");
	if (other)
		return fail_with(p, 501,
		                 "transfer codings other than chunked are not "
		                 "supported");
	*chunked = 1;
	return 0;
}

/* How the body is delimited (RFC 9112 6.3); a known length is allocated at
 * once, within the budget. */
static int choose_body(glia_http_parser *p, int chunked)
{
	unsigned status = p->hp.status_code;

	p->body_mode = BODY_NONE;
	if (p->kind == GLIA_HTTP_RESPONSE &&
	    (status / 100 == 1 || status == 204 || status == 304))
		return 0;
	if (chunked) {
		p->body_mode = BODY_CHUNKED;
		p->chunk = CH_SIZE;
		return 0;
	}
	if (p->hp.flags & F_CONTENTLENGTH) {
		if (p->hp.content_length == 0)
			return 0;
		p->body_mode = BODY_LENGTH;
		p->body_left = (size_t)p->hp.content_length;
		return store_reserve(p, p->body_left);
	}
	if (p->kind == GLIA_HTTP_RESPONSE)
		p->body_mode = BODY_EOF;
	return 0;
}

/* Returns 1: http-parser skips the body (body_feed reads it) and reports
 * the message complete right after the head. */
static int on_headers_complete(http_parser *hp)
{
	glia_http_parser *p = from_hp(hp);
	int chunked;

	if (end_url(p) < 0)
		return -1;
	if (p->last != CB_NONE && end_header(p) < 0)
		return -1;
	p->headers_done = 1;
	if (check_version(p) < 0)
		return -1;
	if (p->kind == GLIA_HTTP_REQUEST && check_target(p) < 0)
		return -1;
	if (check_transfer_encoding(p, &chunked) < 0)
		return -1;
	if (check_content_length(p) < 0)
		return -1;
	if (store_path(p) < 0)
		return -1;
	p->body_off = p->store.len;
	if (choose_body(p, chunked) < 0)
		return -1;
	p->expect_continue =
	    p->kind == GLIA_HTTP_REQUEST && expects_continue(p);
	return 1;
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
	m->keep_alive =
	    p->body_mode != BODY_EOF && http_should_keep_alive(&p->hp);
	m->chunked = p->body_mode == BODY_CHUNKED;
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

static void finish_message(glia_http_parser *p)
{
	/* The body is last in the buffer, so it is already NUL-terminated. */
	build_msg(p);
	p->state = ST_DONE;
}

/* Right after the head (the body is skipped): the message is complete, or
 * its body comes next. */
static int on_message_complete(http_parser *hp)
{
	glia_http_parser *p = from_hp(hp);

	http_parser_pause(hp, 1); /* leave the rest unconsumed */
	if (p->body_mode == BODY_NONE)
		finish_message(p);
	else
		p->state = ST_BODY;
	return 0;
}

static int body_append(glia_http_parser *p, const char *at, size_t len)
{
	if (len > p->limits.max_body_bytes - p->body_len)
		return fail_with(p, 413, "body too large");
	p->body_len += len;
	return store_append(p, at, len);
}

static int bad_chunk(glia_http_parser *p, const char *why)
{
	char msg[96];

	snprintf(msg, sizeof msg, "malformed chunked body: %s", why);
	return fail_with(p, 400, msg);
}

/* A hex digit of a chunk size, checked against the body cap at once. */
static int chunk_digit(glia_http_parser *p, char c)
{
	int d = glia_hex_value(c);
	size_t room = p->limits.max_body_bytes - p->body_len;

	if (d < 0)
		return bad_chunk(p, "invalid chunk size");
	if (p->chunk_left > room / 16)
		return fail_with(p, 413, "body too large");
	p->chunk_left = p->chunk_left * 16 + (size_t)d;
	if (p->chunk_left > room)
		return fail_with(p, 413, "body too large");
	p->chunk_digits++;
	return 0;
}

/* A byte of a chunk-size line, an extension or a trailer line: counted
 * against its cap; control bytes other than HTAB refused. */
static int chunk_line_byte(glia_http_parser *p, unsigned char c, size_t cap,
                           int status, const char *what)
{
	if (++p->chunk_line > cap)
		return fail_with(p, status, what);
	if (is_ctl(c))
		return bad_chunk(p, "control byte in a chunk line");
	return 0;
}

/* The size line is complete: data next, or the trailers after the last. */
static void chunk_size_done(glia_http_parser *p)
{
	p->chunk = p->chunk_left ? CH_DATA : CH_TRAILER;
	p->chunk_line = 0;
}

/* One byte of chunk framing (everything but data). 1 when it ended the
 * message, 0 to go on, -1 on an error. */
static int chunk_byte(glia_http_parser *p, char c)
{
	unsigned char u = (unsigned char)c;

	switch (p->chunk) {
	case CH_SIZE:
		if (c == '\r' && p->chunk_digits) {
			p->chunk = CH_SIZE_LF;
			return 0;
		}
		if ((c == ';' || is_ows(c)) && p->chunk_digits) {
			p->chunk = c == ';' ? CH_EXT : CH_BWS;
			return 0;
		}
		if (chunk_line_byte(p, u, MAX_CHUNK_LINE, 400,
		                    "malformed chunked body: size line too "
		                    "long") < 0)
			return -1;
		return chunk_digit(p, c);
	case CH_BWS:
		if (c == ';')
			p->chunk = CH_EXT;
		else if (!is_ows(c))
			return bad_chunk(p, "invalid chunk size");
		return chunk_line_byte(p, u, MAX_CHUNK_LINE, 400,
		                       "malformed chunked body: size line "
		                       "too long");
	case CH_EXT:
		if (c == '\r') {
			p->chunk = CH_SIZE_LF;
			return 0;
		}
		return chunk_line_byte(p, u, MAX_CHUNK_LINE, 400,
		                       "malformed chunked body: chunk "
		                       "extension too long");
	case CH_SIZE_LF:
		if (c != '\n')
			return bad_chunk(p, "chunk size line must end in CRLF");
		chunk_size_done(p);
		return 0;
	case CH_DATA_CR:
		if (c != '\r')
			return bad_chunk(p, "chunk data must end in CRLF");
		p->chunk = CH_DATA_LF;
		return 0;
	case CH_DATA_LF:
		if (c != '\n')
			return bad_chunk(p, "chunk data must end in CRLF");
		p->chunk = CH_SIZE;
		p->chunk_digits = 0;
		return 0;
	case CH_TRAILER:
		if (c == '\r') {
			p->chunk = CH_END_LF;
			return 0;
		}
		p->chunk = CH_TRAILER_LN;
		/* fall through */
	case CH_TRAILER_LN:
		if (c == '\r') {
			p->chunk = CH_TRAILER_LF;
			return 0;
		}
		return chunk_line_byte(p, u, p->limits.max_header_bytes, 431,
		                       "trailer section too large");
	case CH_TRAILER_LF:
		if (c != '\n')
			return bad_chunk(p, "trailer line must end in CRLF");
		p->chunk = CH_TRAILER;
		return 0;
	case CH_END_LF:
		if (c != '\n')
			return bad_chunk(p, "chunked body must end in CRLF");
		return 1;
	default:
		return bad_chunk(p, "internal state");
	}
}

/* Reads a chunked body from data; *used gets the bytes taken. */
static int chunked_feed(glia_http_parser *p, const char *data, size_t len,
                        size_t *used)
{
	size_t i = 0;

	while (i < len) {
		if (p->chunk == CH_DATA) {
			size_t n =
			    len - i < p->chunk_left ? len - i : p->chunk_left;
			if (body_append(p, data + i, n) < 0)
				return -1;
			i += n;
			p->chunk_left -= n;
			if (p->chunk_left == 0)
				p->chunk = CH_DATA_CR;
			continue;
		}
		int rc = chunk_byte(p, data[i++]);
		if (rc < 0)
			return -1;
		if (rc == 1) {
			finish_message(p);
			break;
		}
	}
	*used = i;
	return 0;
}

/* Reads body bytes; *used gets how many were taken (all of them but what
 * follows the message). -1 on an error. */
static int body_feed(glia_http_parser *p, const char *data, size_t len,
                     size_t *used)
{
	size_t n = len;

	*used = 0;
	if (p->body_mode == BODY_CHUNKED)
		return chunked_feed(p, data, len, used);
	if (p->body_mode == BODY_LENGTH && n > p->body_left)
		n = p->body_left;
	if (body_append(p, data, n) < 0)
		return -1;
	*used = n;
	if (p->body_mode == BODY_LENGTH) {
		p->body_left -= n;
		if (p->body_left == 0)
			finish_message(p);
	}
	return 0;
}

/* Every CR of a head must be followed by LF (http-parser non-strict takes
 * any byte after a CR as the LF). */
static int check_head_bytes(glia_http_parser *p, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p->head_cr && s[i] != '\n')
			return fail_with(p, 400, "bare CR in the message head");
		p->head_cr = s[i] == '\r';
	}
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
	store_resize(p, SMALL_STORE, 1);
	glia_buf_append(&p->store, "", 0);
	glia_buf_append(&p->path, "", 0);
	glia_http_parser_reset(p);
	return p;
}

/* Gives storage grown past SHRINK_ABOVE back (to the budget and to malloc):
 * one big request must not pin its size for the connection's life. */
static void store_shrink(glia_http_parser *p)
{
	if (p->store.cap <= SHRINK_ABOVE)
		return;
	atomic_fetch_add(&released_bytes, p->store.cap - SMALL_STORE);
	free(p->store.data);
	if (p->budget)
		p->budget->used -= p->store.cap;
	p->store.data = NULL;
	p->store.cap = 0;
	store_resize(p, SMALL_STORE, 1);
}

void glia_http_parser_free(glia_http_parser *p)
{
	if (!p)
		return;
	if (p->store.cap > SHRINK_ABOVE)
		atomic_fetch_add(&released_bytes, p->store.cap);
	if (p->budget)
		p->budget->used -= p->store.cap;
	glia_buf_free(&p->store);
	glia_buf_free(&p->path);
	free(p);
}

void glia_http_parser_set_budget(glia_http_parser *p, glia_http_budget *b)
{
	if (p->budget)
		p->budget->used -= p->store.cap;
	p->budget = b;
	if (b)
		b->used += p->store.cap;
}

size_t glia_http_parser_buffered(const glia_http_parser *p)
{
	return p->store.cap;
}

int glia_http_parser_take_body(glia_http_parser *p, glia_http_body *out)
{
	memset(out, 0, sizeof *out);
	if (p->state != ST_DONE || p->store.cap <= SHRINK_ABOVE)
		return 0;
	out->store = p->store.data;
	out->cap = p->store.cap;
	out->body = p->msg.body;
	out->len = p->msg.body_len;
	out->budget = p->budget;
	/* The charge goes with the storage; the parser starts a new one. */
	p->store.data = NULL;
	p->store.cap = 0;
	p->store.len = 0;
	store_resize(p, SMALL_STORE, 1);
	glia_buf_append(&p->store, "", 0);
	return 1;
}

void glia_http_body_uncharge(glia_http_body *b)
{
	if (b->budget)
		b->budget->used -= b->cap;
	b->budget = NULL;
}

void glia_http_body_free(glia_http_body *b)
{
	if (!b->store)
		return;
	glia_http_body_uncharge(b);
	atomic_fetch_add(&released_bytes, b->cap);
	free(b->store);
	memset(b, 0, sizeof *b);
}

size_t glia_http_take_released(void)
{
	return atomic_exchange(&released_bytes, 0);
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
	p->head_cr = 0;
	p->last = CB_NONE;
	p->header_bytes = 0;
	p->body_mode = BODY_NONE;
	p->body_left = p->chunk_left = p->chunk_line = 0;
	p->chunk_digits = 0;
	store_shrink(p);
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
		size_t got = 0;
		if (p->state == ST_BODY) {
			int rc = body_feed(p, data + off, len - off, &got);
			off += got;
			*consumed = off;
			if (rc < 0) {
				p->state = ST_ERROR;
				return GLIA_HTTP_ERROR;
			}
			if (p->state == ST_DONE)
				return GLIA_HTTP_DONE;
			continue;
		}
		size_t n = len - off;
		if (n > p->limits.max_header_bytes - p->header_bytes)
			n = p->limits.max_header_bytes - p->header_bytes;
		got = http_parser_execute(&p->hp, &settings, data + off, n);
		if (check_head_bytes(p, data + off, got) < 0)
			return parse_error(p);
		off += got;
		*consumed = off;
		if (p->state == ST_DONE)
			return GLIA_HTTP_DONE;
		if (p->state == ST_BODY)
			continue;
		if (HTTP_PARSER_ERRNO(&p->hp) != HPE_OK || got < n)
			return parse_error(p);
		p->header_bytes += got;
		if (p->header_bytes >= p->limits.max_header_bytes)
			return header_overflow(p);
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
	if (p->state == ST_BODY && p->body_mode == BODY_EOF) {
		finish_message(p);
		return GLIA_HTTP_DONE;
	}
	p->state = ST_ERROR;
	fail_with(p, 400,
	          p->kind == GLIA_HTTP_REQUEST
	              ? "connection closed before the request was complete"
	              : "connection closed before the response was complete");
	return GLIA_HTTP_ERROR;
}

int glia_http_parser_take_continue(glia_http_parser *p)
{
	int want = p->expect_continue && p->headers_done && p->state == ST_BODY;
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

const glia_http_msg *glia_http_parser_head(glia_http_parser *p)
{
	if (p->state == ST_BODY)
		build_msg(p);
	return p->state == ST_BODY || p->state == ST_DONE ? &p->msg : NULL;
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
			int hi = j + 2 < len ? glia_hex_value(s[j + 1]) : -1;
			int lo = hi >= 0 ? glia_hex_value(s[j + 2]) : -1;
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
