/* pynative.c: see pynative.h. Python side:
 *
 *   fetch(url, dest, max_bytes=0)  download url into the file dest
 *                                  (http and https, redirects followed;
 *                                  s3://bucket/key signed, see s3.h);
 *                                  OSError with curl's reason on failure
 *   s3_list(url, max_keys=0, page_keys=0)
 *                                  [(key, size, etag, mtime)] of the
 *                                  objects under s3://bucket/prefix
 *   s3_head(url)                   (size, etag, mtime) of an object, or
 *                                  None when there is none
 *   malloc_trim()                  return free heap pages to the system
 *   emit(line)                     one line to the daemon (no newline)
 *
 * fetch, s3_list, s3_head and malloc_trim release the GIL while they run.
 * The S3 configuration is read from the environment at each call. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "pynative.h"
#include "s3.h"

#include <curl/curl.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CONNECT_TIMEOUT_S 30
#define STALL_TIMEOUT_S   60   /* below 1 byte/s for this long: give up */
#define EMIT_MAX          4000 /* below PIPE_BUF: one atomic write */

static int status_fd = -1;

/* Where a download goes; max_bytes is also enforced while it arrives (curl
 * before 8.4 checks CURLOPT_MAXFILESIZE against Content-Length only). */
typedef struct sink {
	FILE *out;
	long long max_bytes, got; /* max_bytes 0: no cap */
	int write_errno;          /* why writing the file failed (ENOSPC) */
} sink;

static size_t write_cb(char *data, size_t size, size_t n, void *arg)
{
	sink *s = arg;
	s->got += (long long)(size * n);
	if (s->max_bytes > 0 && s->got > s->max_bytes)
		return 0; /* curl stops with CURLE_WRITE_ERROR */
	size_t done = fwrite(data, size, n, s->out);
	if (done < n) /* curl stops with CURLE_WRITE_ERROR */
		s->write_errno = errno ? errno : EIO;
	return done * size;
}

static CURLcode download(const char *url, sink *out, long *http_status,
                         char *err)
{
	CURL *curl = curl_easy_init();
	long long max_bytes = out->max_bytes;
	CURLcode rc;

	if (!curl)
		return CURLE_FAILED_INIT;
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
	curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
	curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, (long)STALL_TIMEOUT_S);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, err);
	if (max_bytes > 0)
		curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE,
		                 (curl_off_t)max_bytes);
	rc = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, http_status);
	curl_easy_cleanup(curl);
	return rc;
}

/* The S3 configuration, or NULL with OSError set. */
static int s3_config(glia_s3_config *c)
{
	char err[512];

	if (glia_s3_config_load(c, err, sizeof err) == 0)
		return 0;
	PyErr_Format(PyExc_OSError, "S3 configuration: %s", err);
	return -1;
}

static PyObject *s3_fetch(const char *url, const char *dest,
                          long long max_bytes)
{
	glia_s3_config c;
	char err[1024];
	int rc, too_big = 0, closed;
	FILE *out;

	if (s3_config(&c) < 0)
		return NULL;
	out = fopen(dest, "wbe");
	if (!out) {
		glia_s3_config_free(&c);
		return PyErr_SetFromErrnoWithFilename(PyExc_OSError, dest);
	}
	Py_BEGIN_ALLOW_THREADS rc =
	    glia_s3_get(&c, url, out, max_bytes, &too_big, err, sizeof err);
	closed = fclose(out);
	Py_END_ALLOW_THREADS glia_s3_config_free(&c);
	if (too_big) {
		PyErr_Format(PyExc_OSError,
		             "cannot download %s: larger than %lld bytes "
		             "(GLIA_MODEL_MAX_DOWNLOAD_BYTES)",
		             url, max_bytes);
		return NULL;
	}
	if (rc < 0) {
		PyErr_SetString(PyExc_OSError, err);
		return NULL;
	}
	if (closed != 0)
		return PyErr_SetFromErrnoWithFilename(PyExc_OSError, dest);
	return PyLong_FromLong(200);
}

