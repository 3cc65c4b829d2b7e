/* pyhost.c: see pyhost.h. Keeps the C side thin: one call into
 * glia._runtime.handle per request (decode, predict, encode all happen
 * there), and the GIL is held only for that call. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "pyhost.h"
#include "pynative.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RESP_BODY_MAX  ((size_t)1 << 30)
#define INTERNAL_ERROR "{\"error\": \"internal error in the glia worker\"}"

static PyObject *handle_fn; /* glia._runtime.handle */
static PyObject *post_fn;   /* glia._runtime.post */
static PyObject *batch_fn;  /* glia._runtime.handle_batch */
static PyObject *scan_fn;   /* glia._runtime.models_scan */
static PyObject *tick_fn;   /* glia._runtime.models_tick */
static PyThreadState *main_state;

/* The installation prefix of the libpython we run on: the nearest parent
 * of its directory holding lib/pythonX.Y/os.py. Pinning it keeps Python
 * from deriving its prefix from PATH (where another python3 may come
 * first) or from the glia binary's location. NULL when not found. */
static char *find_python_home(void)
{
	Dl_info info;
	char real[PATH_MAX], probe[PATH_MAX + 64];
	char *slash;

	if (!dladdr((void *)Py_InitializeFromConfig, &info) || !info.dli_fname)
		return NULL;
	if (!realpath(info.dli_fname, real))
		return NULL;
	while ((slash = strrchr(real, '/')) != NULL) {
		*slash = '\0';
		snprintf(probe, sizeof(probe), "%s/lib/python%d.%d/os.py", real,
		         PY_MAJOR_VERSION, PY_MINOR_VERSION);
		if (access(probe, R_OK) == 0)
			return glia_strdup(real[0] ? real : "/");
	}
	return NULL;
}

static int init_interpreter(char *err, size_t errlen)
{
	PyConfig config;
	PyStatus st;
	char *home = find_python_home();

	PyConfig_InitPythonConfig(&config);
	config.use_environment = 0; /* no PYTHONHOME/PYTHONPATH from outside */
	config.install_signal_handlers = 0; /* the worker owns signals */
	config.buffered_stdio = 0;
	config.parse_argv = 0;
	config.site_import = 1; /* dist-packages (numpy, sklearn, ...) */
	config.faulthandler = 1; /* Python stacks on a crash, to stderr */
	st = PyConfig_SetBytesString(&config, &config.program_name, "python3");
	if (!PyStatus_Exception(st) && home)
		st = PyConfig_SetBytesString(&config, &config.home, home);
	if (!PyStatus_Exception(st))
		st = Py_InitializeFromConfig(&config);
	PyConfig_Clear(&config);
	free(home);
	if (PyStatus_Exception(st)) {
		snprintf(err, errlen, "cannot initialize Python: %s",
		         st.err_msg ? st.err_msg : "unknown error");
		return -1;
	}
	return 0;
}

/* Prints the pending exception (never exits on SystemExit). */
static void print_exception(void)
{
	if (PyErr_ExceptionMatches(PyExc_SystemExit)) {
		PyErr_Clear();
		fputs("glia: unexpected SystemExit in the worker runtime\n",
		      stderr);
		return;
	}
	PyErr_PrintEx(0);
}

static int import_runtime(const char *python_dir, char *err, size_t errlen)
{
	PyObject *sys_path = PySys_GetObject("path"); /* borrowed */
	PyObject *dir = NULL, *mod = NULL;
	int rc = -1;

	dir = PyUnicode_DecodeFSDefault(python_dir);
	if (!sys_path || !dir || PyList_Insert(sys_path, 0, dir) < 0)
		goto fail;
	mod = PyImport_ImportModule("glia._runtime");
	if (!mod)
		goto fail;
	handle_fn = PyObject_GetAttrString(mod, "handle");
	post_fn = PyObject_GetAttrString(mod, "post");
	batch_fn = PyObject_GetAttrString(mod, "handle_batch");
	scan_fn = PyObject_GetAttrString(mod, "models_scan");
	tick_fn = PyObject_GetAttrString(mod, "models_tick");
	if (!handle_fn || !post_fn || !batch_fn || !scan_fn || !tick_fn)
		goto fail;
	rc = 0;
fail:
	if (rc < 0) {
		print_exception();
		snprintf(err, errlen, "cannot import glia._runtime from %s",
		         python_dir);
	}
	Py_XDECREF(dir);
	Py_XDECREF(mod);
	return rc;
}

