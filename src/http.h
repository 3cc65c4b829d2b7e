/* http.h: our small HTTP/1.1 module, a thin layer over http-parser so the
 * rest of glia never includes http_parser.h (and the parser can be swapped
 * for llhttp). Parses requests (gateway, worker) and responses (gateway's
 * upstream side, CLI client), incrementally, with caps on header and body
 * sizes; and formats response heads. */
#ifndef GLIA_HTTP_H
#define GLIA_HTTP_H

#include <stddef.h>
#include <sys/types.h>

#include "util.h"

#define GLIA_HTTP_MAX_HEADERS 64

typedef enum { GLIA_HTTP_REQUEST, GLIA_HTTP_RESPONSE } glia_http_kind;

typedef struct glia_http_header {
	const char *name; /* NUL-terminated, as received */
	const char *value; /* NUL-terminated, surrounding whitespace trimmed */
	size_t name_len;
	size_t value_len;
} glia_http_header;

/* A complete message. Every pointer points into the parser's storage and
 * stays valid until the next glia_http_parser_feed/reset/free. */
typedef struct glia_http_msg {
	const char *method; /* "GET", "POST", ... (requests) */
	const char *url;    /* raw request target, e.g. "/iris/x?a=1" */
	const char *path;   /* url up to '?', NUL-terminated copy */
	const char *query;  /* after '?', "" when none */
	int status;         /* responses */
	int http_major, http_minor;
	int keep_alive;     /* per HTTP version and Connection header */
	int chunked;        /* body arrived with Transfer-Encoding: chunked */
	glia_http_header headers[GLIA_HTTP_MAX_HEADERS];
	size_t n_headers;
	const char *body; /* de-chunked; NUL-terminated; never NULL */
	size_t body_len;
} glia_http_msg;

typedef struct glia_http_limits {
	size_t max_header_bytes; /* request line + all headers; default 64 KiB */
	size_t max_body_bytes;   /* default 32 MiB */
} glia_http_limits;

typedef struct glia_http_parser glia_http_parser;

/* Bytes of message storage shared by the parsers of one server. A parser
 * given a budget charges every byte it allocates (a body of known length at
 * once, when its head is complete) and gives them back when it shrinks or
 * is freed; a message that would take used past max fails with 503. */
typedef struct glia_http_budget {
	size_t max;
	size_t used;
} glia_http_budget;

/* limits may be NULL for the defaults. Never returns NULL. */
glia_http_parser *glia_http_parser_new(glia_http_kind kind,
				       const glia_http_limits *limits);
void glia_http_parser_free(glia_http_parser *p);
/* Forget the current message; ready for the next one on the same
 * connection. Keeps up to 256 KiB of storage; more is freed. */
void glia_http_parser_reset(glia_http_parser *p);
/* Charges p's storage to b from now on (NULL: to nothing). b must outlive
 * p or be unset first. */
void glia_http_parser_set_budget(glia_http_parser *p, glia_http_budget *b);
/* Bytes of storage p holds now. */
size_t glia_http_parser_buffered(const glia_http_parser *p);

/* A complete message's storage taken from its parser, so that a big body
 * is passed on without a copy: the body lies at body, len bytes, until
 * glia_http_body_free; its storage stays charged to the parser's budget
 * (if any) until then, or until glia_http_body_uncharge. */
typedef struct glia_http_body {
	char *store; /* NULL: none taken */
	size_t cap;
	const char *body;
	size_t len;
	glia_http_budget *budget;
} glia_http_body;
/* 1 with *out filled when p holds a complete message whose storage is big
 * (past what a reset keeps); p keeps a fresh small store. 0 otherwise
 * (copying the body is cheaper), *out emptied. */
int glia_http_parser_take_body(glia_http_parser *p, glia_http_body *out);
/* Gives the bytes back to the budget now (its owner is going away); the
 * storage itself stays until glia_http_body_free. */
void glia_http_body_uncharge(glia_http_body *b);
void glia_http_body_free(glia_http_body *b);
/* Bytes of big storage freed by every parser of the process since the
 * last call (a server calls malloc_trim when it is worth it). */
size_t glia_http_take_released(void);

enum {
	GLIA_HTTP_AGAIN = 0, /* need more bytes */
	GLIA_HTTP_DONE = 1,  /* a whole message is ready */
	GLIA_HTTP_ERROR = -1,
};

/* Feeds bytes. Returns GLIA_HTTP_AGAIN, GLIA_HTTP_DONE or GLIA_HTTP_ERROR.
 * *consumed gets how many bytes of data were used: on DONE, bytes after the
 * message (a pipelined next request) are not consumed and must be fed again
 * after reset. After ERROR, glia_http_parser_error_status gives the status to
 * answer (400 malformed, 413 body too large, 431 headers too large, 501 a
 * transfer coding other than chunked, 503 the budget is spent, 505 version)
 * and glia_http_parser_error_message a short human-readable reason. */
int glia_http_parser_feed(glia_http_parser *p, const char *data, size_t len,
			  size_t *consumed);
/* The peer closed the connection: completes a response whose body is
 * delimited by EOF. Returns DONE, or ERROR if a message was cut short,
 * or AGAIN if nothing had started. */
int glia_http_parser_eof(glia_http_parser *p);
/* Returns 1 once per message when a request's headers are complete, its
 * body is not, and it asked "Expect: 100-continue": the caller then sends
 * "HTTP/1.1 100 Continue" so the client goes on without waiting. */
int glia_http_parser_take_continue(glia_http_parser *p);
/* Non-zero once any byte of a message has been fed since the last reset. */
int glia_http_parser_started(const glia_http_parser *p);
/* Non-zero once the current message's head is complete. */
int glia_http_parser_headers_done(const glia_http_parser *p);
/* Once the head is complete: the message so far (headers; the body is what
 * has arrived). Valid until the next feed; NULL before the head is done. */
const glia_http_msg *glia_http_parser_head(glia_http_parser *p);
const glia_http_msg *glia_http_parser_msg(const glia_http_parser *p);
int glia_http_parser_error_status(const glia_http_parser *p);
const char *glia_http_parser_error_message(const glia_http_parser *p);

/* Case-insensitive header lookup; NULL when absent. */
const char *glia_http_msg_header(const glia_http_msg *m, const char *name);

/* "OK", "Not Found", ...; "Unknown" for others. */
const char *glia_http_status_text(int status);

/* Appends "HTTP/1.1 <status> <text>\r\n" then Content-Type (when not NULL),
 * Content-Length, Connection: keep-alive|close, the extra header lines
 * (already "Name: value\r\n"-formatted, may be NULL) and the blank line.
 * 0, or -1 when out hits its cap. */
int glia_http_format_response_head(glia_buf *out, int status,
				   const char *content_type, size_t body_len,
				   int keep_alive, const char *extra_headers);

/* Appends a complete JSON error response {"error": message} with status;
 * message is JSON-escaped. extra_headers as above. */
int glia_http_format_error(glia_buf *out, int status, const char *message,
			   int keep_alive, const char *extra_headers);

/* Percent-decodes s[0..len) into out ('+' becomes ' ' when plus_is_space).
 * Returns 0, or -1 on a malformed escape. */
int glia_url_decode(glia_buf *out, const char *s, size_t len,
		    int plus_is_space);

#endif
