/* probe.h: readiness probes for `type: command` replicas: a TCP connect to
 * 127.0.0.1:port, or an HTTP GET of a path answered with 2xx. One attempt
 * per call; the supervisor repeats them on a timer. */
#ifndef GLIA_PROBE_H
#define GLIA_PROBE_H

#include <uv.h>

/* ok: 1 when the server is ready. */
typedef void (*glia_probe_cb)(void *arg, int ok);

typedef struct glia_probe glia_probe;

/* Starts one attempt; cb runs exactly once unless glia_probe_cancel is
 * called first. path NULL: TCP connect only. timeout_ms bounds the try. */
glia_probe *glia_probe_start(uv_loop_t *loop, int port, const char *path,
			     unsigned timeout_ms, glia_probe_cb cb, void *arg);
/* Abandons an attempt: cb will not run. */
void glia_probe_cancel(glia_probe *p);

/* A free TCP port on 127.0.0.1 (bound then released), or -1. */
int glia_free_port(void);

#endif
