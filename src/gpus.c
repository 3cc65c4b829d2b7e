/* gpus.c: see gpus.h. */
#include "gpus.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define GPUS_MAX 64

static void add(glia_gpus *g, const char *name, size_t len)
{
	g->names[g->n] = glia_strndup(name, len);
	g->n++;
}

static int parse_list(glia_gpus *g, const char *list, char *err, size_t errlen)
{
	const char *p = list;

	if (strcmp(list, "none") == 0 || !*list)
		return 0;
	for (;;) {
		size_t len = strcspn(p, ",");
		if (len == 0 || strspn(p, " ") == len) {
			snprintf(err, errlen, "empty GPU name in \"%s\"", list);
			return -1;
		}
		if (g->n == GPUS_MAX) {
			snprintf(err, errlen, "more than %d GPUs", GPUS_MAX);
			return -1;
		}
		add(g, p, len);
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

/* One GPU per /dev/nvidia<N>, named N, in order. */
static void detect(glia_gpus *g)
{
	int seen[GPUS_MAX] = {0};
	DIR *d = opendir("/dev");
	struct dirent *e;
	char name[16];

	while (d && (e = readdir(d)) != NULL) {
		char *end;
		if (strncmp(e->d_name, "nvidia", 6) != 0 || !e->d_name[6])
			continue;
		long i = strtol(e->d_name + 6, &end, 10);
		if (!*end && i >= 0 && i < GPUS_MAX)
			seen[i] = 1;
	}
	if (d)
		closedir(d);
	for (int i = 0; i < GPUS_MAX; i++) {
		if (!seen[i])
			continue;
		snprintf(name, sizeof name, "%d", i);
		add(g, name, strlen(name));
	}
}

int glia_gpus_init(glia_gpus *g, const char *list, char *err, size_t errlen)
{
	memset(g, 0, sizeof(*g));
	g->names = glia_calloc(GPUS_MAX, sizeof(*g->names));
	g->owner = glia_calloc(GPUS_MAX, sizeof(*g->owner));
	if (!list)
		list = getenv("CUDA_VISIBLE_DEVICES");
	if (list)
		return parse_list(g, list, err, errlen);
	detect(g);
	return 0;
}

void glia_gpus_free(glia_gpus *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->names[i]);
	free(g->names);
	free(g->owner);
	memset(g, 0, sizeof(*g));
}

size_t glia_gpus_held(const glia_gpus *g, const void *owner)
{
	size_t n = 0;
	for (size_t i = 0; i < g->n; i++)
		n += g->owner[i] == owner;
	return n;
}

size_t glia_gpus_free_count(const glia_gpus *g)
{
	return glia_gpus_held(g, NULL);
}

int glia_gpus_take(glia_gpus *g, const void *owner, int n)
{
	if (n <= 0)
		return 0;
	if (glia_gpus_free_count(g) < (size_t)n)
		return -1;
	for (size_t i = 0; i < g->n && n > 0; i++) {
		if (!g->owner[i]) {
			g->owner[i] = owner;
			n--;
		}
	}
	return 0;
}

void glia_gpus_release(glia_gpus *g, const void *owner)
{
	for (size_t i = 0; i < g->n; i++)
		if (g->owner[i] == owner)
			g->owner[i] = NULL;
}

char *glia_gpus_visible(const glia_gpus *g, const void *owner)
{
	glia_buf b;

	glia_buf_init(&b, 0);
	glia_buf_puts(&b, "");
	for (size_t i = 0; i < g->n; i++) {
		if (g->owner[i] != owner)
			continue;
		if (b.len)
			glia_buf_puts(&b, ",");
		glia_buf_puts(&b, g->names[i]);
	}
	char *out = glia_strdup(b.data ? b.data : "");
	glia_buf_free(&b);
	return out;
}
