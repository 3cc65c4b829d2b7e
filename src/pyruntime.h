/* pyruntime.h: the deploy-time check that a tensorflow or onnx predictor's
 * Python runtime can be imported (issue 14 item 8, docs/predictors.md
 * "TensorFlow and ONNX"). The check runs the interpreter as a child of the
 * daemon's loop (uv_spawn, reaped by libuv): serving never waits for it
 * (issue 13 item 7). */
#ifndef GLIA_PYRUNTIME_H
#define GLIA_PYRUNTIME_H

#include <stddef.h>
#include <uv.h>

#include "config.h"

/* The Python package a predictor type needs ("tensorflow",
 * "onnxruntime"), or NULL for the types that need none. */
const char *glia_pyruntime_package(glia_predictor_type t);

/* The interpreter asked: GLIA_PYRUNTIME_PYTHON, or, for tests only, the
 * daemon's environment variable of the same name when set and not empty
 * (e.g. a script that waits, then execs /usr/bin/python3). */
#define GLIA_PYRUNTIME_PYTHON     "/usr/bin/python3"
#define GLIA_PYRUNTIME_TIMEOUT_MS 10000 /* per interpreter; then SIGKILL */
const char *glia_pyruntime_python(void);

/* Called once when a check ends: err NULL when every package can be
 * found, else one line naming the API, the type and what to install
 * (valid during the call). */
typedef void (*glia_pyruntime_done_cb)(const char *err, void *arg);
typedef struct glia_pyruntime_check glia_pyruntime_check;

/* For every API of specs whose type needs a package, runs the interpreter
 * (-E, stdio on /dev/null) once per (package, search directory), one
 * after the other, to ask whether it can find the package from the
 * project directory (and predictor.python_path) or its installed
 * packages; the package is found, not imported. NULL when no API needs a
 * package (nothing to wait for: cb is never called). Else the check,
 * whose cb is called later from the loop, never from within this call;
 * specs must stay valid until then (or until the check is cancelled). */
glia_pyruntime_check *glia_pyruntime_check_start(uv_loop_t *loop,
                                                 const glia_api_spec *specs,
                                                 size_t n,
                                                 const char *project_dir,
                                                 glia_pyruntime_done_cb cb,
                                                 void *arg);
/* Before cb: cb is not called, the interpreter is killed, the check is
 * freed once libuv has closed its handles. */
void glia_pyruntime_check_cancel(glia_pyruntime_check *k);

#endif
