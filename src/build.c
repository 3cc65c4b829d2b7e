/* build.c: `glia build` (docs/containers.md).
 *
 * Control flow: arguments -> the spec file (glia.yaml, else cortex.yaml,
 * as `glia deploy` finds it) parsed with its dependency files required ->
 * the plan and its Containerfile (pure, build.h) -> with --dry-run, the
 * Containerfile on stdout and nothing else. Otherwise: the engine (podman,
 * buildah, docker: the first whose `info` succeeds), the build context
 * staged in a temporary directory (glia/: the running glia laid out as
 * `make install` does, app/: the project without .git), the engine's build
 * run with its output streamed to stderr, the context removed. stdout gets
 * the image name alone, so scripts can take it. */
#include "build.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

#define SPEC_FILE_MAX   (4u << 20)
#define INFO_TIMEOUT_MS 60000 /* `ENGINE info`: a hung engine is no engine */
#define INFO_OUTPUT_MAX (256u << 10)
#define LINE_MAX_KEPT   2048 /* characters of one output line scanned */
#define WARNINGS_MAX    32
#define WRAP_COLUMN     72

/* Debian 12's names; libpython3.11 is what the Makefile's python3-embed
 * gives there. Keep in step with scripts/deb.sh. */
/* clang-format off */
const char *const glia_build_runtime_packages[] = {
	"ca-certificates", "libcurl4", "libhttp-parser2.9", "libjansson4",
	"libpython3.11", "libsqlite3-0", "libssl3", "libuv1", "libyaml-0-2",
	"python3",
	NULL};

const char glia_build_pip_script[] =
	"#!/bin/sh\n"
	"# Written by glia build: installs the requirements file $1 with pip\n"
	"# when a Python package index answers from inside the build\n"
	"# (PIP_INDEX_URL, else pip's global.index-url, else\n"
	"# https://pypi.org/simple/; any HTTP answer within 10 s counts), else\n"
	"# warns and installs nothing (docs/containers.md).\n"
	"set -eu\n"
	"req=$1\n"
	"# the build arguments are empty when glia build was not given them\n"
	"[ -n \"${PIP_INDEX_URL:-}\" ] || unset PIP_INDEX_URL\n"
	"[ -n \"${PIP_EXTRA_INDEX_URL:-}\" ] || unset PIP_EXTRA_INDEX_URL\n"
	"[ -n \"${PIP_TRUSTED_HOST:-}\" ] || unset PIP_TRUSTED_HOST\n"
	"index=${PIP_INDEX_URL:-}\n"
	"[ -n \"$index\" ] || index=$(python3 -m pip config get "
	"global.index-url 2>/dev/null) || index=\n"
	"[ -n \"$index\" ] || index=https://pypi.org/simple/\n"
	"if why=$(python3 -c '\n"
	"import sys, urllib.error, urllib.request\n"
	"try:\n"
	"    urllib.request.urlopen(sys.argv[1], timeout=10).close()\n"
	"except urllib.error.HTTPError:\n"
	"    pass  # an answer: the index is there\n"
	"except Exception as e:\n"
	"    sys.exit(str(getattr(e, \"reason\", e)))\n"
	"' \"$index\" 2>&1); then\n"
	"\texec python3 -m pip install --no-cache-dir "
	"--break-system-packages --root-user-action=ignore -r \"$req\"\n"
	"fi\n"
	"echo \"glia build: warning: $req NOT installed: the package index "
	"$index did not answer from the build ($why); list Debian packages in "
	"predictor.dependencies.apt, or set PIP_INDEX_URL to an index the "
	"build can reach\" >&2\n";
/* clang-format on */

#define PIP_SCRIPT "/usr/local/share/glia/build/pip-install.sh"

/* ---- the plan (pure but for the default files' existence) ---- */

static void strv_add(char ***v, size_t *n, const char *s)
{
	*v = glia_realloc(*v, (*n + 1) * sizeof(char *));
	(*v)[(*n)++] = glia_strdup(s);
}

static void strv_add_unique(char ***v, size_t *n, const char *s)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*v)[i], s) == 0)
			return;
	strv_add(v, n, s);
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* p without leading "./" (and the slashes after it). */
static const char *strip_dot(const char *p)
{
	while (p[0] == '.' && p[1] == '/') {
		p += 2;
		while (*p == '/')
			p++;
	}
	return p;
}

/* The file an API names (given), else def when it is a file in
 * project_dir, else NULL. */
static const char *dep_file(const char *given, const char *def,
                            const char *project_dir)
{
	struct stat st;

	if (given)
		return strip_dot(given);
	if (!project_dir)
		return NULL;
	char *path = glia_sprintf("%s/%s", project_dir, def);
	int found = stat(path, &st) == 0 && S_ISREG(st.st_mode);
	free(path);
	return found ? def : NULL;
}