static int load_predictor(const glia_pyhost_opts *opts, char *err,
                          size_t errlen)
{
	PyObject *load = NULL, *res = NULL;
	PyObject *mod = PyImport_ImportModule("glia._runtime");
	int rc = -1;

	if (!mod)
		goto fail;
	load = PyObject_GetAttrString(mod, "load");
	if (!load)
		goto fail;
	res = PyObject_CallFunction(load, "ss", opts->spec_json,
	                            opts->replica_id ? opts->replica_id : "");
	if (!res)
		goto fail;
	if (res == Py_None) {
		rc = 0;
	} else {
		const char *msg =
		    PyUnicode_Check(res) ? PyUnicode_AsUTF8(res) : NULL;
		snprintf(err, errlen, "%s",
		         msg ? msg : "predictor failed to load");
		PyErr_Clear();
	}
	goto out;
fail:
	print_exception();
	snprintf(err, errlen, "internal error while loading the predictor");
out:
	Py_XDECREF(res);
	Py_XDECREF(load);
	Py_XDECREF(mod);
	return rc;
}

int glia_pyhost_start(const glia_pyhost_opts *opts, char *err, size_t errlen)
{
	if (glia_pynative_register(opts->status_fd) < 0) {
		snprintf(err, errlen, "cannot set up the _glia_native module");
		return -1;
	}
	if (init_interpreter(err, errlen) < 0)
		return -1;
	if (import_runtime(opts->python_dir, err, errlen) < 0)
		return -1;
	return load_predictor(opts, err, errlen);
}

void glia_pyhost_detach(void)
{
	main_state = PyEval_SaveThread();
}

void glia_pyhost_flush(void)
{
	static const char *const names[] = {"stdout", "stderr"};

	if (!main_state)
		return;
	PyEval_RestoreThread(main_state);
	for (size_t i = 0; i < 2; i++) {
		PyObject *f = PySys_GetObject(names[i]); /* borrowed */
		PyObject *r = f && f != Py_None
		                  ? PyObject_CallMethod(f, "flush", NULL)
		                  : NULL;
		Py_XDECREF(r);
		PyErr_Clear();
	}
	main_state = PyEval_SaveThread();
}

void glia_pyhost_thread_enter(void)
{
	/* The thread state created here stays bound to the thread (the
	 * GILState counter stays at 1), so later Ensure/Release pairs only
	 * take and drop the GIL. */
	PyGILState_Ensure();
	PyEval_SaveThread();
}

void glia_pyhost_resp_init(glia_pyhost_resp *resp)
{
	memset(resp, 0, sizeof(*resp));
	glia_buf_init(&resp->content_type, 4096);
	glia_buf_init(&resp->extra_headers, 64 * 1024);
	glia_buf_init(&resp->body, RESP_BODY_MAX);
}

void glia_pyhost_resp_free(glia_pyhost_resp *resp)
{
	glia_buf_free(&resp->content_type);
	glia_buf_free(&resp->extra_headers);
	glia_buf_free(&resp->body);
}

static PyObject *latin1(const char *s)
{
	return PyUnicode_DecodeLatin1(s, (Py_ssize_t)strlen(s), NULL);
}

static PyObject *header_list(const glia_pyhost_req *req)
{
	PyObject *list = PyList_New((Py_ssize_t)req->n_headers);

	for (size_t i = 0; list && i < req->n_headers; i++) {
		PyObject *name = latin1(req->header_names[i]);
		PyObject *value = latin1(req->header_values[i]);
		PyObject *pair = name && value ? PyTuple_New(2) : NULL;

		if (!pair) {
			Py_XDECREF(name);
			Py_XDECREF(value);
			Py_CLEAR(list);
			break;
		}
		PyTuple_SET_ITEM(pair, 0, name);
		PyTuple_SET_ITEM(pair, 1, value);
		PyList_SET_ITEM(list, (Py_ssize_t)i, pair);
	}
	return list;
}

