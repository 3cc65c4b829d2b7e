/* env.c: environments (env.h). `glia env add|list|remove` keep
 * GLIA_HOME/envs.json (mode 0600): {"NAME": {"provider": "kubernetes",
 * "context": ..., "namespace": ..., "registry": ...}}. With --env NAME,
 * deploy runs glia build (build.c), the engine's push, glia render k8s
 * (render.c) into a temporary directory, `kubectl apply --server-side` and
 * `kubectl rollout status`; get, describe, logs and delete ask kubectl for
 * the objects render.c labels (app.kubernetes.io/managed-by=glia,
 * glia.dev/api=NAME) and the gateway's /metrics through the API server's
 * service proxy. Every command run is echoed on stderr as "+ ...".
 * `glia env default NAME` keeps NAME under the reserved key "_default"
 * (absent: local); glia_env_with_default gives it to commands that are
 * given no --env. */
#include "env.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "build.h"
#include "cli.h"
#include "cli_internal.h"
#include "client.h"
#include "config.h"
#include "project.h"
#include "render.h"
#include "util.h"

#define ENVS_FILE         "envs.json"
#define ENVS_MAX          (1u << 20)
#define KUBE_OUTPUT_MAX   (64u << 20)
#define ROLLOUT_DEFAULT_S 300
#define GATEWAY           "glia-gateway"
#define GATEWAY_PORT      8888
#define MANAGED           "app.kubernetes.io/managed-by=glia"
#define MAX_ARGS          40
/* envs.json's reserved key: the default env's name (glia env default);
 * absent means local. Env names have no '_', so it is never one. */
#define DEFAULT_KEY       "_default"

/* ---- arguments ---- */

typedef struct env_args {
	const char *home, *env, *context, *ns, *registry, *timeout, *image;
	const char *tail, *url, *token, *gateway;
	int kubernetes, json, follow, help;
	const char *pos[4];
	int n_pos;
} env_args;

static const char env_usage[] =
    "usage: glia env add NAME --kubernetes [--context CTX] [--namespace NS]\n"
    "                    [--registry HOST[:PORT][/PATH]]\n"
    "       glia env add NAME --url http://HOST:PORT --token TOKEN\n"
    "                    [--gateway http://HOST:PORT]\n"
    "       glia env configure NAME --operator-endpoint URL --token TOKEN\n"
    "       glia env list [-o json] | glia env default [NAME]\n"
    "       glia env remove NAME | glia env rename OLD NEW\n"
    "       glia deploy --env NAME [FILE] [--image IMAGE] [--timeout DUR]\n"
    "       glia get --env NAME [API] [-o json]\n"
    "       glia describe API --env NAME\n"
    "       glia logs API --env NAME [-f] [--tail N]\n"
    "       glia delete API --env NAME\n"
    "\n"
    "An environment is a Kubernetes cluster reached with kubectl (CTX: a\n"
    "kubeconfig context, default the current one; NS: the namespace,\n"
    "default \"default\"; REG: where images are pushed). It is kept in\n"
    "GLIA_HOME/envs.json. docs/kubernetes.md#glia-deploy---env\n"
    "\n"
    "An environment may instead be another glia daemon, reached at the\n"
    "address of its `glia up --admin-listen` with its GLIA_HOME/token: then\n"
    "every command given --env NAME (or -e NAME) talks to that daemon.\n"
    "--env local is the local daemon. Without --env, commands use the\n"
    "default env: local, or the one set with glia env default NAME (glia up\n"
    "and glia down always mean the local daemon). docs/cli.md#environments\n";

/* getopt's state back to its defaults (permuting): glia build and glia
 * render, which run after it in this process, set only optind. */
static void reset_getopt(void)
{
	char *none[] = {"glia", NULL};

	optind = 0;
	getopt(1, none, "");
	optind = 1;
}

/* Options that keep their value, by getopt's code. */
static const struct {
	int c;
	size_t off;
} str_opts[] = {
    {'H', offsetof(env_args, home)},     {'E', offsetof(env_args, env)},
    {'c', offsetof(env_args, context)},  {'n', offsetof(env_args, ns)},
    {'r', offsetof(env_args, registry)}, {'t', offsetof(env_args, timeout)},
    {'i', offsetof(env_args, image)},    {'T', offsetof(env_args, tail)},
    {'e', offsetof(env_args, env)},      {'U', offsetof(env_args, url)},
    {'K', offsetof(env_args, token)},    {'G', offsetof(env_args, gateway)},
};

/* One option (c from getopt_long, v its value); -1 when it is bad. */
static int set_opt(env_args *a, int c, const char *v)
{
	for (size_t i = 0; i < sizeof str_opts / sizeof str_opts[0]; i++)
		if (str_opts[i].c == c) {
			*(const char **)((char *)a + str_opts[i].off) = v;
			return 0;
		}
	if (c == 1 && a->n_pos < 4)
		a->pos[a->n_pos++] = v;
	else if (c == 'k' || c == 'f' || c == 'h' || c == 'j')
		*(c == 'k'   ? &a->kubernetes
		  : c == 'f' ? &a->follow
		  : c == 'h' ? &a->help
		             : &a->json) = 1;
	else if (c == 'o' &&
	         (strcmp(v, "json") == 0 || strcmp(v, "table") == 0))
		a->json = strcmp(v, "json") == 0;
	else if (c != 'w' && c != 'y') /* --env always waits; no prompts */
		return -1;
	return 0;
}

static int parse_args(int argc, char **argv, env_args *a)
{
	static const struct option opts[] = {
	    {"home", required_argument, NULL, 'H'},
	    {"env", required_argument, NULL, 'E'},
	    {"kubernetes", no_argument, NULL, 'k'},
	    {"context", required_argument, NULL, 'c'},
	    {"namespace", required_argument, NULL, 'n'},
	    {"registry", required_argument, NULL, 'r'},
	    {"timeout", required_argument, NULL, 't'},
	    {"image", required_argument, NULL, 'i'},
	    {"tail", required_argument, NULL, 'T'},
	    {"output", required_argument, NULL, 'o'},
	    {"json", no_argument, NULL, 'j'},
	    {"follow", no_argument, NULL, 'f'},
	    {"force", no_argument, NULL, 'f'},
	    {"wait", no_argument, NULL, 'w'},
	    {"yes", no_argument, NULL, 'y'},
	    {"url", required_argument, NULL, 'U'},
	    {"operator-endpoint", required_argument, NULL, 'U'},
	    {"token", required_argument, NULL, 'K'},
	    {"gateway", required_argument, NULL, 'G'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	int c;

	memset(a, 0, sizeof(*a));
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "-o:fhwye:", opts, NULL)) != -1)
		if (set_opt(a, c, optarg) < 0)
			goto bad;
	reset_getopt();
	return 0;
