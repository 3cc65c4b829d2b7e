/* discover.h: where a gateway without a local supervisor (`glia gateway`)
 * finds each API's replicas (docs/containers.md, "How discovery works").
 *
 *   dns:{api}-replicas:8080        every A/AAAA record of the name (with
 *                                  {api} replaced) is one replica, on that
 *                                  port; resolved again every second
 *   static:API=HOST:PORT,...       fixed replicas (HOST may be a name, also
 *                                  resolved every second)
 *
 * New addresses become backends of the API's route at once; vanished ones
 * are drained (their requests in flight finish) and dropped; a broken
 * backend (a connection to it failed) that the source still lists is tried
 * again. The local supervisor is the third source (supervisor.h). */
#ifndef GLIA_DISCOVER_H
#define GLIA_DISCOVER_H

#include <stddef.h>
#include <uv.h>

#include "gateway.h"

typedef enum { GLIA_DISCOVER_DNS, GLIA_DISCOVER_STATIC } glia_discover_kind;

typedef struct glia_discover_host {
	char *api;  /* static: the API it serves */
	char *host; /* name or address */
	int port;
} glia_discover_host;

typedef struct glia_discover_spec {
	glia_discover_kind kind;
	char *name_template;       /* dns: "{api}-replicas" */
	int port;                  /* dns */
	glia_discover_host *hosts; /* static */
	size_t n_hosts;
	/* GET this path to see whether a replica that failed serves again
	 * (2xx); NULL: /healthz (glia worker's front); "": a connect. Not
	 * owned: set per API (a Cortex pod: its readiness probe's path). */
	const char *health_path;
} glia_discover_spec;

/* Parses a --discover value. 0, or -1 with err filled. Pure. */
int glia_discover_parse(const char *text, glia_discover_spec *out, char *err,
                        size_t errlen);
void glia_discover_spec_free(glia_discover_spec *s);
/* The host names api's replicas are found under (dns: the template with
 * {api} replaced; static: the hosts listed for api), as a malloc'd array
 * of n malloc'd strings, and their ports. Pure. */
size_t glia_discover_hosts(const glia_discover_spec *s, const char *api,
                           char ***names, int **ports);

typedef struct glia_discover glia_discover;

/* Starts finding api's replicas for route r; each takes `slots` requests
 * at once. Resolves now and every interval_ms. */
glia_discover *glia_discover_start(uv_loop_t *loop,
                                   const glia_discover_spec *spec,
                                   glia_route *r, const char *api, int slots,
                                   unsigned interval_ms);
/* Replicas known now (not draining). */
int glia_discover_count(const glia_discover *d);
/* Stops resolving and drops every backend (after their requests). */
void glia_discover_stop(glia_discover *d);

#endif