static PyObject *str_or_none(const char *s)
{
	if (!s)
		Py_RETURN_NONE;
	return latin1(s);
}

/* Copies one (status, ctype, body, extra, post) tuple into resp. */
static int unpack(PyObject *res, glia_pyhost_resp *resp)
{
	PyObject *ctype, *body, *extra, *post;
	const char *s;
	Py_ssize_t n;
	long status;

	if (!PyTuple_Check(res) || PyTuple_GET_SIZE(res) != 5)
		return -1;
	status = PyLong_AsLong(PyTuple_GET_ITEM(res, 0));
	ctype = PyTuple_GET_ITEM(res, 1);
	body = PyTuple_GET_ITEM(res, 2);
	extra = PyTuple_GET_ITEM(res, 3);
	post = PyTuple_GET_ITEM(res, 4);
	if (status < 100 || status > 599 || !PyBytes_Check(body))
		return -1;
	resp->status = (int)status;
	if (ctype != Py_None) {
		s = PyUnicode_AsUTF8AndSize(ctype, &n);
		if (!s || memchr(s, '\r', (size_t)n) ||
		    memchr(s, '\n', (size_t)n) ||
		    glia_buf_append(&resp->content_type, s, (size_t)n) < 0)
			return -1;
		resp->has_content_type = 1;
	}
	if (extra != Py_None) {
		if (!PyBytes_Check(extra) ||
		    glia_buf_append(&resp->extra_headers,
		                    PyBytes_AS_STRING(extra),
		                    (size_t)PyBytes_GET_SIZE(extra)) < 0)
			return -1;
	}
	if (glia_buf_append(&resp->body, PyBytes_AS_STRING(body),
	                    (size_t)PyBytes_GET_SIZE(body)) < 0)
		return -1;
	if (post != Py_None) {
		Py_INCREF(post);
		resp->post = post;
	}
	return 0;
}

static void reset_resp(glia_pyhost_resp *resp)
{
	resp->status = 500;
	resp->has_content_type = 0;
	resp->post = NULL;
	glia_buf_reset(&resp->content_type);
	glia_buf_reset(&resp->extra_headers);
	glia_buf_reset(&resp->body);
}

static void internal_error(glia_pyhost_resp *resp)
{
	if (PyErr_Occurred())
		print_exception();
	else
		fputs("glia: the worker runtime returned a malformed answer\n",
		      stderr);
	Py_XDECREF((PyObject *)resp->post);
	reset_resp(resp);
	glia_buf_puts(&resp->content_type, "application/json");
	resp->has_content_type = 1;
	glia_buf_puts(&resp->body, INTERNAL_ERROR);
}

/* The 7 arguments of glia._runtime.handle, as new references; 0, or -1
 * with a Python error set (and every slot NULL). */
static int request_args(const glia_pyhost_req *req, PyObject *args[7])
{
	int ok = 1;

	args[0] = latin1(req->method);
	args[1] = latin1(req->path);
	args[2] = latin1(req->query);
	args[3] = header_list(req);
	args[4] =
	    PyBytes_FromStringAndSize(req->body, (Py_ssize_t)req->body_len);
	args[5] = str_or_none(req->content_type);
	args[6] = str_or_none(req->request_id);
	for (int i = 0; i < 7; i++)
		ok = ok && args[i];
	if (!ok)
		for (int i = 0; i < 7; i++)
			Py_CLEAR(args[i]);
	return ok ? 0 : -1;
}

void glia_pyhost_handle(const glia_pyhost_req *req, glia_pyhost_resp *resp)
{
	PyGILState_STATE gil = PyGILState_Ensure();
	PyObject *args[7], *res = NULL;

	reset_resp(resp);
	if (request_args(req, args) == 0) {
		res = PyObject_Vectorcall(handle_fn, args, 7, NULL);
		for (int i = 0; i < 7; i++)
			Py_DECREF(args[i]);
	}
	if (!res || unpack(res, resp) < 0)
		internal_error(resp);
	Py_XDECREF(res);
	PyGILState_Release(gil);
}