bad:
	c = optind - 1;
	reset_getopt();
	fprintf(stderr, "glia: bad option or argument %s\n\n%s", argv[c],
	        env_usage);
	return -1;
}

/* ---- running programs ---- */

typedef struct argvec {
	char *v[MAX_ARGS + 1];
	int n;
} argvec;

static void av_add(argvec *a, const char *s)
{
	if (a->n < MAX_ARGS)
		a->v[a->n++] = glia_strdup(s);
	a->v[a->n] = NULL;
}

static void av_addf(argvec *a, const char *fmt, const char *s)
{
	char *v = glia_sprintf(fmt, s);
	av_add(a, v);
	free(v);
}

static void av_free(argvec *a)
{
	for (int i = 0; i < a->n; i++)
		free(a->v[i]);
	a->n = 0;
}

static void echo(const argvec *a)
{
	fputs(strcmp(a->v[0], "render") == 0 || strcmp(a->v[0], "build") == 0
	          ? "+ glia"
	          : "+",
	      stderr);
	for (int i = 0; i < a->n; i++)
		fprintf(stderr, " %s", a->v[i]);
	fputs("\n", stderr);
}

static int wait_child(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Runs a (stdout onto stderr when quiet, stdout into out when out is
 * given); its exit status, 127 when it is not installed. fn, when given,
 * runs in the child instead of a program (glia build, glia render). */
static int run(const argvec *a, int quiet, glia_buf *out,
               int (*fn)(int, char **))
{
	int p[2] = {-1, -1};
	pid_t pid;

	fflush(stdout);
	if (out && pipe2(p, O_CLOEXEC) < 0)
		return -1;
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		if (out)
			dup2(p[1], 1);
		else if (quiet)
			dup2(2, 1);
		if (fn) {
			int rc = fn(a->n, (char **)a->v);
			fflush(NULL);
			_exit(rc);
		}
		execvp(a->v[0], (char **)a->v);
		fprintf(stderr, "glia: cannot run %s: %s\n", a->v[0],
		        strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	if (out) {
		char chunk[8192];
		ssize_t got;
		close(p[1]);
		while ((got = read(p[0], chunk, sizeof chunk)) != 0)
			if (got > 0)
				glia_buf_append(out, chunk, (size_t)got);
			else if (errno != EINTR)
				break;
		close(p[0]);
	}
	return wait_child(pid);
}

/* ---- the environments file ---- */

static char *envs_path(const env_args *a)
{
	char *home = glia_home_dir(a->home);
	char *path = glia_sprintf("%s/%s", home, ENVS_FILE);
	free(home);
	return path;
}

/* The file's object (a new empty one when there is no file); NULL after
 * explaining. */
static json_t *envs_load(const char *path)
{
	json_error_t jerr;
	json_t *root;

	if (access(path, F_OK) < 0 && errno == ENOENT)
		return json_object();
	root = json_load_file(path, 0, &jerr);
	if (!root || !json_is_object(root)) {
		fprintf(stderr, "glia: %s: %s\n", path,
		        root ? "not a JSON object" : jerr.text);
		json_decref(root);
		return NULL;
	}
	return root;
}

static int envs_save(const char *path, json_t *root)
{
	char *dir = glia_strdup(path);
	char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	char *file = glia_sprintf("%s\n", text);
	int rc;

	*strrchr(dir, '/') = '\0';
	rc = glia_mkdirs(dir, 0700) == 0 &&
	             glia_write_file_private(path, file, strlen(file)) == 0
	         ? 0
	         : -1;
	if (rc < 0)
		fprintf(stderr, "glia: %s: %s\n", path, strerror(errno));
	free(file);
	free(text);
	free(dir);
	return rc;
}

/* ---- glia env ---- */

static int name_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max || s[0] == '-' || s[n - 1] == '-')
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

static int value_ok(const char *s)
{
	return s && *s && !strpbrk(s, " \t\r\n") && s[0] != '-';
}

/* A remote daemon's address: http://HOST:PORT, nothing after the port. */
static int url_ok(const char *url)
{
	char host[256], *path = NULL;
	int port, ok;

	if (strlen(url) > 1024 ||
	    glia_client_parse_url(url, host, sizeof host, &port, &path) < 0)
		return 0;
	ok = strcmp(path, "/") == 0 && !strpbrk(url, " \t\r\n");
	free(path);
	return ok;
}

/* The length of "http://HOST:PORT" in a URL url_ok accepted (which may
 * end in one '/'). */
static size_t origin_len(const char *url)
{
	const char *host = url + strlen("http://");

	return (size_t)(host - url) + strcspn(host, "/");
}

static int check_remote(const env_args *a)
{
	const char *bad = NULL;

	if (a->kubernetes || a->context || a->ns || a->registry)
		bad = "--url: not with --kubernetes and its options";
	else if (!url_ok(a->url))
		bad = "--url: http://HOST:PORT (the daemon's --admin-listen)";
	else if (!a->token || !value_ok(a->token) || strlen(a->token) > 512)
		bad = "--token: the daemon's GLIA_HOME/token";
	else if (a->gateway && !url_ok(a->gateway))
		bad = "--gateway: http://HOST:PORT (its gateway, from here)";
	if (bad)
		fprintf(stderr, "glia env add: bad or missing %s\n\n%s", bad,
		        env_usage);
	return bad ? -1 : 0;
}

static int check_add(const env_args *a)
{
	const char *bad = NULL;

	if (a->n_pos != 3 || !name_ok(a->pos[2], 63) ||
	    strcmp(a->pos[2], "local") == 0)
		bad = "NAME: lower-case letters, digits and '-', not local";
	else if (a->url)
		return check_remote(a);
	else if (!a->kubernetes || a->token || a->gateway)
		bad = "--kubernetes, or --url and --token";
	else if (a->context && !value_ok(a->context))
		bad = "--context";
	else if (a->ns && !name_ok(a->ns, 63))
		bad = "--namespace: a DNS label";
	else if (a->registry && !value_ok(a->registry))
		bad = "--registry";
	if (bad)
		fprintf(stderr, "glia env add: bad or missing %s\n\n%s", bad,
		        env_usage);
	return bad ? -1 : 0;
}

/* {"provider": "glia", "url", "token", "gateway"?}; the token is never
 * printed. */
static int env_add_remote(const env_args *a, const char *path)
{
	json_t *root = envs_load(path), *e;
	int rc;

	if (!root)
		return 1;
	e = json_pack("{s:s, s:s, s:s}", "provider", "glia", "url", a->url,
	              "token", a->token);
	if (a->gateway) /* kept without a final '/': endpoints start with one */
		json_object_set_new(e, "gateway",
		                    json_stringn(a->gateway, origin_len(a->gateway)));
	json_object_set_new(root, a->pos[2], e);
	rc = envs_save(path, root) < 0 ? 1 : 0;
	if (rc == 0)
		printf("env %s: glia daemon at %s\n", a->pos[2], a->url);
	json_decref(root);
	return rc;
}

static int env_add(const env_args *a, const char *path)
{
	json_t *root, *e;
	int rc;

	if (check_add(a) < 0)
		return 2;
	if (a->url)
		return env_add_remote(a, path);
	if (!(root = envs_load(path)))
		return 1;
	e = json_pack("{s:s, s:s}", "provider", "kubernetes", "namespace",
	              a->ns ? a->ns : "default");
	if (a->context)
		json_object_set_new(e, "context", json_string(a->context));
	if (a->registry)
		json_object_set_new(e, "registry", json_string(a->registry));
	json_object_set_new(root, a->pos[2], e);
	rc = envs_save(path, root) < 0 ? 1 : 0;
	if (rc == 0)
		printf("env %s: kubernetes (context %s, namespace %s, "
		       "registry %s)\n",
		       a->pos[2], a->context ? a->context : "current",
		       a->ns ? a->ns : "default",
		       a->registry ? a->registry : "none");
	json_decref(root);
	return rc;
}

static const char *field(json_t *e, const char *key)
{
	return json_string_value(json_object_get(e, key));
}

/* The default env kept in root (glia env default): "local" when none. */
static const char *default_name(json_t *root)
{
	const char *d = json_string_value(json_object_get(root, DEFAULT_KEY));
	return d && *d ? d : "local";
}

/* Env name of root (an object; never the reserved key), or NULL. */
static json_t *env_entry(json_t *root, const char *name)
{
	json_t *e = json_object_get(root, name);
	return json_is_object(e) ? e : NULL;
}

static int env_list(const env_args *a, const char *path)
{
	json_t *root = envs_load(path), *e;
	const char *name;
	char *dflt;
	glia_cli_table t;
	glia_buf out;

	if (!root)
		return 1;
	json_object_foreach(root, name, e)
		json_object_del(e, "token"); /* never printed */
	/* the default: "default": true on its entry, a line under the table */
	if ((e = env_entry(root, default_name(root))))
		json_object_set_new(e, "default", json_true());
	dflt = glia_strdup(default_name(root));
	json_object_del(root, DEFAULT_KEY);
	if (a->json) {
		free(dflt);
		json_dumpf(root, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		fputs("\n", stdout);
		json_decref(root);
		return 0;
	}
	glia_cli_table_init(&t, 5);
	glia_cli_table_cell(&t, "NAME");
	glia_cli_table_cell(&t, "PROVIDER");
	glia_cli_table_cell(&t, "CONTEXT");
	glia_cli_table_cell(&t, "NAMESPACE");
	glia_cli_table_cell(&t, "REGISTRY");
	json_object_foreach(root, name, e)
	{
		glia_cli_table_cell(&t, name);
		glia_cli_table_cell(&t, field(e, "provider"));
		glia_cli_table_cell(&t, field(e, "url") ? field(e, "url")
		                                        : field(e, "context"));
		glia_cli_table_cell(&t, field(e, "namespace"));
		glia_cli_table_cell(&t, field(e, "registry"));
	}
	glia_buf_init(&out, 0);
	glia_cli_table_format(&t, &out);
	fputs(out.data ? out.data : "", stdout);
	printf("default env: %s\n", dflt);
	free(dflt);
	glia_buf_free(&out);
	glia_cli_table_free(&t);
	json_decref(root);
	return 0;
}

static int env_remove(const env_args *a, const char *path)
{
	json_t *root;
	int rc = 1, was_default;

	if (a->n_pos != 3) {
		fprintf(stderr, "glia env remove: one NAME\n\n%s", env_usage);
		return 2;
	}
	if (!(root = envs_load(path)))
		return 1;
	was_default = strcmp(default_name(root), a->pos[2]) == 0;
	if (was_default)
		json_object_del(root, DEFAULT_KEY);
	if (!env_entry(root, a->pos[2]) ||
	    json_object_del(root, a->pos[2]) < 0)
		fprintf(stderr, "glia: no env named %s\n", a->pos[2]);
	else if (envs_save(path, root) == 0) {
		printf("env %s removed (nothing in its cluster was "
		       "touched)%s\n",
		       a->pos[2],
		       was_default ? "; it was the default env: the default "
		                     "is local again"
		                   : "");
		rc = 0;
	}
	json_decref(root);
	return rc;
}

/* Cortex's env rename OLD NEW (NEW replaced when it exists, like add). */
static int env_rename(const env_args *a, const char *path)
{
	json_t *root, *e;
	int rc = 1;

	if (a->n_pos != 4 || !name_ok(a->pos[3], 63) ||
	    strcmp(a->pos[3], "local") == 0) {
		fprintf(stderr, "glia env rename: OLD NEW (NEW: lower-case "
		                "letters, digits and '-', not local)\n\n%s",
		        env_usage);
		return 2;
	}
	if (!(root = envs_load(path)))
		return 1;
	if (!(e = env_entry(root, a->pos[2])))
		fprintf(stderr, "glia: no env named %s\n", a->pos[2]);
	else {
		int was_default = strcmp(default_name(root), a->pos[2]) == 0;
		json_object_set(root, a->pos[3], e);
		json_object_del(root, a->pos[2]);
		if (was_default) /* the default follows it */
			json_object_set_new(root, DEFAULT_KEY,
			                    json_string(a->pos[3]));
		if (envs_save(path, root) == 0) {
			printf("env %s renamed %s%s\n", a->pos[2], a->pos[3],
			       was_default ? " (the default env)" : "");
			rc = 0;
		}
	}
	json_decref(root);
	return rc;
}

/* Cortex's env default [NAME]: with NAME (local, or a kept env) it
 * becomes the env of commands given no --env; without, it is printed. */
static int env_default(const env_args *a, const char *path)
{
	const char *name = a->n_pos > 2 ? a->pos[2] : NULL;
	json_t *root;
	int rc = 1;

	if (a->n_pos > 3) {
		fprintf(stderr, "glia env default: at most one NAME\n\n%s",
		        env_usage);
		return 2;
	}
	if (!(root = envs_load(path)))
		return 1;
	if (!name) {
		printf("%s\n", default_name(root));
		rc = 0;
	} else if (strcmp(name, "local") != 0 && !env_entry(root, name)) {
		fprintf(stderr, "glia: no env named %s (glia env list)\n",
		        name);
	} else {
		int same = strcmp(name, default_name(root)) == 0;
		if (strcmp(name, "local") == 0)
			json_object_del(root, DEFAULT_KEY);
		else
			json_object_set_new(root, DEFAULT_KEY, json_string(name));
		rc = same || envs_save(path, root) == 0 ? 0 : 1;
	}
	if (name && rc == 0)
		printf("default env: %s\n", name);
	json_decref(root);
	return rc;
}

static int env_main(const env_args *a)
{
	char *path = envs_path(a);
	const char *sub = a->n_pos > 1 ? a->pos[1] : "";
	int rc = 2;

	if (a->help || !*sub)
		fputs(env_usage, a->help ? stdout : stderr);
	else if (strcmp(sub, "add") == 0 || strcmp(sub, "configure") == 0)
		rc = env_add(a, path);
	else if (strcmp(sub, "list") == 0 || strcmp(sub, "ls") == 0)
		rc = env_list(a, path);
	else if (strcmp(sub, "rename") == 0)
		rc = env_rename(a, path);
	else if (strcmp(sub, "default") == 0)
		rc = env_default(a, path);
	else if (strcmp(sub, "remove") == 0 || strcmp(sub, "rm") == 0 ||
	         strcmp(sub, "delete") == 0)
		rc = env_remove(a, path);
	else
		fprintf(stderr, "glia env: unknown command %s\n\n%s", sub,
		        env_usage);
	free(path);
	return a->help ? 0 : rc;
}

/* ---- one environment ---- */

typedef struct kenv {
	const char *name, *context, *ns, *registry;
	json_t *root; /* owns the strings */
} kenv;

static int kenv_load(const env_args *a, kenv *k)
{
	char *path = envs_path(a);
	json_t *e;

	memset(k, 0, sizeof(*k));
	k->root = envs_load(path);
	e = k->root ? env_entry(k->root, a->env) : NULL;
	if (k->root && !e)
		fprintf(stderr,
		        "glia: no env named %s in %s (glia env add %s "
		        "--kubernetes ...)\n",
		        a->env, path, a->env);
	free(path);
	if (!e)
		return -1;
	k->name = a->env;
	k->context = field(e, "context");
	k->ns = field(e, "namespace") ? field(e, "namespace") : "default";
	k->registry = field(e, "registry");
	return 0;
}

/* "kubectl [--context CTX]" then verb. */
static void kubectl(argvec *v, const kenv *k, const char *verb)
{
	av_add(v, "kubectl");
	if (k->context) {
		av_add(v, "--context");
		av_add(v, k->context);
	}
	av_add(v, verb);
}

/* kubectl get WHAT -n NS -l SELECTOR -o json: its items, or NULL after
 * explaining. */
static json_t *kube_items(const kenv *k, const char *what, const char *sel)
{
	argvec v = {0};
	glia_buf out;
	json_t *doc = NULL, *items = NULL;

	kubectl(&v, k, "get");
	av_add(&v, what);
	av_add(&v, "-n");
	av_add(&v, k->ns);
	av_add(&v, "-l");
	av_add(&v, sel);
	av_add(&v, "-o");
	av_add(&v, "json");
	glia_buf_init(&out, KUBE_OUTPUT_MAX);
	if (run(&v, 0, &out, NULL) == 0 && out.data)
		doc = json_loads(out.data, 0, NULL);
	items = json_incref(json_object_get(doc, "items"));
	if (!json_is_array(items))
		fprintf(stderr, "glia: kubectl get %s failed in env %s\n", what,
		        k->name);
	json_decref(doc);
	glia_buf_free(&out);
	av_free(&v);
	return json_is_array(items) ? items : (json_decref(items), NULL);
}

/* The gateway's /metrics through the API server's service proxy; NULL
 * when it does not answer (the figures are then "-"). */
static char *gateway_metrics(const kenv *k)
{
	argvec v = {0};
	glia_buf out;
	char *path =
	    glia_sprintf("/api/v1/namespaces/%s/services/" GATEWAY ":%d/proxy/"
	                 "metrics",
	                 k->ns, GATEWAY_PORT);

	kubectl(&v, k, "get");
	av_add(&v, "--raw");
	av_add(&v, path);
	glia_buf_init(&out, KUBE_OUTPUT_MAX);
	if (run(&v, 0, &out, NULL) != 0) {
		glia_buf_free(&out);
		out.data = NULL;
	}
	av_free(&v);
	free(path);
	return out.data;
}

/* ---- the gateway's figures ---- */

typedef struct traffic {
	double requests, errors, in_flight, queued;
} traffic;

/* Whether line (after the family name) carries api="API"; *code gets the
 * code label's first digit ('\0' when none). */
static int line_api(const char *labels, const char *api, char *code)
{
	char *want = glia_sprintf("api=\"%s\"", api);
	const char *end = strchr(labels, '}');
	const char *at = strstr(labels, want);
	const char *c = strstr(labels, "code=\"");
	int ok = at && end && at < end &&
	         (at[strlen(want)] == ',' || at[strlen(want)] == '}');

	*code = c && end && c < end ? c[6] : '\0';
	free(want);
	return ok;
}

static void traffic_of(const char *metrics, const char *api, traffic *t)
{
	static const char *const fam[] = {"glia_requests_total{",
	                                  "glia_in_flight_requests{",
	                                  "glia_queued_requests{"};
	const char *line = metrics;

	memset(t, 0, sizeof(*t));
	for (; line && *line; line = strchr(line, '\n'), line += !!line) {
		for (size_t i = 0; i < 3; i++) {
			size_t n = strlen(fam[i]);
			char code;
			if (strncmp(line, fam[i], n) != 0 ||
			    !line_api(line + n, api, &code))
				continue;
			double v = strtod(strchr(line + n, '}') + 1, NULL);
			if (i == 0) {
				t->requests += v;
				t->errors += code == '5' ? v : 0;
			} else
				*(i == 1 ? &t->in_flight : &t->queued) += v;
		}
	}
}

/* ---- get ---- */

static long long jint(json_t *o, const char *path1, const char *path2)
{
	json_t *v = json_object_get(json_object_get(o, path1), path2);
	return json_is_integer(v) ? json_integer_value(v) : 0;
}

static const char *api_of(json_t *obj)
{
	return json_string_value(json_object_get(
	    json_object_get(json_object_get(obj, "metadata"), "labels"),
	    "glia.dev/api"));
}

static const char *kind_of(json_t *obj)
{
	return json_string_value(json_object_get(obj, "kind"));
}

static json_t *find_item(json_t *items, const char *kind, const char *api)
{
	size_t i;
	json_t *o;

	json_array_foreach(items, i,
	                   o) if (kind_of(o) && api_of(o) &&
	                          strcmp(kind_of(o), kind) == 0 &&
	                          strcmp(api_of(o), api) == 0) return o;
	return NULL;
}

static const char *status_of(json_t *dep)
{
	long long want = jint(dep, "spec", "replicas");
	long long ready = jint(dep, "status", "readyReplicas");
	long long updated = jint(dep, "status", "updatedReplicas");

	if (want == 0)
		return "scaled to zero";
	if (updated < want)
		return "updating";
	return ready >= want ? "live" : "starting";
}

/* One API's row as JSON: name, status, replicas, ready, min, max and
 * the traffic figures (null when the gateway did not answer). */
static json_t *api_row(json_t *items, json_t *dep, const char *metrics)
{
	const char *api = api_of(dep);
	json_t *so = find_item(items, "ScaledObject", api);
	json_t *row = json_pack(
	    "{s:s, s:s, s:I, s:I}", "name", api, "status", status_of(dep),
	    "replicas", (json_int_t)jint(dep, "spec", "replicas"), "ready",
	    (json_int_t)jint(dep, "status", "readyReplicas"));
	traffic t;

	json_object_set_new(
	    row, "min_replicas",
	    so ? json_integer(jint(so, "spec", "minReplicaCount"))
	       : json_null());
	json_object_set_new(
	    row, "max_replicas",
	    so ? json_integer(jint(so, "spec", "maxReplicaCount"))
	       : json_null());
	if (metrics) {
		traffic_of(metrics, api, &t);
		json_object_set_new(row, "requests", json_real(t.requests));
		json_object_set_new(row, "errors_5xx", json_real(t.errors));
		json_object_set_new(row, "in_flight", json_real(t.in_flight));
		json_object_set_new(row, "queued", json_real(t.queued));
	}
	return row;
}

static json_t *api_rows(json_t *items, const char *metrics)
{
	json_t *rows = json_array(), *o;
	size_t i;

	json_array_foreach(items, i, o)
	{
		if (api_of(o) && kind_of(o) &&
		    strcmp(kind_of(o), "Deployment") == 0)
			json_array_append_new(rows, api_row(items, o, metrics));
	}
	return rows;
}

static void cell_num(glia_cli_table *t, json_t *row, const char *key)
{
	json_t *v = json_object_get(row, key);
	char s[32];

	if (json_is_real(v))
		glia_cli_format_count((long long)json_real_value(v), s,
		                      sizeof s);
	else if (json_is_integer(v))
		snprintf(s, sizeof s, "%lld", (long long)json_integer_value(v));
	else
		snprintf(s, sizeof s, "-");
	glia_cli_table_cell(t, s);
}

static void print_rows(json_t *rows)
{
	static const char *const head[] = {"API", "STATUS",    "REPLICAS",
	                                   "MIN", "MAX",       "REQUESTS",
	                                   "5XX", "IN-FLIGHT", "QUEUED"};
	glia_cli_table t;
	glia_buf out;
	json_t *r;
	size_t i;

	glia_cli_table_init(&t, 9);
	for (i = 0; i < 9; i++)
		glia_cli_table_cell(&t, head[i]);
	json_array_foreach(rows, i, r)
	{
		glia_cli_table_cell(&t, field(r, "name"));
		glia_cli_table_cell(&t, field(r, "status"));
		glia_cli_table_cellf(
		    &t, "%lld/%lld",
		    (long long)json_integer_value(json_object_get(r, "ready")),
		    (long long)json_integer_value(
		        json_object_get(r, "replicas")));
		cell_num(&t, r, "min_replicas");
		cell_num(&t, r, "max_replicas");
		cell_num(&t, r, "requests");
		cell_num(&t, r, "errors_5xx");
		cell_num(&t, r, "in_flight");
		cell_num(&t, r, "queued");
	}
	glia_buf_init(&out, 0);
	glia_cli_table_format(&t, &out);
	fputs(out.data ? out.data : "", stdout);
	glia_buf_free(&out);
	glia_cli_table_free(&t);
}

static int env_get(const env_args *a, const kenv *k)
{
	json_t *items = kube_items(k, "deployment,scaledobject", MANAGED);
	char *metrics;
	json_t *rows;

	if (!items)
		return 1;
	metrics = gateway_metrics(k);
	rows = api_rows(items, metrics);
	if (a->json) {
		json_t *doc = json_pack("{s:s, s:s, s:O}", "env", k->name,
		                        "namespace", k->ns, "apis", rows);
		json_dumpf(doc, stdout, JSON_INDENT(2));
		fputs("\n", stdout);
		json_decref(doc);
	} else if (json_array_size(rows) == 0)
		printf("no APIs in env %s (namespace %s)\n", k->name, k->ns);
	else
		print_rows(rows);
	if (!metrics)
		fprintf(stderr, "glia: the gateway's /metrics did not answer "
		                "through the API server: no traffic figures\n");
	json_decref(rows);
	json_decref(items);
	free(metrics);
	return 0;
}

/* ---- describe ---- */

static void print_pods(json_t *items)
{
	glia_cli_table t;
	glia_buf out;
	json_t *p;
	size_t i;

	glia_cli_table_init(&t, 5);
	glia_cli_table_cell(&t, "POD");
	glia_cli_table_cell(&t, "PHASE");
	glia_cli_table_cell(&t, "READY");
	glia_cli_table_cell(&t, "RESTARTS");
	glia_cli_table_cell(&t, "NODE");
	json_array_foreach(items, i, p)
	{
		if (!kind_of(p) || strcmp(kind_of(p), "Pod") != 0)
			continue;
		json_t *cs =
		    json_array_get(json_object_get(json_object_get(p, "status"),
		                                   "containerStatuses"),
		                   0);
		glia_cli_table_cell(
		    &t, field(json_object_get(p, "metadata"), "name"));
		glia_cli_table_cell(
		    &t, field(json_object_get(p, "status"), "phase"));
		glia_cli_table_cell(
		    &t,
		    json_is_true(json_object_get(cs, "ready")) ? "yes" : "no");
		glia_cli_table_cellf(&t, "%lld",
		                     (long long)json_integer_value(
		                         json_object_get(cs, "restartCount")));
		glia_cli_table_cell(
		    &t, field(json_object_get(p, "spec"), "nodeName"));
	}
	glia_buf_init(&out, 0);
	glia_cli_table_format(&t, &out);
	fputs(out.data ? out.data : "", stdout);
	glia_buf_free(&out);
	glia_cli_table_free(&t);
}

static void print_detail(const kenv *k, json_t *row, json_t *dep)
{
	json_t *c = json_array_get(
	    json_object_get(
	        json_object_get(
	            json_object_get(json_object_get(dep, "spec"), "template"),
	            "spec"),
	        "containers"),
	    0);

	printf("API:        %s\n", field(row, "name"));
	printf("env:        %s (kubernetes, context %s, namespace %s)\n",
	       k->name, k->context ? k->context : "current", k->ns);
	printf("status:     %s\n", field(row, "status"));
	printf("image:      %s\n", c ? field(c, "image") : "-");
	printf("replicas:   %lld ready of %lld",
	       (long long)json_integer_value(json_object_get(row, "ready")),
	       (long long)json_integer_value(json_object_get(row, "replicas")));
	if (json_is_integer(json_object_get(row, "min_replicas")))
		printf(" (min %lld, max %lld)",
		       (long long)json_integer_value(
		           json_object_get(row, "min_replicas")),
		       (long long)json_integer_value(
		           json_object_get(row, "max_replicas")));
	printf("\n");
	if (json_is_real(json_object_get(row, "requests")))
		printf("traffic:    %.0f requests, %.0f 5xx, %.0f in flight, "
		       "%.0f queued\n",
		       json_real_value(json_object_get(row, "requests")),
		       json_real_value(json_object_get(row, "errors_5xx")),
		       json_real_value(json_object_get(row, "in_flight")),
		       json_real_value(json_object_get(row, "queued")));
	else
		printf("traffic:    - (the gateway's /metrics did not "
		       "answer)\n");
}

static int env_describe(const env_args *a, const kenv *k, const char *api)
{
	char *sel = glia_sprintf("glia.dev/api=%s", api);
	json_t *items = kube_items(k, "deployment,scaledobject,pod", sel);
	json_t *dep = items ? find_item(items, "Deployment", api) : NULL;
	char *metrics = NULL;
	int rc = 1;

	if (items && !dep)
		fprintf(stderr,
		        "glia: no API named %s in env %s (namespace "
		        "%s)\n",
		        api, k->name, k->ns);
	if (dep) {
		metrics = gateway_metrics(k);
		json_t *row = api_row(items, dep, metrics);
		if (a->json) {
			json_object_set(row, "objects", items);
			json_dumpf(row, stdout, JSON_INDENT(2));
			fputs("\n", stdout);
		} else {
			print_detail(k, row, dep);
			print_pods(items);
		}
		json_decref(row);
		rc = 0;
	}
	json_decref(items);
	free(metrics);
	free(sel);
	return rc;
}

/* ---- logs, delete ---- */

static int env_logs(const env_args *a, const kenv *k, const char *api)
{
	argvec v = {0};

	kubectl(&v, k, "logs");
	av_add(&v, "-n");
	av_add(&v, k->ns);
	av_add(&v, "-l");
	av_addf(&v, "glia.dev/api=%s", api);
	av_add(&v, "--prefix");
	av_addf(&v, "--tail=%s", a->tail ? a->tail : "-1");
	if (a->follow)
		av_add(&v, "-f");
	fflush(stdout);
	execvp(v.v[0], v.v);
	fprintf(stderr, "glia: cannot run kubectl: %s\n", strerror(errno));
	av_free(&v);
	return 1;
}

static int env_delete(const kenv *k, const char *api)
{
	argvec v = {0};
	int rc;

	kubectl(&v, k, "delete");
	av_add(&v, "deployment,service,poddisruptionbudget,scaledobject");
	av_add(&v, "-n");
	av_add(&v, k->ns);
	av_add(&v, "-l");
	av_addf(&v, "glia.dev/api=%s", api);
	echo(&v);
	rc = run(&v, 1, NULL, NULL);
	av_free(&v);
	if (rc != 0) {
		fprintf(stderr, "glia: kubectl delete failed (status %d)\n",
		        rc);
		return 1;
	}
	printf("deleted %s from env %s\n", api, k->name);
	return 0;
}

/* ---- deploy ---- */

/* REG/glia-<dir>:<UTC time>, or glia-<dir>:<UTC time> without a
 * registry. */
static char *image_tag(const kenv *k, const char *dir)
{
	const char *slash = strrchr(dir, '/');
	char *name =
	    glia_build_default_tag(slash && slash[1] ? slash + 1 : "app");
	char stamp[32], *tag;
	time_t now = time(NULL);
	struct tm tm;

	*strrchr(name, ':') = '\0';
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
	tag = k->registry ? glia_sprintf("%s/%s:%s", k->registry, name, stamp)
	                  : glia_sprintf("%s:%s", name, stamp);
	free(name);
	return tag;
}

/* A registry named host:port or localhost is spoken to without TLS. */
static int plain_registry(const char *reg)
{
	size_t host = strcspn(reg, "/");

	return memchr(reg, ':', host) != NULL ||
	       (host == 9 && strncmp(reg, "localhost", 9) == 0);
}

static int build_and_push(const kenv *k, const char *file, const char *tag)
{
	const char *engine = glia_build_engine(NULL);
	argvec v = {0};
	int rc;

	if (!engine)
		return -1;
	av_add(&v, "build");
	av_add(&v, "-t");
	av_add(&v, tag);
	av_add(&v, "--engine");
	av_add(&v, engine);
	av_add(&v, file);
	echo(&v);
	rc = run(&v, 1, NULL, glia_build_main);
	av_free(&v);
	if (rc != 0 || !k->registry)
		return rc == 0 ? 0 : -1;
	av_add(&v, engine);
	av_add(&v, "push");
	if (strcmp(engine, "docker") != 0 && plain_registry(k->registry))
		av_add(&v, "--tls-verify=false");
	av_add(&v, tag);
	echo(&v);
	rc = run(&v, 1, NULL, NULL);
	av_free(&v);
	if (rc != 0)
		fprintf(stderr, "glia: %s push failed (status %d)\n", engine,
		        rc);
	return rc == 0 ? 0 : -1;
}

/* DIR/00-namespace.yaml: the namespace, applied first, so that a new one
 * needs nothing beforehand ("default" is left alone). */
static int write_namespace(const kenv *k, const char *dir)
{
	json_t *ns =
	    json_pack("[{s:s, s:s, s:{s:s, s:{s:s}}}]", "apiVersion", "v1",
	              "kind", "Namespace", "metadata", "name", k->ns, "labels",
	              "app.kubernetes.io/managed-by", "glia");
	char *yaml = glia_render_yaml(ns);
	char *path = glia_sprintf("%s/00-namespace.yaml", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	int rc =
	    fd >= 0 && glia_write_all(fd, yaml, strlen(yaml)) == 0 ? 0 : -1;

	if (fd >= 0 && close(fd) < 0)
		rc = -1;
	if (rc < 0)
		fprintf(stderr, "glia: %s: %s\n", path, strerror(errno));
	json_decref(ns);
	free(yaml);
	free(path);
	return rc;
}

/* DIR/01-api-keys.yaml: the Secret the gateway mounts, from the local
 * daemon's keys. When they cannot be read, a warning: the cluster keeps
 * the Secret it has (one applied by hand, say). */
static void write_keys_secret(const kenv *k, const char *home, const char *dir)
{
	char *keys = glia_keys_export_text(home);
	if (!keys) {
		fprintf(stderr,
		        "glia: warning: an API has networking.auth: api_key "
		        "but the local keys could not be read (above): the "
		        "Secret " GLIA_RENDER_KEYS_SECRET " is not applied and "
		        "the cluster keeps the one it has\n");
		return;
	}
	json_t *list = json_array();
	json_array_append_new(list, glia_render_keys_secret(keys, k->ns));
	char *yaml = glia_render_yaml(list);
	char *path = glia_sprintf("%s/01-api-keys.yaml", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || glia_write_all(fd, yaml, strlen(yaml)) < 0)
		fprintf(stderr, "glia: warning: %s: %s\n", path,
		        strerror(errno));
	if (fd >= 0)
		close(fd);
	json_decref(list);
	free(yaml);
	free(path);
	free(keys);
}

static int render_apply(const kenv *k, const char *home, const glia_project *p,
                        const char *tag)
{
	const char *file = p->file;
	const char *tmp = getenv("TMPDIR");
	char *dir =
	    glia_sprintf("%s/glia-deploy-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	argvec v = {0};
	int rc = -1;

	if (!mkdtemp(dir)) {
		fprintf(stderr, "glia: %s: %s\n", dir, strerror(errno));
		free(dir);
		return -1;
	}
	av_add(&v, "render");
	av_add(&v, "k8s");
	av_add(&v, file);
	av_add(&v, "-o");
	av_add(&v, dir);
	av_add(&v, "--image");
	av_add(&v, tag);
	av_add(&v, "--namespace");
	av_add(&v, k->ns);
	echo(&v);
	if (run(&v, 1, NULL, glia_render_main) == 0 &&
	    (strcmp(k->ns, "default") == 0 || write_namespace(k, dir) == 0)) {
		if (glia_render_needs_keys(p->specs, p->n))
			write_keys_secret(k, home, dir);
		av_free(&v);
		kubectl(&v, k, "apply");
		av_add(&v, "--server-side");
		av_add(&v, "--field-manager=glia");
		av_add(&v, "-f");
		av_add(&v, dir);
		echo(&v);
		rc = run(&v, 1, NULL, NULL) == 0 ? 0 : -1;
		if (rc < 0)
			fprintf(stderr, "glia: kubectl apply failed\n");
	}
	av_free(&v);
	glia_remove_tree(dir);
	free(dir);
	return rc;
}

static int rollout(const kenv *k, const char *deployment, long long secs)
{
	argvec v = {0};
	char t[48];
	int rc;

	kubectl(&v, k, "rollout");
	av_add(&v, "status");
	av_addf(&v, "deployment/%s", deployment);
	av_add(&v, "-n");
	av_add(&v, k->ns);
	snprintf(t, sizeof t, "--timeout=%llds", secs);
	av_add(&v, t);
	echo(&v);
	rc = run(&v, 1, NULL, NULL);
	av_free(&v);
	if (rc != 0)
		fprintf(stderr,
		        "glia: deployment/%s did not roll out in %llds "
		        "(glia describe %s --env %s)\n",
		        deployment, secs, deployment, k->name);
	return rc == 0 ? 0 : -1;
}

/* The address of the Gateway the HTTPRoute attaches to (render.c's
 * default, "glia", in the namespace), or NULL. */
static char *gateway_address(const kenv *k)
{
	argvec v = {0};
	glia_buf out;
	json_t *doc = NULL;
	char *addr = NULL;

	kubectl(&v, k, "get");
	av_add(&v, "gateways.gateway.networking.k8s.io/glia");
	av_add(&v, "-n");
	av_add(&v, k->ns);
	av_add(&v, "-o");
	av_add(&v, "json");
	glia_buf_init(&out, KUBE_OUTPUT_MAX);
	if (run(&v, 0, &out, NULL) == 0 && out.data)
		doc = json_loads(out.data, 0, NULL);
	const char *a =
	    field(json_array_get(json_object_get(json_object_get(doc, "status"),
	                                         "addresses"),
	                         0),
	          "value");
	if (a && *a)
		addr = glia_strdup(a);
	json_decref(doc);
	glia_buf_free(&out);
	av_free(&v);
	return addr;
}

static void print_endpoints(const kenv *k, const glia_project *p)
{
	char *addr = gateway_address(k);
	char *base = addr ? glia_sprintf("http://%s", addr)
	                  : glia_sprintf("http://" GATEWAY ".%s.svc.cluster."
	                                 "local:%d",
	                                 k->ns, GATEWAY_PORT);

	printf("deployed to env %s (namespace %s)\n", k->name, k->ns);
	for (size_t i = 0; i < p->n; i++)
		printf("%s: %s%s\n", p->specs[i].name, base,
		       p->specs[i].networking.endpoint);
	if (!addr)
		printf("(inside the cluster: the Gateway glia in %s has no "
		       "address yet; from here: kubectl port-forward -n %s "
		       "service/" GATEWAY " %d:%d)\n",
		       k->ns, k->ns, GATEWAY_PORT, GATEWAY_PORT);
	free(addr);
	free(base);
}

static int env_deploy(const env_args *a, const kenv *k)
{
	glia_project p = {0};
	char err[1024], *tag = NULL;
	int64_t ms = (int64_t)ROLLOUT_DEFAULT_S * 1000;
	int rc = 1;

	if (a->timeout &&
	    (glia_parse_duration_ms(a->timeout, &ms) < 0 || ms < 1000)) {
		fprintf(stderr, "glia deploy: bad --timeout %s\n", a->timeout);
		return 2;
	}
	if (glia_project_load(a->n_pos > 1 ? a->pos[1] : NULL, 1, &p, err,
	                      sizeof err) < 0) {
		fprintf(stderr, "glia deploy: %s\n", err);
		return 1;
	}
	tag = a->image ? glia_strdup(a->image) : image_tag(k, p.dir);
	if ((a->image || build_and_push(k, p.file, tag) == 0) &&
	    render_apply(k, a->home, &p, tag) == 0) {
		rc = 0;
		for (size_t i = 0; i < p.n && rc == 0; i++)
			if (!glia_spec_is_splitter(&p.specs[i]))
				rc = rollout(k, p.specs[i].name, ms / 1000);
		if (rc == 0 && (rc = rollout(k, GATEWAY, ms / 1000)) == 0)
			print_endpoints(k, &p);
		rc = rc ? 1 : 0;
	}
	free(tag);
	glia_project_free(&p);
	return rc;
}

/* ---- dispatch ---- */

static int env_command(const env_args *a)
{
	const char *cmd = a->pos[0];
	const char *api = a->n_pos > 1 ? a->pos[1] : NULL;
	int needs_api = strcmp(cmd, "describe") == 0 ||
	                strcmp(cmd, "logs") == 0 || strcmp(cmd, "delete") == 0;
	kenv k;
	int rc;

	if ((needs_api && (!api || a->n_pos > 2)) ||
	    (!needs_api && a->n_pos > 2)) {
		fprintf(stderr, "glia %s --env: %s\n\n%s", cmd,
		        needs_api ? "one API name" : "too many arguments",
		        env_usage);
		return 2;
	}
	if (kenv_load(a, &k) < 0) {
		json_decref(k.root);
		return 1;
	}
	if (strcmp(cmd, "deploy") == 0)
		rc = env_deploy(a, &k);
	else if (strcmp(cmd, "get") == 0)
		rc = api ? env_describe(a, &k, api) : env_get(a, &k);
	else if (strcmp(cmd, "describe") == 0)
		rc = env_describe(a, &k, api);
	else if (strcmp(cmd, "logs") == 0)
		rc = env_logs(a, &k, api);
	else
		rc = env_delete(&k, api);
	json_decref(k.root);
	return rc;
}

/* The value of option name (--env, or its short form sh) in argv, or
 * NULL: "--env NAME", "--env=NAME", "-e NAME". */
static const char *flag_value(int argc, char **argv, const char *name,
                              const char *sh)
{
	size_t n = strlen(name);

	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strncmp(argv[i], name, n) == 0 && argv[i][n] == '=')
			return argv[i] + n + 1;
		if ((strcmp(argv[i], name) == 0 ||
		     (sh && strcmp(argv[i], sh) == 0)))
			return i + 1 < argc ? argv[i + 1] : "";
	}
	return NULL;
}

/* The remote-daemon env NAME of envs.json into *r (malloc'd), 1; 0 when
 * NAME is not one (absent, or a Kubernetes env); -1 when the file cannot
 * be read (explained). */
static int remote_lookup(const char *home_flag, const char *name,
                         glia_remote_env *r)
{
	char *home = glia_home_dir(home_flag);
	char *path = glia_sprintf("%s/%s", home, ENVS_FILE);
	json_t *root = envs_load(path), *e;
	int rc = root ? 0 : -1;

	e = root ? env_entry(root, name) : NULL;
	if (e && field(e, "provider") && strcmp(field(e, "provider"), "glia") == 0 &&
	    field(e, "url") && field(e, "token")) {
		r->url = glia_strdup(field(e, "url"));
		r->token = glia_strdup(field(e, "token"));
		r->gateway = field(e, "gateway") ? glia_strdup(field(e, "gateway"))
		                                 : NULL;
		rc = 1;
	}
	json_decref(root);
	free(path);
	free(home);
	return rc;
}

void glia_remote_env_free(glia_remote_env *r)
{
	free(r->url);
	free(r->token);
	free(r->gateway);
	memset(r, 0, sizeof(*r));
}

int glia_env_remote(const char *home_flag, const char *name,
                    glia_remote_env *r)
{
	int rc;

	memset(r, 0, sizeof(*r));
	rc = remote_lookup(home_flag, name, r);

	if (rc == 0)
		fprintf(stderr,
		        "glia: no env named %s (glia env add %s --url URL "
		        "--token TOKEN; glia env list)\n",
		        name, name);
	return rc == 1 ? 0 : -1;
}

/* Whether --env NAME leaves the command to the CLI: NAME is local, or a
 * remote daemon (cli.c talks to it). */
static int env_is_cli(int argc, char **argv, const char *name)
{
	glia_remote_env r = {0};
	int rc;

	if (strcmp(name, "local") == 0)
		return 1;
	rc = remote_lookup(flag_value(argc, argv, "--home", NULL), name, &r);
	glia_remote_env_free(&r);
	return rc != 0; /* an unreadable file: the CLI explains */
}

int glia_env_dispatch(int argc, char **argv, int *status)
{
	static const char *const cmds[] = {"deploy", "get", "describe", "logs",
	                                   "delete"};
	int is_env = argc >= 2 && strcmp(argv[1], "env") == 0;
	const char *name = flag_value(argc, argv, "--env", "-e");
	env_args a;

	if (!is_env && (!name || env_is_cli(argc, argv, name)))
		return 0;
	if (parse_args(argc, argv, &a) < 0) {
		*status = 2;
		return 1;
	}
	if (is_env) {
		*status = env_main(&a);
		return 1;
	}
	for (size_t i = 0; a.n_pos > 0 && i < 5; i++) {
		if (strcmp(a.pos[0], cmds[i]) != 0)
			continue;
		*status =
		    a.help ? (fputs(env_usage, stdout), 0) : env_command(&a);
		return 1;
	}
	fprintf(stderr,
	        "glia: --env works with deploy, get, describe, logs and "
	        "delete\n\n%s",
	        env_usage);
	*status = 2;
	return 1;
}

/* Whether argv leaves the env as it is: it names one (--env NAME,
 * --env=NAME, -e NAME, -eNAME) before or after the command, or asks for
 * help. */
static int names_env(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if ((strncmp(argv[i], "--env", 5) == 0 &&
		     (argv[i][5] == '\0' || argv[i][5] == '=')) ||
		    strncmp(argv[i], "-e", 2) == 0 ||
		    strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return 1;
	return 0;
}

static int in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return 1;
	return 0;
}

char **glia_env_with_default(int argc, char **argv, int *n_argv, int *status)
{
	static const char *const cmds[] = {"version", "deploy",   "patch",
	                                   "get",     "describe", "logs",
	                                   "delete",  "refresh",  "predict"};
	static const char *const kube_cmds[] = {"deploy", "get", "describe",
	                                        "logs", "delete"};
	int cmd = glia_cli_command_index(argc, argv);
	char *home, *path, **v = argv;
	json_t *root, *e;
	const char *name, *provider;

	*n_argv = argc;
	if (!cmd || !in_list(argv[cmd], cmds, 9) || names_env(argc, argv))
		return argv;
	home = glia_home_dir(flag_value(argc, argv, "--home", NULL));
	path = glia_sprintf("%s/%s", home, ENVS_FILE);
	root = envs_load(path);
	free(path);
	free(home);
	if (!root) {
		*status = 1;
		return NULL;
	}
	name = default_name(root);
	e = env_entry(root, name);
	provider = field(e, "provider");
	if (strcmp(name, "local") == 0 ||
	    (e && provider && strcmp(provider, "glia") != 0 &&
	     strcmp(argv[cmd], "version") == 0)) {
		json_decref(root); /* version: this binary's, as Cortex's */
		return argv;
	}
	if (e && provider && strcmp(provider, "glia") != 0 &&
	    !in_list(argv[cmd], kube_cmds, 5)) {
		fprintf(
		    stderr,
		    "glia %s: the default env %s is a Kubernetes env, which "
		    "takes deploy, get, describe, logs and delete; give "
		    "--env local or a glia daemon's env (glia env default "
		    "NAME changes the default)\n",
		    argv[cmd], name);
		json_decref(root);
		*status = 2;
		return NULL;
	}
	v = glia_calloc((size_t)argc + 3, sizeof *v);
	v[0] = argv[0];
	v[1] = (char *)"--env"; /* first: before any "--" */
	v[2] = glia_strdup(name);
	for (int i = 1; i < argc; i++)
		v[i + 2] = argv[i];
	*n_argv = argc + 2;
	json_decref(root);
	return v;
}
