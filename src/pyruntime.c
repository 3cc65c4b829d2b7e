/* pyruntime.c: see pyruntime.h. */
#include "pyruntime.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define DIR_MAX 4096

/* argv[1]: a directory put first on sys.path; argv[2]: the package. */
static const char find_script[] =
    "import sys, importlib.util as u\n"
    "sys.path[0:0] = [sys.argv[1]]\n"
    "sys.exit(0 if u.find_spec(sys.argv[2]) else 3)\n";

const char *glia_pyruntime_package(glia_predictor_type t)
{
	const char *name = glia_predictor_type_name(t);

	if (strcmp(name, "tensorflow") == 0)
		return "tensorflow";
	if (strcmp(name, "onnx") == 0)
		return "onnxruntime";
	return NULL;
}

/* The directory the predictor's imports start from: python_path (relative
 * to the project) or the project itself. */
static void search_dir(const glia_api_spec *s, const char *project_dir,
                       char *out, size_t n)
{
	const char *pp = s->predictor.python_path;

	if (pp && pp[0] == '/')
		snprintf(out, n, "%s", pp);
	else
		snprintf(out, n, "%s/%s", project_dir, pp ? pp : ".");
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for pid up to the timeout (then kills it). Its exit status, or
 * -1 when it did not exit normally in time. */
static int wait_exit(pid_t pid)
{
	long long deadline = now_ms() + GLIA_PYRUNTIME_TIMEOUT_MS;
	struct timespec tick = {0, 5 * 1000 * 1000};
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		if (r < 0 && errno != EINTR)
			return -1;
		if (now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		nanosleep(&tick, NULL);
	}
}

/* The interpreter's answer for one package: 0 found, 3 not found, -1
 * could not ask. */
static int run_find(const char *package, const char *dir)
{
	/* -E: the worker's embedded Python ignores PYTHONPATH and PYTHONHOME
	 * too (pyhost.c) */
	char *argv[] = {(char *)GLIA_PYRUNTIME_PYTHON,
	                (char *)"-E",
	                (char *)"-c",
	                (char *)find_script,
	                (char *)dir,
	                (char *)package,
	                NULL};
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	rc = posix_spawn(&pid, GLIA_PYRUNTIME_PYTHON, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		return -1;
	return wait_exit(pid);
}

/* 1 when an earlier API of specs asked for the same package from the
 * same directory. */
static int asked_before(const glia_api_spec *specs, size_t i,
                        const char *project_dir, const char *dir)
{
	const char *package = glia_pyruntime_package(specs[i].predictor.type);
	char other[DIR_MAX];

	for (size_t j = 0; j < i; j++) {
		if (glia_pyruntime_package(specs[j].predictor.type) != package)
			continue;
		search_dir(&specs[j], project_dir, other, sizeof other);
		if (strcmp(other, dir) == 0)
			return 1;
	}
	return 0;
}

static void refusal(const glia_api_spec *s, const char *package, int rc,
                    char *err, size_t errlen)
{
	snprintf(err, errlen,
	         "API %s: type: %s needs the Python package %s, which %s %s "
	         "(searched the project directory, predictor.python_path and "
	         "the installed packages); install it with: pip install %s",
	         s->name, glia_predictor_type_name(s->predictor.type), package,
	         GLIA_PYRUNTIME_PYTHON,
	         rc == 3 ? "cannot import" : "could not be asked to import",
	         package);
}

int glia_pyruntime_check(const glia_api_spec *specs, size_t n,
                         const char *project_dir, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		const char *package =
		    glia_pyruntime_package(specs[i].predictor.type);
		char dir[DIR_MAX];

		if (!package)
			continue;
		search_dir(&specs[i], project_dir, dir, sizeof dir);
		if (asked_before(specs, i, project_dir, dir))
			continue;
		int rc = run_find(package, dir);
		if (rc != 0) {
			refusal(&specs[i], package, rc, err, errlen);
			return -1;
		}
	}
	return 0;
}