static void plan_api(glia_build_plan *p, const glia_api_spec *s,
                     const char *project_dir)
{
	const glia_dependencies *d = &s->predictor.dependencies;
	const char *f;

	for (size_t i = 0; i < d->n_apt; i++)
		strv_add_unique(&p->apt, &p->n_apt, d->apt[i]);
	if ((f = dep_file(d->shell, "dependencies.sh", project_dir)))
		strv_add_unique(&p->shell, &p->n_shell, f);
	if ((f = dep_file(d->pip, "requirements.txt", project_dir)))
		strv_add_unique(&p->pip, &p->n_pip, f);
	if ((f = dep_file(d->conda, "conda-packages.txt", project_dir))) {
		char *w = glia_sprintf(
		    "%s: conda packages are not installed (glia build has no "
		    "conda): list Debian packages in "
		    "predictor.dependencies.apt or Python packages in a "
		    "requirements file",
		    f);
		strv_add_unique(&p->warnings, &p->n_warnings, w);
		free(w);
	}
}

void glia_build_plan_init(glia_build_plan *p, const glia_api_spec *specs,
                          size_t n, const char *project_dir, const char *file,
                          const char *base)
{
	memset(p, 0, sizeof(*p));
	p->base = glia_strdup(base ? base : GLIA_BUILD_BASE);
	p->file = glia_strdup(file);
	for (size_t i = 0; i < n; i++) {
		strv_add(&p->apis, &p->n_apis, specs[i].name);
		if (!glia_spec_is_splitter(&specs[i]))
			plan_api(p, &specs[i], project_dir);
	}
}

void glia_build_plan_free(glia_build_plan *p)
{
	free(p->base);
	free(p->file);
	strv_free(p->apis, p->n_apis);
	strv_free(p->apt, p->n_apt);
	strv_free(p->shell, p->n_shell);
	strv_free(p->pip, p->n_pip);
	strv_free(p->warnings, p->n_warnings);
	memset(p, 0, sizeof(*p));
}

/* ---- the Containerfile (pure) ---- */

/* s as a JSON string, the quoting of exec-form instructions. */
static void put_json(glia_buf *b, const char *s)
{
	json_t *j = json_string(s);
	char *t = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;

	glia_buf_puts(b, t ? t : "\"\"");
	free(t);
	json_decref(j);
}

/* s double-quoted for LABEL: '"' and '\' escaped. */
static void put_quoted(glia_buf *b, const char *s)
{
	glia_buf_puts(b, "\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			glia_buf_puts(b, "\\");
		glia_buf_append(b, s, 1);
	}
	glia_buf_puts(b, "\"");
}

/* RUN apt-get install of the NULL-terminated or counted names, wrapped. */
static void put_apt(glia_buf *b, const char *const *names, size_t n)
{
	size_t col = 6;

	glia_buf_puts(b, "RUN apt-get update \\\n"
	                 " && apt-get install -y --no-install-recommends \\\n"
	                 "     ");
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(names[i]);
		if (col > 6 && col + 1 + len > WRAP_COLUMN) {
			glia_buf_puts(b, " \\\n     ");
			col = 6;
		}
		glia_buf_printf(b, " %s", names[i]);
		col += 1 + len;
	}
	glia_buf_puts(b, " \\\n && rm -rf /var/lib/apt/lists/*\n");
}

static void put_header(glia_buf *b, const glia_build_plan *p)
{
	glia_buf_printf(b,
	                "# Written by glia build %s from %s "
	                "(docs/containers.md).\n"
	                "# glia is under /usr/local and the project in /app; "
	                "one image serves every\n"
	                "# API of the file. A replica of API NAME:\n"
	                "#   glia worker --api NAME --listen 0.0.0.0:8080 "
	                "/app/%s\n",
	                GLIA_VERSION, p->file, p->file);
	glia_buf_printf(b, "FROM %s\n", p->base);
	glia_buf_puts(b, "ARG DEBIAN_FRONTEND=noninteractive\n");
	glia_buf_puts(b, "# what glia links, and Debian's python3\n");
	size_t n = 0;
	while (glia_build_runtime_packages[n])
		n++;
	put_apt(b, glia_build_runtime_packages, n);
}

static void put_project_apt(glia_buf *b, const glia_build_plan *p)
{
	const char **names;
	size_t n = 0;

	if (!p->n_apt && !p->n_pip)
		return;
	names = glia_calloc(p->n_apt + 1, sizeof(char *));
	for (size_t i = 0; i < p->n_apt; i++)
		names[n++] = p->apt[i];
	if (p->n_pip) {
		int listed = 0;
		for (size_t i = 0; i < p->n_apt; i++)
			listed |= strcmp(p->apt[i], "python3-pip") == 0;
		if (!listed)
			names[n++] = "python3-pip";
	}
	glia_buf_puts(b, p->n_pip ? "# predictor.dependencies.apt, and pip "
	                            "for the requirements files\n"
	                          : "# predictor.dependencies.apt\n");
	put_apt(b, names, n);
	free(names);
}

