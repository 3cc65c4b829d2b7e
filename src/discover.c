/* discover.c: see discover.h. Each API has a timer; each tick starts one
 * uv_getaddrinfo per host (on libuv's thread pool: the loop never waits
 * for DNS); when the last answer of a round is in, the set of addresses
 * is compared with the backends: new ones are added, missing ones
 * drained, broken ones still listed probed at once (a probe that
 * answers brings them back: upstream.c). A round in which a lookup
 * failed for a reason other than "no such name" removes nothing. */
#include "discover.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "util.h"

#define MAX_ADDRS 1024 /* replicas of one API */

typedef struct known {
	struct known *next;
	glia_backend *b;
	struct sockaddr_storage addr;
	char name[64];
	int seen; /* in this round's answers */
} known;

typedef struct lookup {
	uv_getaddrinfo_t req;
	glia_discover *d;
	int port;
} lookup;

struct glia_discover {
	uv_loop_t *loop;
	glia_route *route;
	char *api;
	char **names;
	int *ports;
	size_t n_names;
	int slots;
	char *health_path; /* see glia_discover_spec */
	uv_timer_t timer;
	known *backends;
	int pending;     /* lookups of this round still out */
	int round_error; /* a lookup failed transiently */
	int stopped;
	int timer_closed;
};

/* ---- parsing ---------------------------------------------------------- */

static int parse_host_port(const char *s, size_t len, char **host, int *port)
{
	char buf[300];
	if (len >= sizeof buf)
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	char h[256];
	if (glia_parse_listen(buf, h, sizeof h, port) < 0 || !*h || *port == 0)
		return -1;
	*host = glia_strdup(h);
	return 0;
}

static int parse_static(const char *p, glia_discover_spec *out, char *err,
                        size_t errlen)
{
	while (*p) {
		size_t len = strcspn(p, ",");
		const char *eq = memchr(p, '=', len);
		glia_discover_host h = {0};
		if (!eq || eq == p ||
		    parse_host_port(eq + 1, len - (size_t)(eq + 1 - p), &h.host,
		                    &h.port) < 0) {
			snprintf(err, errlen,
			         "static discovery takes API=HOST:PORT,...; "
			         "got \"%.*s\"",
			         (int)len, p);
			return -1;
		}
		h.api = glia_strndup(p, (size_t)(eq - p));
		out->hosts = glia_realloc(out->hosts, (out->n_hosts + 1) *
		                                          sizeof *out->hosts);
		out->hosts[out->n_hosts++] = h;
		p += len;
		if (*p == ',')
			p++;
	}
	if (!out->n_hosts) {
		snprintf(err, errlen, "static discovery lists no replica");
		return -1;
	}
	return 0;
}

int glia_discover_parse(const char *text, glia_discover_spec *out, char *err,
                        size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (strncmp(text, "static:", 7) == 0) {
		out->kind = GLIA_DISCOVER_STATIC;
		if (parse_static(text + 7, out, err, errlen) == 0)
			return 0;
		glia_discover_spec_free(out);
		return -1;
	}
	if (strncmp(text, "dns:", 4) == 0) {
		const char *t = text + 4;
		const char *colon = strrchr(t, ':');
		char *host = NULL;
		if (colon && !strchr(t, '[') &&
		    parse_host_port(t, strlen(t), &host, &out->port) == 0) {
			out->kind = GLIA_DISCOVER_DNS;
			out->name_template = host;
			return 0;
		}
		snprintf(err, errlen,
		         "dns discovery takes a name and a port, like "
		         "dns:{api}-replicas:8080; got \"%s\"",
		         text);
		return -1;
	}
	snprintf(err, errlen,
	         "--discover takes dns:NAME:PORT ({api} stands for the API's "
	         "name) or static:API=HOST:PORT,...; got \"%s\"",
	         text);
	return -1;
}

void glia_discover_spec_free(glia_discover_spec *s)
{
	free(s->name_template);
	for (size_t i = 0; i < s->n_hosts; i++) {
		free(s->hosts[i].api);
		free(s->hosts[i].host);
	}
	free(s->hosts);
	memset(s, 0, sizeof *s);
}

/* The template with every "{api}" replaced by api. */
static char *expand(const char *tmpl, const char *api)
{
	glia_buf b;
	glia_buf_init(&b, 0);
	for (const char *p = tmpl; *p;) {
		if (strncmp(p, "{api}", 5) == 0) {
			glia_buf_puts(&b, api);
			p += 5;
		} else {
			glia_buf_append(&b, p++, 1);
		}
	}
	glia_buf_append(&b, "", 1);
	return b.data;
}

size_t glia_discover_hosts(const glia_discover_spec *s, const char *api,
                           char ***names, int **ports)
{
	size_t n = 0;
	*names = glia_calloc(s->n_hosts + 1, sizeof **names);
	*ports = glia_calloc(s->n_hosts + 1, sizeof **ports);
	if (s->kind == GLIA_DISCOVER_DNS) {
		(*names)[0] = expand(s->name_template, api);
		(*ports)[0] = s->port;
		return 1;
	}
	for (size_t i = 0; i < s->n_hosts; i++) {
		if (strcmp(s->hosts[i].api, api) != 0)
			continue;
		(*names)[n] = glia_strdup(s->hosts[i].host);
		(*ports)[n++] = s->hosts[i].port;
	}
	return n;
}

