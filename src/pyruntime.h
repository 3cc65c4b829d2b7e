/* pyruntime.h: the deploy-time check that a tensorflow or onnx predictor's
 * Python runtime can be imported (issue 14 item 8, docs/predictors.md
 * "TensorFlow and ONNX"). */
#ifndef GLIA_PYRUNTIME_H
#define GLIA_PYRUNTIME_H

#include <stddef.h>

#include "config.h"

/* The Python package a predictor type needs ("tensorflow",
 * "onnxruntime"), or NULL for the types that need none. */
const char *glia_pyruntime_package(glia_predictor_type t);

/* For every API of specs whose type needs a package, runs
 * GLIA_PYRUNTIME_PYTHON once per (package, search directory) to ask
 * whether it can import the package from the project directory (and
 * predictor.python_path) or its installed packages; the package is found,
 * not imported. 0 when all can, else -1 with one line in err naming the
 * API, the type and what to install. Blocks for the interpreter's start
 * (a few tens of milliseconds; at most GLIA_PYRUNTIME_TIMEOUT_MS). */
#define GLIA_PYRUNTIME_PYTHON     "/usr/bin/python3"
#define GLIA_PYRUNTIME_TIMEOUT_MS 10000
int glia_pyruntime_check(const glia_api_spec *specs, size_t n,
                         const char *project_dir, char *err, size_t errlen);

#endif