static void put_labels(glia_buf *b, const glia_build_plan *p)
{
	glia_buf apis;
	char *file = glia_sprintf("/app/%s", p->file);

	glia_buf_init(&apis, 0);
	glia_buf_puts(&apis, "");
	for (size_t i = 0; i < p->n_apis; i++)
		glia_buf_printf(&apis, "%s%s", i ? " " : "", p->apis[i]);
	glia_buf_puts(b, "LABEL io.glia.version=");
	put_quoted(b, GLIA_VERSION);
	glia_buf_puts(b, " io.glia.file=");
	put_quoted(b, file);
	glia_buf_puts(b, " io.glia.apis=");
	put_quoted(b, apis.data);
	glia_buf_puts(b, "\n");
	glia_buf_free(&apis);
	free(file);
}

char *glia_build_containerfile(const glia_build_plan *p)
{
	glia_buf b;

	glia_buf_init(&b, 0);
	put_header(&b, p);
	put_project_apt(&b, p);
	glia_buf_puts(&b, "COPY glia/ /usr/local/\n"
	                  "COPY app/ /app/\n"
	                  "WORKDIR /app\n");
	for (size_t i = 0; i < p->n_shell; i++) {
		glia_buf_puts(&b, "RUN [\"bash\", \"-e\", ");
		put_json(&b, p->shell[i]);
		glia_buf_puts(&b, "]\n");
	}
	for (size_t i = 0; i < p->n_pip; i++) {
		glia_buf_puts(&b, i ? ""
		                    : "ARG PIP_INDEX_URL=\n"
		                      "ARG PIP_EXTRA_INDEX_URL=\n"
		                      "ARG PIP_TRUSTED_HOST=\n");
		glia_buf_puts(&b, "RUN [\"sh\", \"" PIP_SCRIPT "\", ");
		put_json(&b, p->pip[i]);
		glia_buf_puts(&b, "]\n");
	}
	put_labels(&b, p);
	glia_buf_puts(&b, "ENTRYPOINT [\"glia\"]\n"
	                  "CMD [\"--help\"]\n");
	return b.data;
}

char *glia_build_default_tag(const char *dirname)
{
	glia_buf b;
	size_t start;

	glia_buf_init(&b, 0);
	glia_buf_puts(&b, "glia-");
	start = b.len;
	for (const char *s = dirname; *s; s++) {
		char ch = *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s;
		int ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
		int sep = ch == '.' || ch == '_' || ch == '-';
		char last = b.len > start ? b.data[b.len - 1] : '-';
		int last_sep = last == '.' || last == '_' || last == '-';
		if (ok)
			glia_buf_append(&b, &ch, 1);
		else if (!last_sep)
			glia_buf_append(&b, sep ? &ch : "-", 1);
	}
	while (b.len > start && strchr("._-", b.data[b.len - 1]))
		b.data[--b.len] = '\0';
	if (b.len == start)
		glia_buf_puts(&b, "project");
	glia_buf_puts(&b, ":latest");
	return b.data;
}

/* ---- the spec file ---- */

/* The file to build: arg (a directory stands for its glia.yaml, else its
 * cortex.yaml), else glia.yaml, else cortex.yaml. malloc'd; NULL after
 * saying why. */
static char *spec_file(const char *arg)
{
	static const char *const names[] = {"glia.yaml", "cortex.yaml"};
	const char *dir = arg ? arg : ".";
	struct stat st;

	if (arg && (stat(arg, &st) != 0 || !S_ISDIR(st.st_mode)))
		return glia_strdup(arg);
	for (size_t i = 0; i < 2; i++) {
		char *path = arg ? glia_sprintf("%s/%s", dir, names[i])
		                 : glia_strdup(names[i]);
		if (access(path, F_OK) == 0)
			return path;
		free(path);
	}
	char cwd[PATH_MAX];
	if (!arg && getcwd(cwd, sizeof(cwd)))
		dir = cwd;
	fprintf(stderr, "glia build: no glia.yaml or cortex.yaml in %s\n", dir);
	return NULL;
}

/* Parses file; on success *project_dir is its directory (absolute). */
static int load_specs(const char *file, char **project_dir,
                      glia_api_spec **specs, size_t *n)
{
	glia_config_error err;
	size_t len = 0;
	char *text = glia_read_file(file, SPEC_FILE_MAX, &len);
	char *real = NULL;
	int rc = -1;

	if (!text) {
		fprintf(stderr, "glia build: %s: %s\n", file,
		        errno == EFBIG ? "larger than 4 MiB" : strerror(errno));
		return -1;
	}
	real = realpath(file, NULL);
	if (!real) {
		fprintf(stderr, "glia build: %s: %s\n", file, strerror(errno));
		goto done;
	}
	*strrchr(real, '/') = '\0';
	if (!*real)
		strcpy(real, "/");
	if (glia_config_parse_flags(text, len, file, real,
	                            GLIA_CONFIG_DEPENDENCY_FILES, specs, n,
	                            &err) < 0) {
		fprintf(stderr, "glia build: %s\n", err.message);
		goto done;
	}
	*project_dir = real;
	real = NULL;
	rc = 0;
done:
	free(real);
	free(text);
	return rc;
}

