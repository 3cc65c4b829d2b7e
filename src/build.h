/* build.h: `glia build`, a container image of a project
 * (docs/containers.md). The plan (what the image holds) and its
 * Containerfile are pure functions of the parsed specs, tested by
 * tests/unit/test_build.c; glia_build_main stages the build context and
 * runs podman, buildah or docker on it. */
#ifndef GLIA_BUILD_H
#define GLIA_BUILD_H

#include <stddef.h>

#include "config.h"

/* The default base image: Debian 12 slim, which scripts/base-image.sh builds
 * from Debian packages where no registry is reachable. */
#define GLIA_BUILD_BASE "docker.io/library/debian:bookworm-slim"

/* Debian packages installed in every image: the libraries glia links (the
 * Depends of `make deb`, scripts/deb.sh), python3 (Python predictors, the
 * worker's runtime) and ca-certificates (https model downloads).
 * NULL-terminated. */
extern const char *const glia_build_runtime_packages[];

/* What an image holds. Every string is owned by the plan. */
typedef struct glia_build_plan {
	char *base;  /* the FROM image */
	char *file;  /* the spec file's name, in /app */
	char **apis; /* every API name of the file, in order */
	size_t n_apis;
	char **apt; /* predictor.dependencies.apt of every API, first seen
	             * first, no repeats */
	size_t n_apt;
	char **shell; /* scripts run with `bash -e` in /app, no repeats */
	size_t n_shell;
	char **pip; /* requirements files pip installs, no repeats */
	size_t n_pip;
	char **warnings; /* one line each, for the user (conda files) */
	size_t n_warnings;
} glia_build_plan;

/* Fills p from the n specs of file (a base name) for image base. An API's
 * pip and shell files are its predictor.dependencies ones; without them,
 * requirements.txt and dependencies.sh when they exist in project_dir, as
 * Cortex did (no defaults when project_dir is NULL). Paths lose any
 * leading "./". Free with glia_build_plan_free. */
void glia_build_plan_init(glia_build_plan *p, const glia_api_spec *specs,
                          size_t n, const char *project_dir, const char *file,
                          const char *base);
void glia_build_plan_free(glia_build_plan *p);

/* The Containerfile of plan p (malloc'd text). The build context it
 * expects: glia/ (an install tree, copied to /usr/local) and app/ (the
 * project, copied to /app). */
char *glia_build_containerfile(const glia_build_plan *p);

/* The default image name for a project directory's base name: "glia-" and
 * the name in lower case with anything but [a-z0-9._-] as '-', ":latest".
 * malloc'd. */
char *glia_build_default_tag(const char *dirname);

/* The script the image runs for each requirements file (installed as
 * /usr/local/share/glia/build/pip-install.sh): pip install -r FILE when
 * the package index answers, else a warning line that starts with
 * "glia build: warning:". */
extern const char glia_build_pip_script[];

/* The engine `glia build` uses: the first of podman, buildah and docker
 * whose `info` succeeds (only want when not NULL). Its name, or NULL after
 * explaining on stderr. */
const char *glia_build_engine(const char *want);

/* `glia build [FILE|DIR] [-t IMAGE] [--base IMAGE] [--engine NAME]
 * [--dry-run]`; argv[0] is "build". Exit status: 0, 1 (failure), 2
 * (usage). */
int glia_build_main(int argc, char **argv);

#endif