/* The same 7 arguments as a tuple (new reference, NULL on error). */
static PyObject *request_tuple(const glia_pyhost_req *req)
{
	PyObject *args[7], *t;

	if (request_args(req, args) < 0)
		return NULL;
	t = PyTuple_New(7);
	for (int i = 0; i < 7; i++) {
		if (t)
			PyTuple_SET_ITEM(t, i, args[i]); /* steals */
		else
			Py_DECREF(args[i]);
	}
	return t;
}

static PyObject *request_list(const glia_pyhost_req *const *reqs, size_t n)
{
	PyObject *list = PyList_New((Py_ssize_t)n);

	for (size_t i = 0; list && i < n; i++) {
		PyObject *t = request_tuple(reqs[i]);
		if (!t) {
			Py_CLEAR(list);
			break;
		}
		PyList_SET_ITEM(list, (Py_ssize_t)i, t);
	}
	return list;
}

void glia_pyhost_handle_batch(const glia_pyhost_req *const *reqs,
                              glia_pyhost_resp *const *resps, size_t n)
{
	PyGILState_STATE gil = PyGILState_Ensure();
	PyObject *list = request_list(reqs, n), *res = NULL;
	int ok;

	for (size_t i = 0; i < n; i++)
		reset_resp(resps[i]);
	if (list)
		res = PyObject_CallOneArg(batch_fn, list);
	ok = res && PyList_Check(res) && PyList_GET_SIZE(res) == (Py_ssize_t)n;
	if (!ok && res) {
		Py_CLEAR(res);
		PyErr_SetString(PyExc_RuntimeError,
		                "handle_batch returned a wrong answer list");
	}
	for (size_t i = 0; i < n; i++) {
		if (ok && unpack(PyList_GET_ITEM(res, (Py_ssize_t)i),
		                 resps[i]) == 0)
			continue;
		internal_error(resps[i]);
	}
	Py_XDECREF(res);
	Py_XDECREF(list);
	PyGILState_Release(gil);
}

/* (dirs, next seconds or None) from models_scan into C form. */
static void scan_result(PyObject *res, char ***dirs, int64_t *next_ms)
{
	PyObject *list, *next;

	if (!PyTuple_Check(res) || PyTuple_GET_SIZE(res) != 2)
		return;
	list = PyTuple_GET_ITEM(res, 0);
	next = PyTuple_GET_ITEM(res, 1);
	if (next != Py_None) {
		double s = PyFloat_AsDouble(next);
		if (!PyErr_Occurred() && s >= 0)
			*next_ms = (int64_t)(s * 1000.0) + 1;
		PyErr_Clear();
	}
	if (!PyList_Check(list))
		return;
	Py_ssize_t n = PyList_GET_SIZE(list);
	*dirs = glia_calloc((size_t)n + 1, sizeof(char *));
	for (Py_ssize_t i = 0, k = 0; i < n; i++) {
		const char *d = PyUnicode_Check(PyList_GET_ITEM(list, i))
		                    ? PyUnicode_AsUTF8(PyList_GET_ITEM(list, i))
		                    : NULL;
		if (d)
			(*dirs)[k++] = glia_strdup(d);
		PyErr_Clear();
	}
}

void glia_pyhost_models_scan(char ***dirs, int64_t *next_ms)
{
	PyGILState_STATE gil = PyGILState_Ensure();
	PyObject *res = PyObject_CallNoArgs(scan_fn);

	*dirs = NULL;
	*next_ms = -1;
	if (res)
		scan_result(res, dirs, next_ms);
	else
		print_exception();
	Py_XDECREF(res);
	PyGILState_Release(gil);
}

void glia_pyhost_models_tick(void)
{
	PyGILState_STATE gil = PyGILState_Ensure();
	PyObject *res = PyObject_CallNoArgs(tick_fn);

	if (!res)
		print_exception();
	Py_XDECREF(res);
	PyGILState_Release(gil);
}

void glia_pyhost_finish(glia_pyhost_resp *resp)
{
	PyGILState_STATE gil;
	PyObject *post = resp->post, *res;

	if (!post)
		return;
	resp->post = NULL;
	gil = PyGILState_Ensure();
	res = PyObject_CallOneArg(post_fn, post);
	if (!res)
		print_exception();
	Py_XDECREF(res);
	Py_DECREF(post);
	PyGILState_Release(gil);
}
