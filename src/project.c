/* project.c: see project.h. */
#include "project.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define PROJECT_FILE_MAX ((size_t)4 << 20)

/* The YAML file arg names (malloc'd), or NULL with err filled. */
static char *find_file(const char *arg, char *err, size_t errlen)
{
	static const char *const names[] = {"glia.yaml", "cortex.yaml"};
	struct stat st;
	const char *dir = arg ? arg : ".";
	if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode))
		return glia_strdup(dir);
	if (arg && stat(dir, &st) != 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return NULL;
	}
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		char *path = glia_sprintf("%s/%s", dir, names[i]);
		if (access(path, F_OK) == 0)
			return path;
		free(path);
	}
	snprintf(err, errlen, "no glia.yaml or cortex.yaml in %s", dir);
	return NULL;
}

int glia_project_load(const char *arg, int check_files, glia_project *p,
                      char *err, size_t errlen)
{
	memset(p, 0, sizeof *p);
	char *file = find_file(arg, err, errlen);
	if (!file)
		return -1;
	p->file = realpath(file, NULL);
	if (!p->file) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		free(file);
		return -1;
	}
	free(file);
	p->dir = glia_strdup(p->file);
	*strrchr(p->dir, '/') = '\0';
	if (!*p->dir)
		strcpy(p->dir, "/");
	size_t len;
	char *text = glia_read_file(p->file, PROJECT_FILE_MAX, &len);
	if (!text) {
		snprintf(err, errlen, "%s: %s", p->file,
		         errno == EFBIG ? "larger than 4 MiB"
		                        : strerror(errno));
		glia_project_free(p);
		return -1;
	}
	glia_config_error cerr;
	int rc =
	    glia_config_parse(text, len, p->file, check_files ? p->dir : NULL,
	                      &p->specs, &p->n, &cerr);
	free(text);
	if (rc < 0) {
		snprintf(err, errlen, "%s", cerr.message);
		glia_project_free(p);
		return -1;
	}
	return 0;
}

void glia_project_free(glia_project *p)
{
	if (p->specs)
		glia_api_specs_free(p->specs, p->n);
	free(p->file);
	free(p->dir);
	memset(p, 0, sizeof *p);
}

glia_api_spec *glia_project_api(glia_project *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->specs[i].name, name) == 0)
			return &p->specs[i];
	return NULL;
}

/* The value of option argv[*i], advancing *i; NULL when there is none. */
static const char *value_of(int argc, char **argv, int *i)
{
	return *i + 1 < argc ? argv[++*i] : NULL;
}

/* --max-buffered-bytes SIZE: request bytes all client connections may
 * hold at once. */
static int max_buffered_arg(const char *v, glia_httpd_conn_limits *l,
                            char *err, size_t errlen)
{
	int64_t n;
	if (v && glia_parse_mem_bytes(v, &n) == 0 && n > 0) {
		l->max_buffered = (size_t)n;
		return GLIA_ARG_TAKEN;
	}
	snprintf(err, errlen,
	         "--max-buffered-bytes takes a size like 1Gi, got \"%s\"",
	         v ? v : "");
	return GLIA_ARG_BAD;
}

int glia_client_limit_arg(const char *opt, const char *v,
                          glia_httpd_conn_limits *l, char *err, size_t errlen)
{
	uint64_t *ms = NULL;
	int64_t n;
	if (strcmp(opt, "--max-buffered-bytes") == 0)
		return max_buffered_arg(v, l, err, errlen);
	if (strcmp(opt, "--client-header-timeout") == 0)
		ms = &l->header_timeout_ms;
	else if (strcmp(opt, "--client-body-timeout") == 0)
		ms = &l->body_timeout_ms;
	else if (strcmp(opt, "--keepalive-timeout") == 0)
		ms = &l->keepalive_timeout_ms;
	else if (strcmp(opt, "--client-send-timeout") == 0)
		ms = &l->send_timeout_ms;
	else if (strcmp(opt, "--max-connections") != 0)
		return GLIA_ARG_OTHER;
	if (!v) {
		snprintf(err, errlen, "%s needs a value", opt);
		return GLIA_ARG_BAD;
	}
	if (ms && glia_parse_duration_ms(v, &n) == 0 && n >= 100) {
		*ms = (uint64_t)n;
		return GLIA_ARG_TAKEN;
	}
	if (ms) {
		snprintf(err, errlen,
		         "%s takes a duration of at least 100ms, got \"%s\"",
		         opt, v);
		return GLIA_ARG_BAD;
	}
	char *end;
	long long k = strtoll(v, &end, 10);
	if (end != v && !*end && k >= 1) {
		l->max_conns = (size_t)k;
		return GLIA_ARG_TAKEN;
	}
	snprintf(err, errlen,
	         "--max-connections takes a number of at least 1, got \"%s\"",
	         v);
	return GLIA_ARG_BAD;
}

int glia_serve_arg(int argc, char **argv, int *i, glia_serve_args *a, char *err,
                   size_t errlen)
{
	const char *opt = argv[*i], *v;
	int64_t n;
	int rc = glia_client_limit_arg(opt, *i + 1 < argc ? argv[*i + 1] : NULL,
	                               &a->client, err, errlen);
	if (rc == GLIA_ARG_TAKEN)
		++*i;
	if (rc != GLIA_ARG_OTHER)
		return rc;
	if (opt[0] != '-') {
		if (a->file) {
			snprintf(err, errlen, "one FILE only, got also %s",
			         opt);
			return GLIA_ARG_BAD;
		}
		a->file = opt;
		return GLIA_ARG_TAKEN;
	}
	if (strcmp(opt, "--no-access-log") == 0) {
		a->no_access_log = 1;
		return GLIA_ARG_TAKEN;
	}
	if (strcmp(opt, "--listen") != 0 && strcmp(opt, "--max-body-size") != 0)
		return GLIA_ARG_OTHER;
	if (!(v = value_of(argc, argv, i))) {
		snprintf(err, errlen, "%s needs a value", opt);
		return GLIA_ARG_BAD;
	}
	if (strcmp(opt, "--listen") == 0) {
		if (glia_parse_listen(v, a->host, sizeof a->host, &a->port) ==
		    0)
			return GLIA_ARG_TAKEN;
		snprintf(err, errlen, "--listen takes HOST:PORT, got \"%s\"",
		         v);
		return GLIA_ARG_BAD;
	}
	if (glia_parse_mem_bytes(v, &n) == 0 && n > 0) {
		a->max_body = (size_t)n;
		return GLIA_ARG_TAKEN;
	}
	snprintf(err, errlen,
	         "--max-body-size takes a size like 32Mi, got \"%s\"", v);
	return GLIA_ARG_BAD;
}
