/* project.h: a project on disk as the commands that run it without a
 * daemon read it (`glia worker --api`, `glia gateway`, `glia build`): the
 * YAML file (given, or glia.yaml / cortex.yaml in a directory), its
 * directory, and its APIs parsed and validated. */
#ifndef GLIA_PROJECT_H
#define GLIA_PROJECT_H

#include <stddef.h>

#include "config.h"
#include "httpd.h"

typedef struct glia_project {
	char *file; /* absolute path of the YAML file */
	char *dir;  /* its directory: predictor paths are relative to it */
	glia_api_spec *specs;
	size_t n;
} glia_project;

/* Loads arg: a YAML file, or a directory holding glia.yaml (else
 * cortex.yaml); NULL means the current directory. check_files: predictor
 * files must exist (config.h). 0, or -1 with err filled ("file:line:col:
 * key: ..." for a config error). */
int glia_project_load(const char *arg, int check_files, glia_project *p,
                      char *err, size_t errlen);
void glia_project_free(glia_project *p);
/* The API named name, or NULL. */
glia_api_spec *glia_project_api(glia_project *p, const char *name);

/* What `glia worker --api` and `glia gateway` both take: FILE|DIR,
 * --listen HOST:PORT, --max-body-size SIZE, --no-access-log and the client
 * limits (glia_client_limit_arg). The caller sets the defaults first. */
typedef struct glia_serve_args {
	const char *file;
	char host[256];
	int port;
	size_t max_body;
	int no_access_log;
	glia_httpd_conn_limits client; /* 0 fields: httpd's defaults */
} glia_serve_args;

enum {
	GLIA_ARG_OTHER = 0, /* not one of them: the caller's */
	GLIA_ARG_TAKEN = 1, /* consumed (with its value: *i advanced) */
	GLIA_ARG_BAD = -1,  /* err says why */
};
/* --client-header-timeout, --client-body-timeout, --keepalive-timeout,
 * --client-send-timeout (durations of at least 100ms), --max-connections N
 * (at least 1) and --max-buffered-bytes SIZE, as `glia up` takes them too:
 * opt with its value v (NULL when none). */
int glia_client_limit_arg(const char *opt, const char *v,
                          glia_httpd_conn_limits *l, char *err, size_t errlen);
/* Looks at argv[*i]. */
int glia_serve_arg(int argc, char **argv, int *i, glia_serve_args *a, char *err,
                   size_t errlen);

#endif