/* ---- running programs ---- */

/* Starts argv with stdin from /dev/null and stdout+stderr on a pipe whose
 * read end is *fd. The child's ignored signals are reset. pid or -1. */
static pid_t spawn(char *const argv[], int *fd)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		signal(SIGINT, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		if (null >= 0)
			dup2(null, 0);
		dup2(p[1], 1);
		dup2(p[1], 2);
		execvp(argv[0], argv);
		_exit(errno == ENOENT ? 127 : 126);
	}
	close(p[1]);
	*fd = p[0];
	return pid;
}

/* The exit status of pid (128 + signal when killed). */
static int reap(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Runs argv to the end (killed after timeout_ms), its output in out. The
 * exit status; 127: not found. */
static int run_capture(char *const argv[], glia_buf *out, int timeout_ms)
{
	uint64_t deadline = glia_now_ms() + (uint64_t)timeout_ms;
	char chunk[4096];
	int fd;
	pid_t pid = spawn(argv, &fd);

	if (pid < 0)
		return -1;
	for (;;) {
		uint64_t now = glia_now_ms();
		struct pollfd pfd = {fd, POLLIN, 0};
		if (now >= deadline) {
			kill(pid, SIGKILL);
			break;
		}
		int r = poll(&pfd, 1, (int)(deadline - now));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			continue;
		ssize_t got = read(fd, chunk, sizeof(chunk));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		glia_buf_append(out, chunk, (size_t)got);
	}
	close(fd);
	return reap(pid);
}

/* The last non-empty line of text, without its newline, in out. */
static void last_line(const char *text, char *out, size_t n)
{
	const char *end = text + strlen(text), *start;

	while (end > text &&
	       (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		end--;
	start = end;
	while (start > text && start[-1] != '\n')
		start--;
	snprintf(out, n, "%.*s", (int)(end - start), start);
}

/* ---- engines ---- */

typedef struct engine {
	const char *name;
	const char *build;     /* the build subcommand */
	const char *exists[3]; /* argv after the name: does an image exist? */
} engine;

static const engine engines[] = {
    {"podman", "build", {"image", "exists", NULL}},
    {"buildah", "bud", {"inspect", "--type", "image"}},
    {"docker", "build", {"image", "inspect", NULL}},
};

#define N_ENGINES (sizeof(engines) / sizeof(engines[0]))

/* The first engine of engines (or only the one named want) whose `info`
 * succeeds; NULL after explaining. */
static const engine *pick_engine(const char *want)
{
	glia_buf why;
	const engine *found = NULL;

	glia_buf_init(&why, 0);
	for (size_t i = 0; i < N_ENGINES && !found; i++) {
		const engine *e = &engines[i];
		char *argv[] = {(char *)e->name, "info", NULL};
		glia_buf out;
		char line[512];

		if (want && strcmp(want, e->name) != 0)
			continue;
		glia_buf_init(&out, INFO_OUTPUT_MAX);
		int rc = run_capture(argv, &out, INFO_TIMEOUT_MS);
		if (rc == 0)
			found = e;
		else if (rc != 127) {
			last_line(out.data ? out.data : "", line, sizeof(line));
			glia_buf_printf(&why,
			                "\n  %s is installed but `%s info` "
			                "failed (status %d): %s",
			                e->name, e->name, rc, line);
		}
		glia_buf_free(&out);
	}
	if (!found)
		fprintf(stderr,
		        "glia build: no container engine%s%s: install podman "
		        "(apt-get install podman runc; docs/containers.md), "
		        "or buildah, or docker with a running daemon%s\n",
		        want ? " named " : "", want ? want : "",
		        why.data ? why.data : "");
	glia_buf_free(&why);
	return found;
}

const char *glia_build_engine(const char *want)
{
	const engine *e = pick_engine(want);

	return e ? e->name : NULL;
}

static int image_exists(const engine *e, const char *image)
{
	char *argv[6] = {(char *)e->name};
	size_t n = 1;
	glia_buf out;

	for (size_t i = 0; i < 3 && e->exists[i]; i++)
		argv[n++] = (char *)e->exists[i];
	argv[n++] = (char *)image;
	argv[n] = NULL;
	glia_buf_init(&out, INFO_OUTPUT_MAX);
	int rc = run_capture(argv, &out, INFO_TIMEOUT_MS);
	glia_buf_free(&out);
	return rc == 0;
}

/* Scans one line of the build's output for our pip script's warning. */
static void note_line(const char *line, glia_build_plan *p)
{
	const char *w = strstr(line, "glia build: warning: ");

	if (w && p->n_warnings < WARNINGS_MAX)
		strv_add_unique(&p->warnings, &p->n_warnings,
		                w + strlen("glia build: warning: "));
}

/* Runs the build with its output copied to stderr as it comes; warnings
 * it prints are added to p. The exit status. */
static int run_streamed(char *const argv[], glia_build_plan *p)
{
	char chunk[4096], line[LINE_MAX_KEPT + 1];
	size_t used = 0;
	struct sigaction ign = {.sa_handler = SIG_IGN}, old_int, old_quit;
	int fd;
	pid_t pid = spawn(argv, &fd);

	if (pid < 0)
		return -1;
	/* Ctrl-C reaches the engine, which stops; we clean up after it. */
	sigaction(SIGINT, &ign, &old_int);
	sigaction(SIGQUIT, &ign, &old_quit);
	for (;;) {
		ssize_t got = read(fd, chunk, sizeof(chunk));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		fwrite(chunk, 1, (size_t)got, stderr);
		for (ssize_t i = 0; i < got; i++) {
			if (chunk[i] != '\n' && used < LINE_MAX_KEPT) {
				line[used++] = chunk[i];
				continue;
			}
			if (chunk[i] != '\n')
				continue;
			line[used] = '\0';
			note_line(line, p);
			used = 0;
		}
	}
	line[used] = '\0';
	note_line(line, p);
	fflush(stderr);
	close(fd);
	int rc = reap(pid);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGQUIT, &old_quit, NULL);
	return rc;
}

/* ---- staging the build context ---- */

static int write_file(const char *path, const char *text, int mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	if (fd < 0 || glia_write_all(fd, text, strlen(text)) < 0) {
		fprintf(stderr, "glia build: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return close(fd);
}

static int copy_file(const char *src, const char *dst, mode_t mode)
{
	char chunk[65536];
	int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, rc = -1;
	ssize_t got;

	if (in < 0)
		goto done;
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 07777);
	if (out < 0)
		goto done;
	while ((got = read(in, chunk, sizeof(chunk))) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 || glia_write_all(out, chunk, (size_t)got) < 0)
			goto done;
	}
	if (fchmod(out, mode & 07777) < 0)
		goto done;
	rc = 0;
done:
	if (rc < 0)
		fprintf(stderr, "glia build: copying %s: %s\n", src,
		        strerror(errno));
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out) < 0)
		rc = -1;
	return rc;
}

