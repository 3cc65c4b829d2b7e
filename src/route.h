/* route.h: endpoint routing. Maps endpoint prefixes ("/iris") to targets;
 * a request path matches the longest endpoint that equals it or is followed
 * by '/'. Pure: no I/O. */
#ifndef GLIA_ROUTE_H
#define GLIA_ROUTE_H

#include <stddef.h>

typedef struct glia_router glia_router;

glia_router *glia_router_new(void);
void glia_router_free(glia_router *r);
/* endpoint must start with '/', and must not end with '/' unless it is "/".
 * Returns 0, or -1 when the endpoint is already taken or malformed. */
int glia_router_add(glia_router *r, const char *endpoint, void *target);
/* Returns 0, or -1 when not present. */
int glia_router_remove(glia_router *r, const char *endpoint);
/* Finds the target for a path (no query string). On a match, *rest (when
 * rest is not NULL) points into path at the remainder: "" or "/more/parts".
 * NULL when nothing matches. */
void *glia_router_match(const glia_router *r, const char *path, size_t len,
			const char **rest);
size_t glia_router_count(const glia_router *r);

#endif
