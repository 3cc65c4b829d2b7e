/* route.c: see route.h. Endpoints live in an array sorted by name. A lookup
 * tries the path itself, then the path cut at each '/' from the right, then
 * "/": the first hit is the longest endpoint on a segment boundary, found
 * with one binary search per path segment and no allocation. */
#include "route.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

typedef struct route {
	char *endpoint;
	size_t len;
	void *target;
} route;

struct glia_router {
	route *routes; /* sorted by (bytes, length) */
	size_t n, cap;
};

glia_router *glia_router_new(void)
{
	return glia_calloc(1, sizeof(glia_router));
}

void glia_router_free(glia_router *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		free(r->routes[i].endpoint);
	free(r->routes);
	free(r);
}

/* Byte order, a prefix before its extensions: the same order as strcmp. */
static int compare(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c)
		return c;
	return (alen > blen) - (alen < blen);
}

/* Index of key if present (*found set), else where it would be inserted. */
static size_t search(const glia_router *r, const char *key, size_t len,
                     int *found)
{
	size_t lo = 0, hi = r->n;

	*found = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = compare(key, len, r->routes[mid].endpoint,
		                r->routes[mid].len);
		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* "/" or "/seg/seg": no empty segment, no trailing '/', no byte that
 * cannot appear in a request path as received ('?', '#', space, controls). */
static int valid_endpoint(const char *e)
{
	size_t n = strlen(e);

	if (n == 0 || e[0] != '/')
		return 0;
	if (n == 1)
		return 1;
	if (e[n - 1] == '/')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)e[i];
		if (c <= 0x20 || c == 0x7f || c == '?' || c == '#')
			return 0;
		if (c == '/' && e[i + 1] == '/')
			return 0;
	}
	return 1;
}

int glia_router_add(glia_router *r, const char *endpoint, void *target)
{
	int found;

	if (!valid_endpoint(endpoint))
		return -1;
	size_t len = strlen(endpoint);
	size_t at = search(r, endpoint, len, &found);
	if (found)
		return -1;
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 16;
		r->routes = glia_realloc(r->routes, r->cap * sizeof(route));
	}
	memmove(&r->routes[at + 1], &r->routes[at],
	        (r->n - at) * sizeof(route));
	r->routes[at].endpoint = glia_strndup(endpoint, len);
	r->routes[at].len = len;
	r->routes[at].target = target;
	r->n++;
	return 0;
}

int glia_router_remove(glia_router *r, const char *endpoint)
{
	int found;
	size_t at = search(r, endpoint, strlen(endpoint), &found);

	if (!found)
		return -1;
	free(r->routes[at].endpoint);
	r->n--;
	memmove(&r->routes[at], &r->routes[at + 1],
	        (r->n - at) * sizeof(route));
	return 0;
}

/* Tries path[0..len) as an endpoint. */
static void *lookup(const glia_router *r, const char *path, size_t len)
{
	int found;
	size_t at = search(r, path, len, &found);

	return found ? r->routes[at].target : NULL;
}

void *glia_router_match(const glia_router *r, const char *path, size_t len,
                        const char **rest)
{
	void *t;

	if (len == 0 || path[0] != '/')
		return NULL;
	/* Candidates, longest first: the whole path (less a trailing '/',
	 * which no endpoint but "/" has), then each prefix before a '/';
	 * "/" itself is the root, tried last. */
	size_t n = len;
	if (path[n - 1] == '/')
		n--;
	while (n > 1) {
		t = lookup(r, path, n);
		if (t) {
			if (rest)
				*rest = path + n;
			return t;
		}
		do
			n--;
		while (n > 0 && path[n] != '/');
	}
	t = lookup(r, "/", 1);
	if (t && rest)
		*rest = len == 1 ? path + 1 : path;
	return t;
}

size_t glia_router_count(const glia_router *r)
{
	return r->n;
}
