/* pyruntime.c: see pyruntime.h. */
#include "pyruntime.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define DIR_MAX 4096

/* argv[1]: a directory put first on sys.path; argv[2]: the package. */
static const char find_script[] =
    "import sys, importlib.util as u\n"
    "sys.path[0:0] = [sys.argv[1]]\n"
    "sys.exit(0 if u.find_spec(sys.argv[2]) else 3)\n";

const char *glia_pyruntime_package(glia_predictor_type t)
{
	const char *name = glia_predictor_type_name(t);

	if (strcmp(name, "tensorflow") == 0)
		return "tensorflow";
	if (strcmp(name, "onnx") == 0)
		return "onnxruntime";
	return NULL;
}

const char *glia_pyruntime_python(void)
{
	const char *p = getenv("GLIA_PYRUNTIME_PYTHON"); /* tests only */

	return p && p[0] ? p : GLIA_PYRUNTIME_PYTHON;
}

/* The directory the predictor's imports start from: python_path (relative
 * to the project) or the project itself. */
static void search_dir(const glia_api_spec *s, const char *project_dir,
                       char *out, size_t n)
{
	const char *pp = s->predictor.python_path;

	if (pp && pp[0] == '/')
		snprintf(out, n, "%s", pp);
	else
		snprintf(out, n, "%s/%s", project_dir, pp ? pp : ".");
}

/* 1 when an earlier API of specs asked for the same package from the
 * same directory. */
static int asked_before(const glia_api_spec *specs, size_t i,
                        const char *project_dir, const char *dir)
{
	const char *package = glia_pyruntime_package(specs[i].predictor.type);
	char other[DIR_MAX];

	for (size_t j = 0; j < i; j++) {
		if (glia_pyruntime_package(specs[j].predictor.type) != package)
			continue;
		search_dir(&specs[j], project_dir, other, sizeof other);
		if (strcmp(other, dir) == 0)
			return 1;
	}
	return 0;
}

static void refusal(const glia_api_spec *s, const char *package, int rc,
                    char *err, size_t errlen)
{
	snprintf(err, errlen,
	         "API %s: type: %s needs the Python package %s, which %s %s "
	         "(searched the project directory, predictor.python_path and "
	         "the installed packages); install it with: pip install %s",
	         s->name, glia_predictor_type_name(s->predictor.type), package,
	         glia_pyruntime_python(),
	         rc == 3 ? "cannot import" : "could not be asked to import",
	         package);
}

/* One interpreter at a time: spawned, then (exit or timeout) its handle
 * closed, then the next API's is spawned or the answer given. */
struct glia_pyruntime_check {
	uv_loop_t *loop;
	const glia_api_spec *specs;
	size_t n;
	char *project_dir;
	size_t next;  /* the first API not yet looked at */
	size_t cur;   /* the API the interpreter is asked about */
	uv_process_t proc;
	uv_timer_t timer;
	int running;  /* spawned, its exit not yet seen */
	int open;     /* handles not yet closed */
	int rc;       /* the interpreter's answer: 0, 3, or -1 */
	int cancelled;
	glia_pyruntime_done_cb cb;
	void *arg;
};

static void check_free(glia_pyruntime_check *k)
{
	free(k->project_dir);
	free(k);
}

static void handle_closed(uv_handle_t *h)
{
	glia_pyruntime_check *k = h->data;

	if (--k->open == 0)
		check_free(k);
}

/* Calls cb once, then lets the handles go. */
static void deliver(glia_pyruntime_check *k, const char *err)
{
	k->cb(err, k->arg);
	uv_close((uv_handle_t *)&k->timer, handle_closed);
}

static void step(glia_pyruntime_check *k);

static void proc_closed(uv_handle_t *h)
{
	glia_pyruntime_check *k = h->data;

	k->open--;
	if (k->cancelled) {
		if (k->open == 0)
			check_free(k);
		return;
	}
	if (k->rc != 0) {
		char err[1024];
		const glia_api_spec *s = &k->specs[k->cur];
		refusal(s, glia_pyruntime_package(s->predictor.type), k->rc,
		        err, sizeof err);
		deliver(k, err);
		return;
	}
	step(k);
}