static int copy_tree(const char *src, const char *dst, const struct stat *skip);

/* One entry of a directory being copied. */
static int copy_entry(const char *src, const char *dst, const struct stat *skip)
{
	struct stat st;
	char target[PATH_MAX];

	if (lstat(src, &st) < 0) {
		fprintf(stderr, "glia build: %s: %s\n", src, strerror(errno));
		return -1;
	}
	if (st.st_dev == skip->st_dev && st.st_ino == skip->st_ino)
		return 0; /* the build context itself */
	if (S_ISDIR(st.st_mode))
		return copy_tree(src, dst, skip);
	if (S_ISLNK(st.st_mode)) {
		ssize_t n = readlink(src, target, sizeof(target) - 1);
		if (n < 0 || (target[n] = '\0', symlink(target, dst) < 0)) {
			fprintf(stderr, "glia build: %s: %s\n", src,
			        strerror(errno));
			return -1;
		}
		return 0;
	}
	if (!S_ISREG(st.st_mode))
		return 0; /* sockets, fifos, devices: not in an image */
	if (link(src, dst) == 0)
		return 0;
	return copy_file(src, dst, st.st_mode);
}

/* Copies directory src to dst (created), without .git, hard-linking files
 * where it can. */
static int copy_tree(const char *src, const char *dst, const struct stat *skip)
{
	DIR *d;
	struct dirent *ent;
	int rc = 0;

	if (mkdir(dst, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "glia build: %s: %s\n", dst, strerror(errno));
		return -1;
	}
	if (!(d = opendir(src))) {
		fprintf(stderr, "glia build: %s: %s\n", src, strerror(errno));
		return -1;
	}
	while (rc == 0 && (ent = readdir(d))) {
		if (strcmp(ent->d_name, ".") == 0 ||
		    strcmp(ent->d_name, "..") == 0 ||
		    strcmp(ent->d_name, ".git") == 0)
			continue;
		char *s = glia_sprintf("%s/%s", src, ent->d_name);
		char *t = glia_sprintf("%s/%s", dst, ent->d_name);
		rc = copy_entry(s, t, skip);
		free(s);
		free(t);
	}
	closedir(d);
	return rc;
}

