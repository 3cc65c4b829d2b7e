/* test_http.c: the HTTP parser and formatter. Parser cases are a table of
 * raw bytes and the expected outcome; each case runs fed whole, one byte at
 * a time and split in two at every offset, on one parser reset in between
 * (so reuse is exercised too). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http.h"

typedef struct http_case {
	const char *name;
	glia_http_kind kind;
	const char *raw;
	size_t max_header, max_body; /* 0: defaults */
	int eof;   /* call glia_http_parser_eof after feeding everything */
	int want;  /* GLIA_HTTP_DONE or GLIA_HTTP_ERROR */
	int error; /* expected error status */
	/* expectations on DONE; NULL / -1 skip the check */
	const char *method, *path, *query;
	int status;
	const char *body;
	int keep_alive, chunked;
	int n_headers;
	const char *hname, *hval; /* hval NULL: header must be absent */
	size_t raw_len;           /* 0: strlen(raw) */
} http_case;

#define REQ  GLIA_HTTP_REQUEST
#define RES  GLIA_HTTP_RESPONSE
#define DONE GLIA_HTTP_DONE
#define ERR  GLIA_HTTP_ERROR

/* Shorthands for the common shapes of a case. */
#define OK_REQ(n, raw, m, p, q, b, ka, ch, nh, hn, hv)                         \
	{                                                                      \
		n, REQ, raw, 0, 0, 0, DONE, 0, m, p, q, 0, b, ka, ch, nh, hn,  \
		    hv, 0                                                      \
	}
#define OK_RES(n, raw, eof, st, b, ka, ch)                                     \
	{                                                                      \
		n, RES, raw, 0, 0, eof, DONE, 0, NULL, NULL, NULL, st, b, ka,  \
		    ch, -1, NULL, NULL, 0                                      \
	}
#define BAD(n, kind, raw, mh, mb, eof, err)                                    \
	{                                                                      \
		n, kind, raw, mh, mb, eof, ERR, err, NULL, NULL, NULL, 0,      \
		    NULL, -1, -1, -1, NULL, NULL, 0                            \
	}
/* A request with NUL bytes: raw must be a string literal. */
#define BAD_BIN(n, raw, err)                                                   \
	{                                                                      \
		n, REQ, raw, 0, 0, 0, ERR, err, NULL, NULL, NULL, 0, NULL, -1, \
		    -1, -1, NULL, NULL, sizeof(raw) - 1                        \
	}

