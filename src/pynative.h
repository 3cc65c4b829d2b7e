/* pynative.h: `_glia_native`, the built-in module through which the worker
 * runtime (python/glia/_models.py, _runtime.py) reaches what C does
 * better: downloading model files with libcurl, giving freed memory back
 * to the system (malloc_trim), and writing metrics lines to the daemon's
 * status pipe. */
#ifndef GLIA_PYNATIVE_H
#define GLIA_PYNATIVE_H

/* Adds the module to the interpreter's built-ins; call before CPython is
 * initialized, once. status_fd: where emit() writes (-1: nowhere). */
int glia_pynative_register(int status_fd);

#endif