/* Where the worker finds glia's Python package: $GLIA_PYTHON_DIR, else
 * ../python (a checkout) or ../share/glia/python (an install) from the
 * binary. NULL when there is none. */
static char *python_dir(const char *exe_dir)
{
	static const char *const rel[] = {"../python", "../share/glia/python"};
	const char *env = getenv("GLIA_PYTHON_DIR");

	for (size_t i = 0; i < (env && *env ? 1 : 2); i++) {
		char *dir = env && *env
		                ? glia_strdup(env)
		                : glia_sprintf("%s/%s", exe_dir, rel[i]);
		char *pkg = glia_sprintf("%s/glia/__init__.py", dir);
		int found = access(pkg, R_OK) == 0;
		free(pkg);
		if (found)
			return dir;
		free(dir);
	}
	return NULL;
}

/* Copies the *.py files of pydir/pkg into dst/pkg. Only glia's own package
 * must be there. */
static int copy_package(const char *pydir, const char *pkg, const char *dst)
{
	char *src = glia_sprintf("%s/%s", pydir, pkg);
	char *to = glia_sprintf("%s/%s", dst, pkg);
	DIR *d = opendir(src);
	struct dirent *ent;
	int rc = 0;

	if (!d && errno == ENOENT && strcmp(pkg, "glia") != 0) {
		free(src);
		free(to);
		return 0;
	}
	if (!d || glia_mkdirs(to, 0755) < 0) {
		fprintf(stderr, "glia build: %s: %s\n", d ? to : src,
		        strerror(errno));
		if (d)
			closedir(d);
		free(src);
		free(to);
		return -1;
	}
	while (rc == 0 && (ent = readdir(d))) {
		size_t len = strlen(ent->d_name);
		if (len < 4 || strcmp(ent->d_name + len - 3, ".py") != 0)
			continue;
		char *s = glia_sprintf("%s/%s", src, ent->d_name);
		char *t = glia_sprintf("%s/%s", to, ent->d_name);
		rc = copy_file(s, t, 0644);
		free(s);
		free(t);
	}
	closedir(d);
	free(src);
	free(to);
	return rc;
}

/* glia's package and the Cortex module names predictors import (cortex,
 * cortex.lib.log, cortex_internal.lib.log) into dst, as `make install`
 * lays them out. */
static int copy_python(const char *pydir, const char *dst)
{
	static const char *const pkgs[] = {"glia",
	                                   "cortex",
	                                   "cortex/lib",
	                                   "cortex_internal",
	                                   "cortex_internal/lib",
	                                   NULL};

	for (const char *const *p = pkgs; *p; p++)
		if (copy_package(pydir, *p, dst) < 0)
			return -1;
	return 0;
}