static const http_case cases[] = {
    OK_REQ("simple GET",
           "GET /iris/predict?x=1&y=2 HTTP/1.1\r\nHost: a\r\n\r\n", "GET",
           "/iris/predict", "x=1&y=2", "", 1, 0, 1, "Host", "a"),
    OK_REQ("POST with Content-Length body",
           "POST /m HTTP/1.1\r\nContent-Length: 5\r\nContent-Type: "
           "text/plain\r\n\r\nhello",
           "POST", "/m", "", "hello", 1, 0, 2, "content-type", "text/plain"),
    OK_REQ("chunked body is de-chunked",
           "POST /m HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
           "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n",
           "POST", "/m", "", "hello world", 1, 1, 1, NULL, NULL),
    OK_REQ("chunked trailers are not headers",
           "POST /m HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
           "2\r\nhi\r\n0\r\nX-Trailer: t\r\n\r\n",
           "POST", "/m", "", "hi", 1, 1, 1, "X-Trailer", NULL),
    OK_REQ("HTTP/1.0 closes by default", "GET / HTTP/1.0\r\n\r\n", "GET", "/",
           "", "", 0, 0, 0, NULL, NULL),
    OK_REQ("HTTP/1.0 with Connection: keep-alive stays open",
           "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "GET", "/", "",
           "", 1, 0, 1, NULL, NULL),
    OK_REQ("HTTP/1.1 with Connection: close closes",
           "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", "GET", "/", "", "", 0,
           0, 1, NULL, NULL),
    OK_REQ("HTTP/1.1 stays open by default", "DELETE /a/b HTTP/1.1\r\n\r\n",
           "DELETE", "/a/b", "", "", 1, 0, 0, NULL, NULL),
    OK_REQ("empty query after '?'", "GET /a? HTTP/1.1\r\n\r\n", "GET", "/a", "",
           "", 1, 0, 0, NULL, NULL),
    OK_REQ("only the first '?' splits", "GET /a?b=?c HTTP/1.1\r\n\r\n", "GET",
           "/a", "b=?c", "", 1, 0, 0, NULL, NULL),
    OK_REQ("header lookup ignores case",
           "GET / HTTP/1.1\r\nX-MiXeD-Case: v\r\n\r\n", "GET", "/", "", "", 1,
           0, 1, "x-mixed-CASE", "v"),
    OK_REQ("header value whitespace is trimmed",
           "GET / HTTP/1.1\r\nX-A: \t spaced  value \t\r\n\r\n", "GET", "/", "",
           "", 1, 0, 1, "x-a", "spaced  value"),
    OK_REQ("empty header value", "GET / HTTP/1.1\r\nX-Empty:\r\nX-B: 1\r\n\r\n",
           "GET", "/", "", "", 1, 0, 2, "x-empty", ""),
    OK_REQ("multiple headers keep their order and values",
           "GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nX-1: one\r\n"
           "X-2: two\r\nUser-Agent: t/1\r\n\r\n",
           "GET", "/", "", "", 1, 0, 5, "X-2", "two"),
    OK_REQ("absent header is NULL", "GET / HTTP/1.1\r\nHost: h\r\n\r\n", "GET",
           "/", "", "", 1, 0, 1, "Hos", NULL),
    OK_REQ("leading empty lines are skipped", "\r\n\r\nGET /x HTTP/1.1\r\n\r\n",
           "GET", "/x", "", "", 1, 0, 0, NULL, NULL),
    OK_REQ("OPTIONS * is allowed", "OPTIONS * HTTP/1.1\r\n\r\n", "OPTIONS", "*",
           "", "", 1, 0, 0, NULL, NULL),
    OK_REQ("empty body with Content-Length: 0",
           "PUT /b HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "PUT", "/b", "", "",
           1, 0, 1, NULL, NULL),
    OK_REQ("CONNECT takes an authority",
           "CONNECT example.com:443 HTTP/1.1\r\n\r\n", "CONNECT",
           "example.com:443", "", "", -1, 0, 0, NULL, NULL),
    BAD("malformed request line", REQ, "GET /a HTTP/1.1 extra\r\n\r\n", 0, 0, 0,
        400),
    BAD("unknown method", REQ, "FROB / HTTP/1.1\r\n\r\n", 0, 0, 0, 400),
    BAD("missing version is HTTP/0.9", REQ, "GET /\r\n\r\n", 0, 0, 0, 505),
    BAD("space in header name", REQ, "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
        0, 0, 0, 400),
    BAD_BIN("NUL in header value", "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", 400),
    BAD("control byte in header value", REQ,
        "GET / HTTP/1.1\r\nHost: a\x01b\r\n\r\n", 0, 0, 0, 400),
    BAD("header line without colon", REQ, "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
        0, 0, 0, 400),
    BAD("bad Content-Length", REQ,
        "POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 0, 0, 0, 400),
    BAD("conflicting Content-Length", REQ,
        "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        0, 0, 0, 400),
    BAD("bad chunk size", REQ,
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0, 0, 0,
        400),
    BAD("header section too large", REQ,
        "GET / HTTP/1.1\r\nX-Long: "
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n",
        64, 0, 0, 431),
    BAD("request line too large", REQ,
        "GET "
        "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaa",
        64, 0, 0, 431),
    {"header section exactly at the limit", REQ,
     "GET / HTTP/1.1\r\nA: b\r\n\r\n", 24, 0, 0, DONE, 0, "GET", "/", "", 0, "",
     1, 0, 1, "a", "b", 0},
    BAD("header section one byte over the limit", REQ,
        "GET / HTTP/1.1\r\nA: b\r\n\r\n", 23, 0, 0, 431),
    BAD("body too large by Content-Length, before any body byte", REQ,
        "POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", 0, 10, 0, 413),
    {"body exactly at the limit", REQ,
     "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789", 0, 10, 0, DONE,
     0, "POST", "/", "", 0, "0123456789", 1, 0, 1, NULL, NULL, 0},
    BAD("chunk too large, before its bytes", REQ,
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        "6\r\nabcdef\r\nb\r\n",
        0, 10, 0, 413),
    BAD("chunked body too large", REQ,
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        "6\r\nabcdef\r\n6\r\nghijkl\r\n0\r\n\r\n",
        0, 10, 0, 413),
    BAD("HTTP/2.0 is not supported", REQ, "GET / HTTP/2.0\r\n\r\n", 0, 0, 0,
        505),
    BAD("HTTP/0.9 is not supported", REQ, "GET / HTTP/0.9\r\n\r\n", 0, 0, 0,
        505),
    BAD("absolute-form url", REQ, "GET http://x/a HTTP/1.1\r\n\r\n", 0, 0, 0,
        400),
    BAD("asterisk outside OPTIONS", REQ, "GET * HTTP/1.1\r\n\r\n", 0, 0, 0,
        400),
    BAD("unsupported transfer-encoding", REQ,
        "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 0, 0, 0, 400),
    /* Strict framing (issue 13, item 9): Debian's libhttp-parser, built
     * non-strict, accepted every one of these. */
    BAD("chunk data not followed by CRLF", REQ,
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\nabcXY4\r\ndefg\r\n0\r\n\r\n",
        0, 0, 0, 400),
    BAD("chunk data followed by LF only", REQ,
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\nabc\n0\r\n\r\n",
        0, 0, 0, 400),
    BAD("chunk size line ending in CR and another byte", REQ,
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\rXabc\r\n0\r\n\r\n",
        0, 0, 0, 400),
    BAD("chunk size with trailing space and no extension", REQ,
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3 \r\nabc\r\n0\r\n\r\n",
        0, 0, 0, 400),
    BAD("chunked body whose final line is CR and another byte", REQ,
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\nabc\r\n0\r\n\rX",
        0, 0, 0, 400),
    BAD("trailer line ending in CR and another byte", REQ,
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        "0\r\nX-T: 1\rX\r\n",
        0, 0, 0, 400),
    BAD("trailer section over the header limit", REQ,
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        "0\r\nX-T: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaa\r\n\r\n",
        64, 0, 0, 431),
    BAD("Transfer-Encoding: gzip, chunked is not implemented", REQ,
        "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
        "3\r\nabc\r\n0\r\n\r\n",
        0, 0, 0, 501),
    BAD("gzip and chunked on two Transfer-Encoding lines", REQ,
        "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n"
        "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        0, 0, 0, 501),
    BAD("chunked twice", REQ,
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 0, 0,
        0, 400),
    BAD("chunked not last", REQ,
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 0, 0, 0,
        400),
    BAD("bare CR ending the head", REQ,
        "POST / HTTP/1.1\r\nContent-Length: 3\r\n\rXabc", 0, 0, 0, 400),
    BAD("chunked response data not followed by CRLF", RES,
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\nabcXY0\r\n\r\n",
        0, 0, 0, 400),
    OK_REQ("chunked in capitals, an extension after whitespace, a trailer",
           "POST /m HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n"
           "3 ;a=b\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
           "POST", "/m", "", "abc", 1, 1, 1, NULL, NULL),
    BAD("request cut short at EOF", REQ,
        "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab", 0, 0, 1, 400),
    OK_RES("response with Content-Length",
           "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0, 200, "ok", 1,
           0),
    OK_RES("chunked response",
           "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
           "3\r\nabc\r\n0\r\n\r\n",
           0, 201, "abc", 1, 1),
    OK_RES("response delimited by EOF",
           "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close", 1,
           200, "until close", 0, 0),
    OK_RES("204 has no body", "HTTP/1.1 204 No Content\r\n\r\n", 0, 204, "", 1,
           0),
    OK_RES("HTTP/1.0 response",
           "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n", 0, 404, "", 0,
           0),
    BAD("response cut short at EOF", RES,
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 0, 0, 1, 400),
    BAD("response headers cut short at EOF", RES, "HTTP/1.1 200 OK\r\nConte", 0,
        0, 1, 400),
    BAD("malformed status line", RES, "HTTP/1.1 2x0 OK\r\n\r\n", 0, 0, 0, 400),
    BAD("EOF-delimited response body too large", RES,
        "HTTP/1.1 200 OK\r\n\r\n0123456789a", 0, 10, 0, 413),
    BAD("response body too large", RES,
        "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", 0, 10, 0, 413),
};

static const char *current; /* "case name (mode)" for failure messages */

static void check_int(const char *what, long long got, long long want)
{
	if (got != want)
		fail_msg("%s: %s is %lld, want %lld", current, what, got, want);
}

static void check_str(const char *what, const char *got, const char *want)
{
	if (!want)
		return;
	if (!got || strcmp(got, want) != 0)
		fail_msg("%s: %s is \"%s\", want \"%s\"", current, what,
		         got ? got : "(null)", want);
}

static void check_msg(const http_case *c, const glia_http_msg *m)
{
	if (!m)
		fail_msg("%s: no message after DONE", current);
	check_str("method", m->method, c->method);
	check_str("path", m->path, c->path);
	check_str("query", m->query, c->query);
	if (c->kind == RES)
		check_int("status", m->status, c->status);
	if (c->body) {
		check_int("body_len", (long long)m->body_len,
		          (long long)strlen(c->body));
		check_str("body", m->body, c->body);
	}
	check_int("body NUL", m->body[m->body_len], 0);
	if (c->keep_alive >= 0)
		check_int("keep_alive", m->keep_alive, c->keep_alive);
	if (c->chunked >= 0)
		check_int("chunked", m->chunked, c->chunked);
	if (c->n_headers >= 0)
		check_int("n_headers", (long long)m->n_headers, c->n_headers);
	if (c->hname) {
		const char *v = glia_http_msg_header(m, c->hname);
		if (c->hval)
			check_str(c->hname, v, c->hval);
		else if (v)
			fail_msg("%s: header %s should be absent", current,
			         c->hname);
	}
	for (size_t i = 0; i < m->n_headers; i++) {
		check_int("name_len", (long long)m->headers[i].name_len,
		          (long long)strlen(m->headers[i].name));
		check_int("value_len", (long long)m->headers[i].value_len,
		          (long long)strlen(m->headers[i].value));
	}
}

/* Feeds raw in pieces: sizes[i] bytes at a time (the last size repeats).
 * Returns the final result; *total gets the bytes consumed. */
static int feed_pieces(glia_http_parser *p, const char *raw, size_t len,
                       const size_t *sizes, size_t n_sizes, size_t *total)
{
	size_t off = 0, k = 0;
	int rc = GLIA_HTTP_AGAIN;

	*total = 0;
	while (off < len) {
		size_t n = sizes[k < n_sizes ? k : n_sizes - 1], used = 0;
		if (n > len - off)
			n = len - off;
		k++;
		rc = glia_http_parser_feed(p, raw + off, n, &used);
		off += used;
		*total = off;
		if (rc != GLIA_HTTP_AGAIN)
			return rc;
		if (used != n)
			fail_msg("%s: AGAIN but consumed %zu of %zu", current,
			         used, n);
	}
	return rc;
}

static void run_once(glia_http_parser *p, const http_case *c,
                     const size_t *sizes, size_t n_sizes)
{
	size_t len = c->raw_len ? c->raw_len : strlen(c->raw), total;

	glia_http_parser_reset(p);
	check_int("started after reset", glia_http_parser_started(p), 0);
	int rc = feed_pieces(p, c->raw, len, sizes, n_sizes, &total);
	if (rc == GLIA_HTTP_AGAIN && c->eof)
		rc = glia_http_parser_eof(p);
	check_int("result", rc, c->want);
	if (rc == GLIA_HTTP_DONE) {
		check_int("consumed", (long long)total, (long long)len);
		check_int("error status", glia_http_parser_error_status(p), 0);
		check_msg(c, glia_http_parser_msg(p));
	} else {
		check_int("error status", glia_http_parser_error_status(p),
		          c->error);
		const char *msg = glia_http_parser_error_message(p);
		if (!msg || !*msg)
			fail_msg("%s: empty error message", current);
		if (glia_http_parser_msg(p))
			fail_msg("%s: message after ERROR", current);
	}
}

static void run_case(const http_case *c)
{
	glia_http_limits lim = {c->max_header, c->max_body};
	glia_http_parser *p = glia_http_parser_new(c->kind, &lim);
	size_t len = c->raw_len ? c->raw_len : strlen(c->raw);
	char label[256];
	size_t whole = len ? len : 1, one = 1;

	snprintf(label, sizeof(label), "%s (whole)", c->name);
	current = label;
	run_once(p, c, &whole, 1);
	snprintf(label, sizeof(label), "%s (byte by byte)", c->name);
	run_once(p, c, &one, 1);
	for (size_t k = 1; k < len; k++) {
		size_t split[2] = {k, len};
		snprintf(label, sizeof(label), "%s (split at %zu)", c->name, k);
		run_once(p, c, split, 2);
	}
	glia_http_parser_free(p);
}

static void table_cases(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
}

static void too_many_headers_gives_431(void **state)
{
	glia_buf raw;
	glia_buf_init(&raw, 0);
	glia_buf_puts(&raw, "GET / HTTP/1.1\r\n");
	for (int i = 0; i < GLIA_HTTP_MAX_HEADERS + 1; i++)
		glia_buf_printf(&raw, "X-H%d: %d\r\n", i, i);
	glia_buf_puts(&raw, "\r\n");
	http_case c = BAD("too many headers", REQ, raw.data, 0, 0, 0, 431);
	run_case(&c);
	glia_buf_free(&raw);
}

static void max_headers_is_accepted(void **state)
{
	glia_buf raw;
	glia_buf_init(&raw, 0);
	glia_buf_puts(&raw, "GET / HTTP/1.1\r\n");
	for (int i = 0; i < GLIA_HTTP_MAX_HEADERS; i++)
		glia_buf_printf(&raw, "X-H%d: %d\r\n", i, i);
	glia_buf_puts(&raw, "\r\n");
	http_case c =
	    OK_REQ("exactly the maximum headers", raw.data, "GET", "/", "", "",
	           1, 0, GLIA_HTTP_MAX_HEADERS, "x-h63", "63");
	run_case(&c);
	glia_buf_free(&raw);
}

static void body_with_nul_bytes_is_kept(void **state)
{
	static const char raw[] =
	    "POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\na\0b";
	glia_http_parser *p = glia_http_parser_new(REQ, NULL);
	size_t used;

	assert_int_equal(glia_http_parser_feed(p, raw, sizeof(raw) - 1, &used),
	                 GLIA_HTTP_DONE);
	assert_int_equal(used, sizeof(raw) - 1);
	const glia_http_msg *m = glia_http_parser_msg(p);
	assert_int_equal(m->body_len, 3);
	assert_memory_equal(m->body, "a\0b", 4);
	glia_http_parser_free(p);
}

/* Feeds everything, resetting after each message; checks the paths. */
static void expect_pipeline(const char *raw, size_t step, const char **paths,
                            size_t n_paths)
{
	glia_http_parser *p = glia_http_parser_new(REQ, NULL);
	size_t len = strlen(raw), off = 0, seen = 0;

	while (off < len) {
		size_t n = step && step < len - off ? step : len - off, used;
		int rc = glia_http_parser_feed(p, raw + off, n, &used);
		off += used;
		assert_int_not_equal(rc, GLIA_HTTP_ERROR);
		if (rc == GLIA_HTTP_DONE) {
			assert_true(seen < n_paths);
			assert_string_equal(glia_http_parser_msg(p)->path,
			                    paths[seen]);
			seen++;
			glia_http_parser_reset(p);
		}
	}
	assert_int_equal(seen, n_paths);
	glia_http_parser_free(p);
}

static void pipelined_requests_are_parsed_one_by_one(void **state)
{
	const char *raw =
	    "GET /one HTTP/1.1\r\n\r\n"
	    "POST /two HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
	    "POST /three HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "1\r\nx\r\n0\r\n\r\n"
	    "GET /four?q HTTP/1.1\r\n\r\n";
	const char *paths[] = {"/one", "/two", "/three", "/four"};

	for (size_t step = 0; step < 40; step++)
		expect_pipeline(raw, step, paths, 4);
}

static void pipelined_second_request_is_not_consumed(void **state)
{
	const char *a = "POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi";
	const char *b = "GET /b HTTP/1.1\r\n\r\n";
	char raw[256];
	size_t used;
	glia_http_parser *p = glia_http_parser_new(REQ, NULL);

	snprintf(raw, sizeof(raw), "%s%s", a, b);
	assert_int_equal(glia_http_parser_feed(p, raw, strlen(raw), &used),
	                 GLIA_HTTP_DONE);
	assert_int_equal(used, strlen(a));
	assert_string_equal(glia_http_parser_msg(p)->body, "hi");
	/* Feeding again before reset consumes nothing. */
	assert_int_equal(glia_http_parser_feed(p, raw + used, strlen(b), &used),
	                 GLIA_HTTP_DONE);
	assert_int_equal(used, 0);
	glia_http_parser_reset(p);
	assert_int_equal(
	    glia_http_parser_feed(p, raw + strlen(a), strlen(b), &used),
	    GLIA_HTTP_DONE);
	assert_int_equal(used, strlen(b));
	assert_string_equal(glia_http_parser_msg(p)->path, "/b");
	glia_http_parser_free(p);
}

static void started_and_eof_states(void **state)
{
	glia_http_parser *p = glia_http_parser_new(REQ, NULL);
	size_t used;

	assert_false(glia_http_parser_started(p));
	assert_int_equal(glia_http_parser_eof(p), GLIA_HTTP_AGAIN);
	assert_null(glia_http_parser_msg(p));
	assert_int_equal(glia_http_parser_feed(p, "G", 1, &used),
	                 GLIA_HTTP_AGAIN);
	assert_true(glia_http_parser_started(p));
	assert_int_equal(glia_http_parser_eof(p), GLIA_HTTP_ERROR);
	assert_int_equal(glia_http_parser_error_status(p), 400);
	/* An error sticks until reset. */
	assert_int_equal(
	    glia_http_parser_feed(p, "ET / HTTP/1.1\r\n\r\n", 17, &used),
	    GLIA_HTTP_ERROR);
	glia_http_parser_reset(p);
	assert_int_equal(glia_http_parser_error_status(p), 0);
	assert_int_equal(
	    glia_http_parser_feed(p, "GET / HTTP/1.1\r\n\r\n", 18, &used),
	    GLIA_HTTP_DONE);
	assert_int_equal(glia_http_parser_eof(p), GLIA_HTTP_DONE);
	glia_http_parser_free(p);
}

static void large_body_grows_storage(void **state)
{
	size_t n = 1 << 20;
	char *body = malloc(n);
	glia_http_parser *p = glia_http_parser_new(REQ, NULL);
	char head[128];
	size_t used;

	for (size_t i = 0; i < n; i++)
		body[i] = (char)('a' + i % 26);
	snprintf(
	    head, sizeof(head),
	    "PUT /big HTTP/1.1\r\nX-Keep: kept\r\nContent-Length: %zu\r\n\r\n",
	    n);
	for (int round = 0; round < 2; round++) {
		glia_http_parser_reset(p);
		assert_int_equal(
		    glia_http_parser_feed(p, head, strlen(head), &used),
		    GLIA_HTTP_AGAIN);
		for (size_t off = 0; off < n; off += 4096)
			glia_http_parser_feed(p, body + off, 4096, &used);
		const glia_http_msg *m = glia_http_parser_msg(p);
		assert_non_null(m);
		assert_int_equal(m->body_len, n);
		assert_memory_equal(m->body, body, n);
		assert_string_equal(glia_http_msg_header(m, "x-keep"), "kept");
		assert_string_equal(m->url, "/big");
	}
	free(body);
	glia_http_parser_free(p);
}

static void format_response_head_exact_bytes(void **state)
{
	glia_buf b;

	glia_buf_init(&b, 0);
	assert_int_equal(glia_http_format_response_head(
	                     &b, 200, "application/json", 17, 1, NULL),
	                 0);
	assert_string_equal(b.data, "HTTP/1.1 200 OK\r\n"
	                            "Content-Type: application/json\r\n"
	                            "Content-Length: 17\r\n"
	                            "Connection: keep-alive\r\n\r\n");
	glia_buf_reset(&b);
	assert_int_equal(
	    glia_http_format_response_head(&b, 503, NULL, 0, 0,
	                                   "Retry-After: 1\r\nX-A: b\r\n"),
	    0);
	assert_string_equal(b.data, "HTTP/1.1 503 Service Unavailable\r\n"
	                            "Content-Length: 0\r\n"
	                            "Connection: close\r\n"
	                            "Retry-After: 1\r\nX-A: b\r\n\r\n");
	glia_buf_free(&b);
}

static void format_fails_cleanly_at_cap(void **state)
{
	glia_buf b;

	glia_buf_init(&b, 40);
	glia_buf_puts(&b, "keep");
	assert_int_equal(
	    glia_http_format_response_head(&b, 200, "text/plain", 1, 1, NULL),
	    -1);
	assert_int_equal(b.len, 4);
	assert_string_equal(b.data, "keep");
	assert_int_equal(glia_http_format_error(&b, 500, "x", 1, NULL), -1);
	assert_string_equal(b.data, "keep");
	glia_buf_free(&b);
}

static void format_error_escapes_json(void **state)
{
	glia_buf b;
	const char *body;

	glia_buf_init(&b, 0);
	assert_int_equal(glia_http_format_error(
	                     &b, 404, "no \"x\" at C:\\p\n\x01\t", 1, NULL),
	                 0);
	body = "{\"error\":\"no \\\"x\\\" at C:\\\\p\\u000a\\u0001\\u0009\"}";
	glia_buf expect;
	glia_buf_init(&expect, 0);
	glia_buf_printf(&expect,
	                "HTTP/1.1 404 Not Found\r\n"
	                "Content-Type: application/json\r\n"
	                "Content-Length: %zu\r\n"
	                "Connection: keep-alive\r\n\r\n%s",
	                strlen(body), body);
	assert_string_equal(b.data, expect.data);

	/* Valid UTF-8 passes, ill-formed bytes become U+FFFD. */
	glia_buf_reset(&b);
	assert_int_equal(glia_http_format_error(&b, 400, "caf\xc3\xa9 \xff\xc3",
	                                        0, "X-A: b\r\n"),
	                 0);
	assert_non_null(strstr(b.data, "Connection: close\r\nX-A: b\r\n\r\n"));
	assert_non_null(strstr(
	    b.data, "\r\n\r\n{\"error\":\"caf\xc3\xa9 \\ufffd\\ufffd\"}"));
	assert_non_null(strstr(b.data, "Content-Length: 30\r\n"));
	glia_buf_free(&expect);
	glia_buf_free(&b);
}

static void status_text_known_and_unknown(void **state)
{
	assert_string_equal(glia_http_status_text(200), "OK");
	assert_string_equal(glia_http_status_text(404), "Not Found");
	assert_string_equal(glia_http_status_text(431),
	                    "Request Header Fields Too Large");
	assert_string_equal(glia_http_status_text(799), "Unknown");
}

typedef struct decode_case {
	const char *in;
	int plus;
	int rc;
	const char *out;
} decode_case;

static void url_decode_table(void **state)
{
	static const decode_case dc[] = {
	    {"", 0, 0, ""},         {"plain", 0, 0, "plain"},
	    {"a%20b", 0, 0, "a b"}, {"%41%6a%6A", 0, 0, "Ajj"},
	    {"a+b", 0, 0, "a+b"},   {"a+b", 1, 0, "a b"},
	    {"%2B+", 1, 0, "+ "},   {"%e2%82%ac", 0, 0, "\xe2\x82\xac"},
	    {"%", 0, -1, NULL},     {"%4", 0, -1, NULL},
	    {"ab%4", 0, -1, NULL},  {"%zz", 0, -1, NULL},
	    {"%4g", 0, -1, NULL},   {"ok%%41", 0, -1, NULL},
	};
	glia_buf b;

	glia_buf_init(&b, 0);
	for (size_t i = 0; i < sizeof(dc) / sizeof(dc[0]); i++) {
		glia_buf_reset(&b);
		glia_buf_puts(&b, "pre:");
		int rc =
		    glia_url_decode(&b, dc[i].in, strlen(dc[i].in), dc[i].plus);
		if (rc != dc[i].rc)
			fail_msg("decode \"%s\": rc %d, want %d", dc[i].in, rc,
			         dc[i].rc);
		if (rc == 0 && strcmp(b.data + 4, dc[i].out) != 0)
			fail_msg("decode \"%s\": \"%s\", want \"%s\"", dc[i].in,
			         b.data + 4, dc[i].out);
		if (rc < 0 && strcmp(b.data, "pre:") != 0)
			fail_msg("decode \"%s\": output changed on error",
			         dc[i].in);
	}
	/* Only len bytes are read. */
	glia_buf_reset(&b);
	assert_int_equal(glia_url_decode(&b, "ab%41", 2, 0), 0);
	assert_string_equal(b.data, "ab");
	glia_buf_free(&b);
}

/* Feeds a whole string; returns the result. */
static int feed_str(glia_http_parser *p, const char *s)
{
	size_t used;

	return glia_http_parser_feed(p, s, strlen(s), &used);
}

/* Two parsers share a budget: the second big body is refused 503 before a
 * byte of it is stored; once the first is done and reset its storage is
 * given back (to the budget and as released bytes) and the second fits. */
static void budget_is_shared_and_given_back(void **state)
{
	(void)state;
	glia_http_budget b = {0, 0};
	glia_http_parser *p1 = glia_http_parser_new(REQ, NULL);
	glia_http_parser *p2 = glia_http_parser_new(REQ, NULL);
	const char *head = "POST / HTTP/1.1\r\nContent-Length: 300000\r\n\r\n";
	char *body = calloc(1, 300001);
	memset(body, 'x', 300000);

	glia_http_parser_set_budget(p1, &b);
	glia_http_parser_set_budget(p2, &b);
	size_t small = b.used;
	b.max = small + 600000; /* one body (512 KiB of storage), not two */
	glia_http_take_released();
	assert_int_equal(feed_str(p1, head), GLIA_HTTP_AGAIN);
	assert_true(glia_http_parser_buffered(p1) > 300000);
	assert_int_equal(b.used, small - 4096 + glia_http_parser_buffered(p1));
	assert_int_equal(feed_str(p2, head), GLIA_HTTP_ERROR);
	assert_int_equal(glia_http_parser_error_status(p2), 503);
	assert_int_equal(feed_str(p1, body), GLIA_HTTP_DONE);
	glia_http_parser_reset(p1);
	assert_int_equal(b.used, small);
	assert_true(glia_http_take_released() > 290000);
	glia_http_parser_reset(p2);
	assert_int_equal(feed_str(p2, head), GLIA_HTTP_AGAIN);
	assert_int_equal(feed_str(p2, body), GLIA_HTTP_DONE);
	assert_int_equal(glia_http_parser_msg(p2)->body_len, 300000);
	glia_http_parser_free(p1);
	glia_http_parser_free(p2);
	assert_int_equal(b.used, 0);
	free(body);
}

/* A big answer's storage is taken without a copy: the body stays readable
 * and charged to the budget until freed; the parser reads the next message
 * into a fresh small store; a small message is not taken. */
static void big_body_is_taken_with_its_charge(void **state)
{
	(void)state;
	glia_http_budget b = {1u << 30, 0};
	glia_http_parser *p = glia_http_parser_new(GLIA_HTTP_RESPONSE, NULL);
	const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n";
	char *body = calloc(1, 300001);
	memset(body, 'z', 300000);
	glia_http_body t;

	glia_http_parser_set_budget(p, &b);
	size_t small = b.used;
	assert_int_equal(glia_http_parser_take_body(p, &t), 0); /* no message */
	assert_int_equal(feed_str(p, head), GLIA_HTTP_AGAIN);
	assert_int_equal(glia_http_parser_take_body(p, &t), 0); /* not done */
	assert_int_equal(feed_str(p, body), GLIA_HTTP_DONE);
	size_t big = glia_http_parser_buffered(p);
	assert_int_equal(glia_http_parser_take_body(p, &t), 1);
	assert_int_equal(t.len, 300000);
	assert_memory_equal(t.body, body, 300000);
	assert_int_equal(t.cap, big);
	assert_int_equal(b.used, big + small); /* the new store is charged */
	glia_http_parser_reset(p);
	assert_int_equal(feed_str(p, "HTTP/1.1 204 No\r\n\r\n"),
	                 GLIA_HTTP_DONE);
	assert_int_equal(glia_http_parser_msg(p)->status, 204);
	assert_memory_equal(t.body, body, 300000); /* untouched */
	glia_http_take_released();
	glia_http_body_free(&t);
	assert_null(t.store);
	assert_int_equal(b.used, small);
	assert_true(glia_http_take_released() >= 300000);
	assert_int_equal(glia_http_parser_take_body(p, &t), 0); /* small */
	glia_http_body_free(&t); /* an empty one is fine */
	glia_http_parser_free(p);
	assert_int_equal(b.used, 0);
	free(body);
}

/* A chunked body grows by doubling, but never past what the limits allow. */
static void chunked_storage_stays_within_the_limits(void **state)
{
	(void)state;
	glia_http_limits lim = {1024, 100000};
	glia_http_parser *p = glia_http_parser_new(REQ, &lim);
	char chunk[100010];

	assert_int_equal(
	    feed_str(p,
	             "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
	    GLIA_HTTP_AGAIN);
	snprintf(chunk, sizeof chunk, "%x\r\n", 99990);
	size_t n = strlen(chunk);
	memset(chunk + n, 'y', 99990);
	memcpy(chunk + n + 99990, "\r\n0\r\n\r\n", 8);
	size_t used;
	assert_int_equal(glia_http_parser_feed(p, chunk, n + 99998, &used),
	                 GLIA_HTTP_DONE);
	assert_true(glia_http_parser_buffered(p) <= 1024 + 100000 + 256);
	glia_http_parser_free(p);
}

/* The head is readable once complete, before the body arrives. */
static void head_is_readable_before_the_body(void **state)
{
	(void)state;
	glia_http_parser *p = glia_http_parser_new(REQ, NULL);

	assert_null(glia_http_parser_head(p));
	assert_int_equal(feed_str(p, "POST /x HTTP/1.1\r\nAuthorization: t\r\n"
	                             "Content-Length: 10\r\n\r\nab"),
	                 GLIA_HTTP_AGAIN);
	const glia_http_msg *m = glia_http_parser_head(p);
	assert_non_null(m);
	assert_string_equal(m->path, "/x");
	assert_string_equal(glia_http_msg_header(m, "authorization"), "t");
	assert_int_equal(feed_str(p, "cdefghij"), GLIA_HTTP_DONE);
	assert_string_equal(glia_http_parser_msg(p)->body, "abcdefghij");
	glia_http_parser_free(p);
}

static void expect_continue_is_reported_once_before_the_body(void **state)
{
	(void)state;
	glia_http_parser *p = glia_http_parser_new(GLIA_HTTP_REQUEST, NULL);
	const char head[] = "POST /a HTTP/1.1\r\nContent-Length: 3\r\n"
	                    "Expect: 100-continue\r\n\r\n";
	size_t used = 0;
	assert_int_equal(glia_http_parser_feed(p, head, sizeof head - 1, &used),
	                 GLIA_HTTP_AGAIN);
	assert_int_equal(glia_http_parser_take_continue(p), 1);
	assert_int_equal(glia_http_parser_take_continue(p), 0);
	assert_int_equal(glia_http_parser_feed(p, "abc", 3, &used),
	                 GLIA_HTTP_DONE);
	glia_http_parser_reset(p);
	const char plain[] = "POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\n";
	assert_int_equal(
	    glia_http_parser_feed(p, plain, sizeof plain - 1, &used),
	    GLIA_HTTP_AGAIN);
	assert_int_equal(glia_http_parser_take_continue(p), 0);
	glia_http_parser_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(table_cases),
	    cmocka_unit_test(too_many_headers_gives_431),
	    cmocka_unit_test(max_headers_is_accepted),
	    cmocka_unit_test(body_with_nul_bytes_is_kept),
	    cmocka_unit_test(pipelined_requests_are_parsed_one_by_one),
	    cmocka_unit_test(pipelined_second_request_is_not_consumed),
	    cmocka_unit_test(started_and_eof_states),
	    cmocka_unit_test(large_body_grows_storage),
	    cmocka_unit_test(format_response_head_exact_bytes),
	    cmocka_unit_test(format_fails_cleanly_at_cap),
	    cmocka_unit_test(format_error_escapes_json),
	    cmocka_unit_test(status_text_known_and_unknown),
	    cmocka_unit_test(url_decode_table),
	    cmocka_unit_test(expect_continue_is_reported_once_before_the_body),
	    cmocka_unit_test(budget_is_shared_and_given_back),
	    cmocka_unit_test(big_body_is_taken_with_its_charge),
	    cmocka_unit_test(chunked_storage_stays_within_the_limits),
	    cmocka_unit_test(head_is_readable_before_the_body),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
