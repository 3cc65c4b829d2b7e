/* chost.c: see chost.h. The predictor's answer is written from its own
 * memory (no copy of the body); only its extra header lines are copied, to
 * drop the ones glia writes itself. */
#include "chost.h"

#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define INIT_ERROR_MAX   1024
#define HEADERS_MAX      (64u << 10)
#define LOG_ID_MAX       128
#define DEFAULT_FAILURE  "predictor failed"
#define DEFAULT_INIT_ERR "glia_predictor_init returned NULL"

typedef int (*abi_version_fn)(void);
typedef void *(*init_fn)(const char *, char *, size_t);
typedef int (*predict_fn)(void *, const glia_request *, glia_response *);
typedef void (*free_response_fn)(void *, glia_response *);
typedef void (*free_fn)(void *);
typedef int (*predict_batch_fn)(void *, const glia_request *, glia_response *,
                                size_t);

struct glia_chost {
	void *lib;
	void *state;
	abi_version_fn abi_version;
	init_fn init;
	predict_fn predict;
	free_response_fn free_response;
	free_fn free_state;
	predict_batch_fn predict_batch; /* optional; NULL when absent */
	glia_response *batch;           /* predict_batch's array */
	size_t batch_cap;
};

/* The request id a thread is running predict for, for the crash report. */
static __thread const char *predicting;

/* --- crash report ----------------------------------------------------- */

static const char *signal_name(int sig)
{
	switch (sig) {
	case SIGSEGV:
		return "SIGSEGV";
	case SIGBUS:
		return "SIGBUS";
	case SIGFPE:
		return "SIGFPE";
	case SIGILL:
		return "SIGILL";
	default:
		return "SIGABRT";
	}
}

static size_t append(char *dst, size_t at, size_t cap, const char *s,
                     size_t max)
{
	for (size_t i = 0; s[i] && i < max && at + 1 < cap; i++)
		dst[at++] = s[i];
	return at;
}

static struct sigaction saved[5];
static const int crash_signals[5] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

/* Names the request whose predict call crashed, puts back the action that
 * was there before (the default, or a sanitizer's) and lets it act: a fault
 * happens again when the handler returns, a sent signal is raised again.
 * Async-signal-safe. */
static void on_crash(int sig, siginfo_t *info, void *uctx)
{
	char line[256];
	size_t n = 0;

	(void)uctx;
	n = append(line, n, sizeof(line), "glia worker: ", 64);
	n = append(line, n, sizeof(line), signal_name(sig), 16);
	if (predicting) {
		n = append(line, n, sizeof(line),
		           " in the C predictor's predict, request [", 64);
		n = append(line, n, sizeof(line), predicting, LOG_ID_MAX);
		n = append(line, n, sizeof(line), "]", 1);
	}
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nothing left to report to */
	}
	for (size_t i = 0; i < 5; i++)
		if (crash_signals[i] == sig)
			sigaction(sig, &saved[i], NULL);
	if (info->si_code <= 0)
		raise(sig);
}

static void install_crash_report(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_crash;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < 5; i++)
		sigaction(crash_signals[i], &sa, &saved[i]);
}

/* --- loading ---------------------------------------------------------- */

static void *symbol(void *lib, const char *path, const char *name, char *err,
                    size_t errlen)
{
	void *p;

	dlerror();
	p = dlsym(lib, name);
	if (!p)
		snprintf(
		    err, errlen,
		    "%s does not define %s (a C predictor defines the five "
		    "functions of glia/predictor.h)",
		    path, name);
	return p;
}

static int resolve(glia_chost *h, const char *path, char *err, size_t errlen)
{
	void *p[5];
	static const char *const names[5] = {
	    "glia_predictor_abi_version", "glia_predictor_init",
	    "glia_predictor_predict", "glia_predictor_free_response",
	    "glia_predictor_free"};

	for (size_t i = 0; i < 5; i++) {
		p[i] = symbol(h->lib, path, names[i], err, errlen);
		if (!p[i])
			return -1;
	}
	h->abi_version = (abi_version_fn)p[0];
	h->init = (init_fn)p[1];
	h->predict = (predict_fn)p[2];
	h->free_response = (free_response_fn)p[3];
	h->free_state = (free_fn)p[4];
	h->predict_batch = (predict_batch_fn)dlsym(h->lib,
	                                           "glia_predictor_predict_batch");
	return 0;
}