static PyObject *native_s3_list(PyObject *self, PyObject *args)
{
	const char *url;
	Py_ssize_t max_keys = 0;
	int page_keys = 0;
	glia_s3_config c;
	glia_s3_list l;
	char err[1024];
	int rc;

	if (!PyArg_ParseTuple(args, "s|ni", &url, &max_keys, &page_keys))
		return NULL;
	if (max_keys < 0 || max_keys > GLIA_S3_MAX_KEYS || page_keys < 0 ||
	    page_keys > 1000)
		return PyErr_Format(PyExc_ValueError,
		                    "max_keys: 0 to %d, page_keys: 0 to 1000",
		                    GLIA_S3_MAX_KEYS);
	if (s3_config(&c) < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS rc =
	    glia_s3_list_prefix(&c, url, (size_t)max_keys, page_keys, &l, err,
	                        sizeof err);
	Py_END_ALLOW_THREADS glia_s3_config_free(&c);
	if (rc < 0) {
		PyErr_SetString(PyExc_OSError, err);
		return NULL;
	}
	PyObject *out = PyList_New((Py_ssize_t)l.n);
	for (size_t i = 0; out && i < l.n; i++) {
		glia_s3_object *o = &l.items[i];
		PyObject *t = Py_BuildValue("(sLsL)", o->key, o->size, o->etag,
		                            (long long)o->last_modified);
		if (!t) {
			Py_CLEAR(out);
			break;
		}
		PyList_SET_ITEM(out, (Py_ssize_t)i, t);
	}
	glia_s3_list_free(&l);
	return out;
}

static PyObject *native_s3_head(PyObject *self, PyObject *args)
{
	const char *url;
	glia_s3_config c;
	long long size = 0;
	char *etag = NULL, err[1024];
	int64_t mtime = 0;
	int rc;

	if (!PyArg_ParseTuple(args, "s", &url))
		return NULL;
	if (s3_config(&c) < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS rc =
	    glia_s3_head(&c, url, &size, &etag, &mtime, err, sizeof err);
	Py_END_ALLOW_THREADS glia_s3_config_free(&c);
	if (rc < 0) {
		PyErr_SetString(PyExc_OSError, err);
		return NULL;
	}
	if (rc == 0)
		Py_RETURN_NONE;
	PyObject *t = Py_BuildValue("(LsL)", size, etag, (long long)mtime);
	free(etag);
	return t;
}

static PyObject *native_fetch(PyObject *self, PyObject *args)
{
	const char *url, *dest;
	long long max_bytes = 0;
	char err[CURL_ERROR_SIZE] = "";
	long http_status = 0;
	CURLcode rc;
	sink out = {NULL, 0, 0, 0};
	int closed;

	if (!PyArg_ParseTuple(args, "ss|L", &url, &dest, &max_bytes))
		return NULL;
	if (glia_s3_is_url(url))
		return s3_fetch(url, dest, max_bytes);
	out.max_bytes = max_bytes;
	out.out = fopen(dest, "wbe");
	if (!out.out)
		return PyErr_SetFromErrnoWithFilename(PyExc_OSError, dest);
	Py_BEGIN_ALLOW_THREADS rc = download(url, &out, &http_status, err);
	closed = fclose(out.out);
	Py_END_ALLOW_THREADS if (rc == CURLE_FILESIZE_EXCEEDED ||
	                         (max_bytes > 0 && out.got > max_bytes))
	{
		PyErr_Format(PyExc_OSError,
		             "cannot download %s: larger than %lld bytes "
		             "(GLIA_MODEL_MAX_DOWNLOAD_BYTES)",
		             url, max_bytes);
		return NULL;
	}
	if (rc == CURLE_WRITE_ERROR && out.write_errno) {
		PyErr_Format(PyExc_OSError, "cannot download %s: cannot write "
		                            "%s: %s",
		             url, dest, strerror(out.write_errno));
		return NULL;
	}
	if (rc != CURLE_OK) {
		PyErr_Format(PyExc_OSError, "cannot download %s: %s", url,
		             err[0] ? err : curl_easy_strerror(rc));
		return NULL;
	}
	if (closed != 0)
		return PyErr_SetFromErrnoWithFilename(PyExc_OSError, dest);
	return PyLong_FromLong(http_status);
}

static PyObject *native_malloc_trim(PyObject *self, PyObject *unused)
{
	int released;

	Py_BEGIN_ALLOW_THREADS released = malloc_trim(0);
	Py_END_ALLOW_THREADS return PyBool_FromLong(released);
}

static PyObject *native_emit(PyObject *self, PyObject *arg)
{
	char line[EMIT_MAX + 1];
	Py_ssize_t n;
	const char *s = PyUnicode_AsUTF8AndSize(arg, &n);

	if (!s)
		return NULL;
	if (status_fd < 0 || n <= 0 || n >= EMIT_MAX || memchr(s, '\n', n))
		Py_RETURN_FALSE;
	memcpy(line, s, (size_t)n);
	line[n] = '\n';
	/* a full pipe (daemon busy) drops the line instead of blocking */
	if (write(status_fd, line, (size_t)n + 1) != n + 1)
		Py_RETURN_FALSE;
	Py_RETURN_TRUE;
}

static PyMethodDef native_methods[] = {
    {"fetch", native_fetch, METH_VARARGS,
     "fetch(url, dest, max_bytes=0) -> HTTP status: download url to dest"},
    {"s3_list", native_s3_list, METH_VARARGS,
     "s3_list(url, max_keys=0, page_keys=0) -> [(key, size, etag, mtime)] "
     "under a prefix"},
    {"s3_head", native_s3_head, METH_VARARGS,
     "s3_head(url) -> (size, etag, mtime), or None without the object"},
    {"malloc_trim", native_malloc_trim, METH_NOARGS,
     "Give free heap memory back to the system."},
    {"emit", native_emit, METH_O,
     "emit(line) -> bool: send one metrics line to the glia daemon"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT,
    "_glia_native",
    "What the glia worker does in C for its Python runtime.",
    -1,
    native_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

static PyObject *init_native(void)
{
	return PyModule_Create(&native_module);
}

int glia_pynative_register(int fd)
{
	status_fd = fd;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	return PyImport_AppendInittab("_glia_native", init_native);
}