/* ---- the backends of one API ----------------------------------------- */

static void drained(void *arg)
{
	glia_backend *b = arg;
	glia_backend_free(b);
}

static known *find(glia_discover *d, const char *name)
{
	for (known *k = d->backends; k; k = k->next)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

static void add_address(glia_discover *d, const struct sockaddr *sa)
{
	char name[64];
	glia_sockaddr_text(sa, name, sizeof name);
	known *k = find(d, name);
	if (k) {
		k->seen = 1;
		if (glia_backend_broken(k->b))
			glia_backend_revive(k->b);
		return;
	}
	k = glia_calloc(1, sizeof *k);
	memcpy(&k->addr, sa,
	       sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
	                                 : sizeof(struct sockaddr_in));
	snprintf(k->name, sizeof k->name, "%s", name);
	k->seen = 1;
	k->next = d->backends;
	d->backends = k;
	glia_log(GLIA_LOG_INFO, "api %s: replica %s found", d->api, name);
	k->b = glia_backend_new_addr(d->route, sa, d->slots);
	/* a replica's front (glia worker --api) says 200 once it serves;
	 * a Cortex pod's server, at its readiness path */
	glia_backend_set_health_path(k->b, d->health_path);
}

static void drop(glia_discover *d, known *k, const char *why)
{
	if (why)
		glia_log(GLIA_LOG_INFO, "api %s: replica %s %s", d->api,
		         k->name, why);
	glia_backend_drain(k->b, drained, k->b);
	free(k);
}

/* The round is over: backends not seen go (unless a lookup failed). */
static void round_done(glia_discover *d)
{
	known **pp = &d->backends;
	int n = 0;
	while (*pp) {
		known *k = *pp;
		if (!k->seen && !d->round_error) {
			*pp = k->next;
			drop(d, k, "gone");
			continue;
		}
		n += !glia_backend_broken(k->b);
		pp = &k->next;
	}
	glia_route_set_ready_replicas(d->route, n);
}

static void resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	lookup *l = req->data;
	glia_discover *d = l->d;
	if (status == UV_EAI_NONAME || status == UV_EAI_NODATA) {
		/* no replica under that name now (scaled to zero) */
	} else if (status < 0) {
		d->round_error = 1;
	}
	int count = 0;
	for (struct addrinfo *ai = res; ai && !d->stopped && count < MAX_ADDRS;
	     ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		struct sockaddr_storage ss;
		memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
		((struct sockaddr_in *)&ss)->sin_port =
		    htons((uint16_t)l->port);
		add_address(d, (struct sockaddr *)&ss);
		count++;
	}
	uv_freeaddrinfo(res);
	free(l);
	if (--d->pending == 0) {
		if (d->timer_closed)
			free(d);
		else if (!d->stopped)
			round_done(d);
	}
}

static void tick(uv_timer_t *t)
{
	glia_discover *d = t->data;
	if (d->pending)
		return; /* the last round is still resolving */
	for (known *k = d->backends; k; k = k->next)
		k->seen = 0;
	d->round_error = 0;
	struct addrinfo hints;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	d->pending = (int)d->n_names + 1; /* +1: held while starting */
	for (size_t i = 0; i < d->n_names; i++) {
		lookup *l = glia_calloc(1, sizeof *l);
		l->d = d;
		l->port = d->ports[i];
		l->req.data = l;
		if (uv_getaddrinfo(d->loop, &l->req, resolved, d->names[i],
		                   NULL, &hints) < 0) {
			free(l);
			d->round_error = 1;
			d->pending--;
		}
	}
	if (--d->pending == 0)
		round_done(d);
}

glia_discover *glia_discover_start(uv_loop_t *loop,
                                   const glia_discover_spec *spec,
                                   glia_route *r, const char *api, int slots,
                                   unsigned interval_ms)
{
	glia_discover *d = glia_calloc(1, sizeof *d);
	d->loop = loop;
	d->route = r;
	d->api = glia_strdup(api);
	d->slots = slots;
	d->health_path =
	    glia_strdup(spec->health_path ? spec->health_path : "/healthz");
	d->n_names = glia_discover_hosts(spec, api, &d->names, &d->ports);
	uv_timer_init(loop, &d->timer);
	d->timer.data = d;
	uv_timer_start(&d->timer, tick, 0, interval_ms);
	return d;
}

int glia_discover_count(const glia_discover *d)
{
	int n = 0;
	for (const known *k = d->backends; k; k = k->next)
		n++;
	return n;
}

static void timer_closed(uv_handle_t *h)
{
	glia_discover *d = h->data;
	d->timer_closed = 1;
	if (d->pending == 0)
		free(d);
}

void glia_discover_stop(glia_discover *d)
{
	d->stopped = 1;
	while (d->backends) {
		known *k = d->backends;
		d->backends = k->next;
		drop(d, k, NULL);
	}
	for (size_t i = 0; i < d->n_names; i++)
		free(d->names[i]);
	free(d->names);
	free(d->ports);
	free(d->health_path);
	free(d->api);
	d->names = NULL;
	d->api = NULL;
	uv_close((uv_handle_t *)&d->timer, timer_closed);
}