static int build(glia_chost *h, const char *config_json, char *err,
                 size_t errlen)
{
	char ierr[INIT_ERROR_MAX];

	ierr[0] = '\0';
	h->state = h->init(config_json, ierr, sizeof(ierr));
	if (h->state)
		return 0;
	ierr[sizeof(ierr) - 1] = '\0';
	snprintf(err, errlen, "%s", ierr[0] ? ierr : DEFAULT_INIT_ERR);
	return -1;
}

/* The library is never dlclosed, not even on failure: its constructors or
 * a failed init may have left threads running its code, and the worker
 * exits right after a failed load anyway. */
glia_chost *glia_chost_load(const char *path, const char *config_json,
                            char *err, size_t errlen)
{
	glia_chost *h = glia_calloc(1, sizeof(*h));
	/* dlopen searches the library path for a name without a slash. */
	char *file =
	    strchr(path, '/') ? glia_strdup(path) : glia_sprintf("./%s", path);
	int version;

	h->lib = dlopen(file, RTLD_NOW | RTLD_LOCAL);
	if (!h->lib) {
		snprintf(err, errlen, "cannot load %s: %s", path, dlerror());
		goto fail;
	}
	if (resolve(h, path, err, errlen) < 0)
		goto fail;
	version = h->abi_version();
	if (version != GLIA_PREDICTOR_ABI_VERSION) {
		snprintf(err, errlen,
		         "%s: ABI version %d, glia expects %d (rebuild it with "
		         "this glia's include/glia/predictor.h)",
		         path, version, GLIA_PREDICTOR_ABI_VERSION);
		goto fail;
	}
	install_crash_report();
	if (build(h, config_json, err, errlen) < 0)
		goto fail;
	free(file);
	return h;
fail:
	free(file);
	free(h);
	return NULL;
}

void glia_chost_unload(glia_chost *h)
{
	if (!h)
		return;
	h->free_state(h->state);
	free(h);
}

/* --- serving ---------------------------------------------------------- */

void glia_chost_init_call(glia_chost_call *call)
{
	memset(call, 0, sizeof(*call));
	glia_buf_init(&call->headers, HEADERS_MAX);
}

static int is_token_char(unsigned char ch)
{
	return ch > 0x20 && ch < 0x7f && !strchr("\"(),/:;<=>?@[\\]{}", ch);
}

/* Header lines glia writes itself; a predictor's are dropped. */
static int reserved(const char *name, size_t len)
{
	static const char *const names[] = {"Content-Type", "Content-Length",
	                                    "Connection",   "Transfer-Encoding",
	                                    "X-Request-ID", NULL};

	for (size_t i = 0; names[i]; i++)
		if (strlen(names[i]) == len &&
		    strncasecmp(name, names[i], len) == 0)
			return 1;
	return 0;
}

/* Checks one "Name: value\r\n" line starting at s. Returns the length of
 * its name, or 0 when malformed; *end gets the start of the next line. */
static size_t check_line(const char *s, const char **end)
{
	const char *eol = strstr(s, "\r\n");
	size_t name_len = 0;

	if (!eol)
		return 0;
	while (s + name_len < eol && is_token_char((unsigned char)s[name_len]))
		name_len++;
	if (name_len == 0 || s[name_len] != ':')
		return 0;
	for (const char *p = s + name_len + 1; p < eol; p++)
		if (*p == '\r' || *p == '\n')
			return 0;
	*end = eol + 2;
	return name_len;
}

/* Copies the predictor's header lines into call->headers, minus reserved
 * ones. NULL, or why they cannot be sent. */
static const char *copy_headers(glia_chost_call *call)
{
	const char *s = call->resp.headers, *next = NULL;

	glia_buf_reset(&call->headers);
	while (s && *s) {
		size_t name_len = check_line(s, &next);

		if (name_len == 0)
			return "predictor returned malformed headers "
			       "(each line must be \"Name: value\\r\\n\")";
		if (!reserved(s, name_len) &&
		    glia_buf_append(&call->headers, s, (size_t)(next - s)) < 0)
			return "predictor returned headers over 64 KiB";
		s = next;
	}
	return NULL;
}

/* Whether the predictor's answer can be written; NULL, or why not (in
 * call->message). */
static const char *check_response(glia_chost_call *call)
{
	const glia_response *r = &call->resp;

	if (r->status < 100 || r->status > 599) {
		snprintf(call->message, sizeof(call->message),
		         "predictor returned HTTP status %d (must be 100..599)",
		         r->status);
		return call->message;
	}
	if (!r->body && r->body_len) {
		snprintf(call->message, sizeof(call->message),
		         "predictor returned a NULL body with body_len %zu",
		         r->body_len);
		return call->message;
	}
	if (r->content_type && strpbrk(r->content_type, "\r\n"))
		return "predictor returned a content_type with a line break";
	return copy_headers(call);
}

