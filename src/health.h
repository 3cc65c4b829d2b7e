/* health.h: the schedule of a backend that failed (a replica whose
 * connection was refused, vanished, or was reset with a request on it).
 * The gateway sends it nothing and probes it again with backoff
 * (upstream.c); the supervisor restarts a replica whose backend stays
 * unreachable (supervisor.c). Pure functions: tests/unit/test_health.c. */
#ifndef GLIA_HEALTH_H
#define GLIA_HEALTH_H

#define GLIA_PROBE_FIRST_MS 100  /* first probe after the failure */
#define GLIA_PROBE_MAX_MS 2000   /* the delay doubles up to this */
#define GLIA_PROBE_TIMEOUT_MS 2000 /* one probe: connect (+ GET) */
#define GLIA_UNREACHABLE_PROBES 3  /* restart after this many failed */
#define GLIA_UNREACHABLE_S 5.0     /* probes and this long down */

/* Milliseconds before the next probe of a backend whose last `failed`
 * probes failed (0 right after it went down): 100, 200, 400, ... 2000. */
unsigned glia_probe_delay_ms(int failed);

/* 1 when a replica should be restarted: its backend has been down for
 * down_s seconds and its last failed_probes probes (consecutive) failed. */
int glia_unreachable_restart(int failed_probes, double down_s);

#endif