static int make_dirs(const char *root, const char *const *rel)
{
	for (; *rel; rel++) {
		char *dir = glia_sprintf("%s/%s", root, *rel);
		int rc = glia_mkdirs(dir, 0755);
		if (rc < 0)
			fprintf(stderr, "glia build: %s: %s\n", dir,
			        strerror(errno));
		free(dir);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* ctx/glia: the running glia as `make install PREFIX=/usr/local` lays it
 * out (bin, share/glia/python, include/glia, lib/pkgconfig) plus the pip
 * script. */
static int stage_glia(const char *ctx)
{
	static const char *const dirs[] = {"glia/bin",
	                                   "glia/share/glia/python/glia",
	                                   "glia/share/glia/build",
	                                   "glia/include/glia",
	                                   "glia/lib/pkgconfig",
	                                   NULL};
	char *exe_dir = glia_exe_dir(), *pydir = python_dir(exe_dir);
	char *p = NULL;
	int rc = -1;
	struct stat st;

	if (!pydir) {
		fprintf(stderr,
		        "glia build: glia's Python package is not beside %s "
		        "(../python or ../share/glia/python): set "
		        "GLIA_PYTHON_DIR\n",
		        exe_dir);
		goto done;
	}
	if (make_dirs(ctx, dirs) < 0)
		goto done;
	p = glia_sprintf("%s/glia/bin/glia", ctx);
	if (copy_file("/proc/self/exe", p, 0755) < 0)
		goto done;
	free(p);
	p = glia_sprintf("%s/glia/share/glia/python", ctx);
	if (copy_python(pydir, p) < 0)
		goto done;
	free(p);
	p = glia_sprintf("%s/../include/glia/predictor.h", exe_dir);
	if (stat(p, &st) == 0) {
		char *dst =
		    glia_sprintf("%s/glia/include/glia/predictor.h", ctx);
		int crc = copy_file(p, dst, 0644);
		free(dst);
		if (crc < 0)
			goto done;
	} else {
		fprintf(stderr,
		        "glia build: warning: %s not found: the image has no "
		        "C predictor header\n",
		        p);
	}
	free(p);
	p = glia_sprintf("%s/glia/lib/pkgconfig/glia.pc", ctx);
	char *pc = glia_sprintf("prefix=/usr/local\n"
	                        "includedir=${prefix}/include\n\n"
	                        "Name: glia\n"
	                        "Description: glia C predictor ABI (shared "
	                        "libraries glia loads)\n"
	                        "Version: %s\n"
	                        "Cflags: -I${includedir}\n",
	                        GLIA_VERSION);
	rc = write_file(p, pc, 0644);
	free(pc);
	free(p);
	p = glia_sprintf("%s/glia/share/glia/build/pip-install.sh", ctx);
	if (rc == 0)
		rc = write_file(p, glia_build_pip_script, 0755);
done:
	free(p);
	free(pydir);
	free(exe_dir);
	return rc;
}

/* The build context: Containerfile, glia/, app/. */
static int stage_context(const char *ctx, const char *project_dir,
                         const char *containerfile)
{
	struct stat self;
	char *p = glia_sprintf("%s/Containerfile", ctx);
	int rc = write_file(p, containerfile, 0644);

	free(p);
	if (rc < 0 || stage_glia(ctx) < 0 || stat(ctx, &self) < 0)
		return -1;
	p = glia_sprintf("%s/app", ctx);
	rc = copy_tree(project_dir, p, &self);
	free(p);
	return rc;
}

/* ---- the command ---- */

typedef struct build_args {
	const char *file;
	const char *tag;
	const char *base;
	const char *engine;
	const char *network; /* the build's network; "default": the engine's */
	int dry_run;
} build_args;

static const char usage[] =
    "usage: glia build [FILE|DIR] [-t IMAGE] [--base IMAGE] "
    "[--engine podman|buildah|docker] [--network MODE] [--dry-run]\n"
    "\n"
    "Builds a container image of the project: glia, the libraries it "
    "links,\n"
    "Debian's python3, the project directory (in /app) and its\n"
    "predictor.dependencies (apt packages, dependencies.sh, "
    "requirements.txt).\n"
    "\n"
    "  FILE|DIR        the spec file (default glia.yaml, then cortex.yaml)\n"
    "  -t, --tag IMAGE the image name (default glia-<directory>:latest)\n"
    "  --base IMAGE    the base image (default " GLIA_BUILD_BASE ";\n"
    "                  scripts/base-image.sh builds it without a registry)\n"
    "  --engine NAME   podman, buildah or docker (default: the first that "
    "works)\n"
    "  --network MODE  the network of the build's RUN steps (default host,\n"
    "                  which reaches what this machine reaches; default:\n"
    "                  the engine's own)\n"
    "  --dry-run       print the Containerfile, build nothing\n";

static int parse_args(int argc, char **argv, build_args *a)
{
	static const struct option opts[] = {
	    {"tag", required_argument, NULL, 't'},
	    {"base", required_argument, NULL, 'b'},
	    {"engine", required_argument, NULL, 'e'},
	    {"network", required_argument, NULL, 'N'},
	    {"dry-run", no_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	int c;

	memset(a, 0, sizeof(*a));
	a->network = "host";
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+t:h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			a->tag = optarg;
			break;
		case 'b':
			a->base = optarg;
			break;
		case 'e':
			a->engine = optarg;
			break;
		case 'N':
			a->network = optarg;
			break;
		case 'n':
			a->dry_run = 1;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fprintf(stderr, "glia build: bad option %s\n\n%s",
			        argv[optind - 1], usage);
			return 2;
		}
	}
	if (optind < argc)
		a->file = argv[optind++];
	if (optind < argc) {
		fprintf(stderr,
		        "glia build: one FILE at most, got %s too\n\n%s",
		        argv[optind], usage);
		return 2;
	}
	return -1;
}

static int check_args(const build_args *a)
{
	const char *what = NULL;

	if (a->tag && (!*a->tag || strpbrk(a->tag, " \t\n")))
		what = "-t";
	else if (a->base && (!*a->base || strpbrk(a->base, " \t\n")))
		what = "--base";
	if (what) {
		fprintf(stderr, "glia build: bad image name for %s\n", what);
		return 2;
	}
	if (!*a->network || strpbrk(a->network, " \t\n")) {
		fprintf(stderr, "glia build: bad value for --network\n");
		return 2;
	}
	for (size_t i = 0; a->engine && i < N_ENGINES; i++)
		if (strcmp(a->engine, engines[i].name) == 0)
			return 0;
	if (a->engine) {
		fprintf(
		    stderr,
		    "glia build: --engine must be podman, buildah or docker, "
		    "got %s\n",
		    a->engine);
		return 2;
	}
	return 0;
}

static void print_warnings(const glia_build_plan *p)
{
	for (size_t i = 0; i < p->n_warnings; i++)
		fprintf(stderr, "glia build: warning: %s\n", p->warnings[i]);
}

/* Stages the context and runs the engine. 0 or 1. */
static int build_image(const engine *e, const build_args *a, const char *tag,
                       const char *project_dir, glia_build_plan *plan,
                       const char *containerfile)
{
	static const char *const pip_env[] = {
	    "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST"};
	const char *tmp = getenv("TMPDIR");
	char *ctx = glia_sprintf("%s/glia-build-XXXXXX",
	                         tmp && *tmp ? tmp : "/var/tmp");
	char *argv[16], *cf = NULL, *args[3] = {NULL, NULL, NULL}, *net = NULL;
	size_t n = 0;
	int ok = 0;

	if (!mkdtemp(ctx)) {
		fprintf(stderr, "glia build: %s: %s\n", ctx, strerror(errno));
		free(ctx);
		return 1;
	}
	if (stage_context(ctx, project_dir, containerfile) < 0)
		goto done;
	cf = glia_sprintf("%s/Containerfile", ctx);
	argv[n++] = (char *)e->name;
	argv[n++] = (char *)e->build;
	argv[n++] = "-t";
	argv[n++] = (char *)tag;
	argv[n++] = "-f";
	argv[n++] = cf;
	if (strcmp(a->network, "default") != 0) {
		net = glia_sprintf("--network=%s", a->network);
		argv[n++] = net;
	}
	for (size_t i = 0; i < 3; i++) {
		const char *v = getenv(pip_env[i]);
		if (!v || !*v || !plan->n_pip)
			continue;
		args[i] = glia_sprintf("%s=%s", pip_env[i], v);
		argv[n++] = "--build-arg";
		argv[n++] = args[i];
	}
	argv[n++] = ctx;
	argv[n] = NULL;
	fprintf(stderr, "glia build: building %s with %s from %s\n", tag,
	        e->name, project_dir);
	uint64_t start = glia_now_ms();
	int rc = run_streamed(argv, plan);
	if (rc != 0) {
		fprintf(
		    stderr,
		    "glia build: the build failed: %s %s exited with status "
		    "%d (its output is above)\n",
		    e->name, e->build, rc);
		if (!image_exists(e, plan->base))
			fprintf(stderr,
			        "glia build: the base image %s is not in %s's "
			        "store and may not have been pulled: "
			        "scripts/base-image.sh builds it from Debian "
			        "packages; --base picks another\n",
			        plan->base, e->name);
		goto done;
	}
	print_warnings(plan);
	fprintf(stderr, "glia build: built %s in %.0fs\n", tag,
	        (double)(glia_now_ms() - start) / 1000.0);
	printf("%s\n", tag);
	ok = 1;
done:
	if (glia_remove_tree(ctx) < 0)
		fprintf(stderr, "glia build: warning: could not remove %s\n",
		        ctx);
	for (size_t i = 0; i < 3; i++)
		free(args[i]);
	free(net);
	free(cf);
	free(ctx);
	return ok ? 0 : 1;
}

/* The default tag, from the project directory's name. */
static char *project_tag(const char *project_dir)
{
	const char *slash = strrchr(project_dir, '/');

	return glia_build_default_tag(slash ? slash + 1 : project_dir);
}

int glia_build_main(int argc, char **argv)
{
	build_args a;
	glia_api_spec *specs = NULL;
	glia_build_plan plan = {0};
	char *file = NULL, *project_dir = NULL, *tag = NULL, *text = NULL;
	size_t n = 0;
	int rc = parse_args(argc, argv, &a);

	if (rc >= 0)
		return rc;
	if ((rc = check_args(&a)) != 0)
		return rc;
	rc = 1;
	if (!(file = spec_file(a.file)) ||
	    load_specs(file, &project_dir, &specs, &n) < 0)
		goto done;
	const char *slash = strrchr(file, '/'),
	           *name = slash ? slash + 1 : file;
	for (const char *c = name; *c; c++) {
		if ((unsigned char)*c < 0x20 || *c == 0x7f) {
			fprintf(stderr, "glia build: the file name has control "
			                "characters: rename it\n");
			goto done;
		}
	}
	glia_build_plan_init(&plan, specs, n, project_dir, name, a.base);
	text = glia_build_containerfile(&plan);
	if (a.dry_run) {
		print_warnings(&plan);
		fputs(text, stdout);
		rc = fflush(stdout) == 0 ? 0 : 1;
		goto done;
	}
	tag = a.tag ? glia_strdup(a.tag) : project_tag(project_dir);
	const engine *e = pick_engine(a.engine);
	if (e)
		rc = build_image(e, &a, tag, project_dir, &plan, text);
done:
	glia_build_plan_free(&plan);
	glia_api_specs_free(specs, n);
	free(text);
	free(tag);
	free(project_dir);
	free(file);
	return rc;
}