/* The predictor's error text: its body up to the first NUL, cut at
 * GLIA_CHOST_ERROR_MAX bytes on a UTF-8 character boundary. */
static const char *failure_text(glia_chost_call *call)
{
	const glia_response *r = &call->resp;
	size_t n = r->body ? strnlen(r->body, r->body_len) : 0;
	int cut = n > GLIA_CHOST_ERROR_MAX;

	if (n == 0)
		return DEFAULT_FAILURE;
	if (cut) {
		n = GLIA_CHOST_ERROR_MAX;
		while (n > 0 && ((unsigned char)r->body[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(call->message, r->body, n);
	strcpy(call->message + n, cut ? "..." : "");
	return call->message;
}

/* "[<request id>] predictor failed: <why>" on one line of stderr. */
static void log_failure(const char *request_id, const char *why)
{
	char line[GLIA_CHOST_ERROR_MAX + 64];
	size_t i;

	for (i = 0; why[i] && i + 1 < sizeof(line); i++)
		line[i] = (unsigned char)why[i] < 0x20 ? ' ' : why[i];
	line[i] = '\0';
	fprintf(stderr, "[%.*s] predictor failed: %s\n", LOG_ID_MAX,
	        request_id && *request_id ? request_id : "-", line);
}

static void answer_error(glia_chost_call *call, const char *request_id,
                         const char *why)
{
	log_failure(request_id, why);
	call->status = 500;
	call->error = why;
	call->content_type = NULL;
	call->body = NULL;
	call->body_len = 0;
	glia_buf_reset(&call->headers);
}

/* What the call answers, once its response is filled (by either path). */
static void settle_call(glia_chost_call *call, const char *request_id)
{
	const char *why = check_response(call);

	if (why) {
		answer_error(call, request_id, why);
		return;
	}
	call->status = call->resp.status;
	call->content_type = call->resp.content_type ? call->resp.content_type
	                                             : "application/json";
	call->body = call->resp.body;
	call->body_len = call->resp.body_len;
}

void glia_chost_handle(glia_chost *h, const glia_request *req,
                       glia_chost_call *call)
{
	int rc;

	memset(&call->resp, 0, sizeof(call->resp));
	call->resp.status = 200;
	call->error = NULL;
	predicting =
	    req->request_id && *req->request_id ? req->request_id : "-";
	rc = h->predict(h->state, req, &call->resp);
	predicting = NULL;
	call->pending = 1;
	if (rc != 0) {
		answer_error(call, req->request_id, failure_text(call));
		return;
	}
	settle_call(call, req->request_id);
}

int glia_chost_can_batch(const glia_chost *h)
{
	return h->predict_batch != NULL;
}

static glia_response *batch_array(glia_chost *h, size_t n)
{
	if (n > h->batch_cap) {
		free(h->batch);
		h->batch = glia_calloc(n, sizeof(*h->batch));
		h->batch_cap = n;
	}
	for (size_t i = 0; i < n; i++) {
		memset(&h->batch[i], 0, sizeof(h->batch[i]));
		h->batch[i].status = 200;
	}
	return h->batch;
}

void glia_chost_handle_batch(glia_chost *h, const glia_request *reqs,
                             glia_chost_call *const *calls, size_t n)
{
	glia_response *resps = batch_array(h, n);
	const char *first_id =
	    reqs[0].request_id && *reqs[0].request_id ? reqs[0].request_id
	                                              : "-";
	int rc;

	predicting = first_id;
	rc = h->predict_batch(h->state, reqs, resps, n);
	predicting = NULL;
	for (size_t i = 0; i < n; i++) {
		calls[i]->resp = resps[i];
		calls[i]->pending = 1;
		calls[i]->error = NULL;
	}
	if (rc != 0) {
		const char *why = failure_text(calls[0]);
		for (size_t i = 0; i < n; i++) {
			if (i > 0) {
				snprintf(calls[i]->message,
				         sizeof(calls[i]->message), "%s", why);
				why = calls[i]->message;
			}
			answer_error(calls[i], reqs[i].request_id, why);
		}
	} else {
		for (size_t i = 0; i < n; i++)
			settle_call(calls[i], reqs[i].request_id);
	}
	glia_buf_printf(&calls[0]->headers, "X-Glia-Batch-Size: %zu\r\n", n);
}

void glia_chost_finish(glia_chost *h, glia_chost_call *call)
{
	if (!call->pending)
		return;
	call->pending = 0;
	h->free_response(h->state, &call->resp);
	call->body = NULL;
	call->content_type = NULL;
}
