/* fuzz_http.c: libFuzzer driver for the HTTP parser (src/http.c).
 *
 * The first input byte picks how the rest is cut into feeds (1..31 bytes,
 * or all at once), whether small limits apply and whether the parser is
 * charged to a small budget; the rest goes through a request parser,
 * message after message as a pipelining connection would, then through a
 * response parser finished by EOF. Every message is checked against the
 * promises of http.h (the head as soon as it is complete, the budget's
 * count against the parser's storage), and the URL decoder and error
 * formatter are run on what was parsed. See fuzz/README.md. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

static void check_msg(const glia_http_msg *m)
{
	CHECK(m && m->method && m->url && m->path && m->query && m->body);
	CHECK(m->body[m->body_len] == '\0');
	CHECK(m->n_headers <= GLIA_HTTP_MAX_HEADERS);
	for (size_t i = 0; i < m->n_headers; i++) {
		CHECK(strlen(m->headers[i].name) == m->headers[i].name_len);
		CHECK(strlen(m->headers[i].value) == m->headers[i].value_len);
		CHECK(glia_http_msg_header(m, m->headers[i].name) != NULL);
	}
}

/* Uses what a server does with a request: decode its path and query. */
static void use_request(const glia_http_msg *m)
{
	glia_buf b;

	glia_buf_init(&b, 0);
	glia_url_decode(&b, m->path, strlen(m->path), 0);
	glia_url_decode(&b, m->query, strlen(m->query), 1);
	glia_buf_free(&b);
}

static void answer_error(const glia_http_parser *p)
{
	glia_buf b;
	int status = glia_http_parser_error_status(p);

	CHECK(status >= 400 && status <= 599);
	CHECK(glia_http_parser_msg(p) == NULL);
	glia_buf_init(&b, 0);
	CHECK(glia_http_format_error(
	          &b, status, glia_http_parser_error_message(p), 0, NULL) == 0);
	glia_buf_free(&b);
}

/* Feeds data in pieces of step bytes (0: all at once), resetting after each
 * complete message; stops at the first error. Ends with EOF. */
/* The head, readable as soon as it is complete and until the next feed. */
static void check_head(glia_http_parser *p)
{
	const glia_http_msg *m = glia_http_parser_head(p);

	CHECK((m != NULL) == (glia_http_parser_headers_done(p) != 0));
	if (m)
		check_msg(m);
}

static void run(glia_http_kind kind, const glia_http_limits *lim,
                glia_http_budget *budget, const uint8_t *data, size_t len,
                size_t step)
{
	glia_http_parser *p = glia_http_parser_new(kind, lim);
	size_t off = 0;
	int rc = GLIA_HTTP_AGAIN;

	glia_http_parser_set_budget(p, budget);
	while (off < len) {
		size_t n = step && step < len - off ? step : len - off,
		       used = 0;
		rc = glia_http_parser_feed(p, (const char *)data + off, n,
		                           &used);
		CHECK(used <= n);
		off += used;
		if (budget)
			CHECK(budget->used == glia_http_parser_buffered(p) &&
			      budget->used <= budget->max);
		if (rc == GLIA_HTTP_ERROR)
			break;
		if (rc == GLIA_HTTP_AGAIN)
			check_head(p);
		if (rc == GLIA_HTTP_DONE) {
			check_msg(glia_http_parser_msg(p));
			if (kind == GLIA_HTTP_REQUEST)
				use_request(glia_http_parser_msg(p));
			glia_http_parser_reset(p);
		} else {
			CHECK(used == n);
		}
	}
	if (rc != GLIA_HTTP_ERROR)
		rc = glia_http_parser_eof(p);
	if (rc == GLIA_HTTP_DONE)
		check_msg(glia_http_parser_msg(p));
	if (rc == GLIA_HTTP_ERROR)
		answer_error(p);
	glia_http_parser_free(p);
	if (budget)
		CHECK(budget->used == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const glia_http_limits small = {256, 256};
	glia_http_budget budget = {8192, 0};

	if (size < 1)
		return 0;
	size_t step = data[0] & 31; /* 0: the whole input in one feed */
	const glia_http_limits *lim = data[0] & 32 ? &small : NULL;
	glia_http_budget *b = data[0] & 64 ? &budget : NULL;
	run(GLIA_HTTP_REQUEST, lim, b, data + 1, size - 1, step);
	run(GLIA_HTTP_RESPONSE, lim, b, data + 1, size - 1, step);
	return 0;
}