static void exit_cb(uv_process_t *p, int64_t status, int term_signal)
{
	glia_pyruntime_check *k = p->data;

	k->running = 0;
	uv_timer_stop(&k->timer);
	k->rc = term_signal ? -1 : (int)status;
	if (k->rc != 0 && k->rc != 3)
		k->rc = -1;
	uv_close((uv_handle_t *)p, proc_closed);
}

static void timeout_cb(uv_timer_t *t)
{
	glia_pyruntime_check *k = t->data;

	if (k->running) /* exit_cb follows, with SIGKILL: -1 */
		uv_process_kill(&k->proc, SIGKILL);
}

/* Asks about API i: 0, or -1 when the interpreter could not be started
 * (its handle is then closing, with rc -1). */
static int spawn(glia_pyruntime_check *k, size_t i, const char *dir)
{
	const char *package = glia_pyruntime_package(k->specs[i].predictor.type);
	const char *python = glia_pyruntime_python();
	/* -E: the worker's embedded Python ignores PYTHONPATH and PYTHONHOME
	 * too (pyhost.c) */
	char *argv[] = {(char *)python,      (char *)"-E",
	                (char *)"-c",        (char *)find_script,
	                (char *)dir,         (char *)package,
	                NULL};
	uv_stdio_container_t stdio[3];
	uv_process_options_t o;

	for (int f = 0; f < 3; f++)
		stdio[f].flags = UV_IGNORE; /* /dev/null */
	memset(&o, 0, sizeof o);
	o.file = python;
	o.args = argv;
	o.exit_cb = exit_cb;
	o.stdio = stdio;
	o.stdio_count = 3;
	k->cur = i;
	k->proc.data = k;
	k->open++;
	if (uv_spawn(k->loop, &k->proc, &o) < 0) {
		k->rc = -1;
		uv_close((uv_handle_t *)&k->proc, proc_closed);
		return -1;
	}
	k->running = 1;
	uv_timer_start(&k->timer, timeout_cb, GLIA_PYRUNTIME_TIMEOUT_MS, 0);
	return 0;
}

/* The next API to ask about, or the answer when none is left. */
static void step(glia_pyruntime_check *k)
{
	char dir[DIR_MAX];

	while (k->next < k->n) {
		size_t i = k->next++;

		if (!glia_pyruntime_package(k->specs[i].predictor.type))
			continue;
		search_dir(&k->specs[i], k->project_dir, dir, sizeof dir);
		if (asked_before(k->specs, i, k->project_dir, dir))
			continue;
		spawn(k, i, dir); /* on failure, proc_closed refuses */
		return;
	}
	deliver(k, NULL);
}

glia_pyruntime_check *glia_pyruntime_check_start(uv_loop_t *loop,
                                                 const glia_api_spec *specs,
                                                 size_t n,
                                                 const char *project_dir,
                                                 glia_pyruntime_done_cb cb,
                                                 void *arg)
{
	size_t first = 0;

	while (first < n && !glia_pyruntime_package(specs[first].predictor.type))
		first++;
	if (first == n)
		return NULL;
	glia_pyruntime_check *k = glia_calloc(1, sizeof *k);
	k->loop = loop;
	k->specs = specs;
	k->n = n;
	k->project_dir = glia_strdup(project_dir);
	k->next = first;
	k->cb = cb;
	k->arg = arg;
	uv_timer_init(loop, &k->timer);
	k->timer.data = k;
	k->open = 1;
	/* the first API always needs asking: cb comes from a loop callback
	 * (exit, or the close of a handle that could not spawn) */
	step(k);
	return k;
}

void glia_pyruntime_check_cancel(glia_pyruntime_check *k)
{
	k->cancelled = 1;
	if (k->running) {
		/* closed now rather than at its exit: the loop may be about to
		 * stop (the daemon's shutdown); the killed child is a zombie
		 * until then */
		uv_process_kill(&k->proc, SIGKILL);
		k->running = 0;
		uv_close((uv_handle_t *)&k->proc, proc_closed);
	}
	/* else its handle is already closing (proc_closed frees when it
	 * is the last) */
	uv_close((uv_handle_t *)&k->timer, handle_closed);
}
