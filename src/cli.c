/* cli.c: the user commands (SPEC section 2) except `up` and `worker`. Each
 * command is one management API call or a short sequence of them
 * (docs/management-api.md); the pure parts (argument parsing, tables,
 * formatting) are declared in cli_internal.h for the unit tests. */
#include "cli.h"
#include "build.h"
#include "env.h"
#include "render.h"
#include "simulate.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_internal.h"
#include "client.h"
#include "config.h"
#include "daemon.h"
#include "http.h"
#include "project.h"
#include "util.h"

#define DEPLOY_FILE_MAX (4u * 1024 * 1024)
#define PAYLOAD_MAX (32u * 1024 * 1024)
#define ERROR_BODY_MAX (64u * 1024)
#define MGMT_TIMEOUT_MS 120000
#define LONG_TIMEOUT_MS 600000 /* delete (drains), predict */
#define POLL_TIMEOUT_MS 10000
#define DEPLOY_WAIT_DEFAULT_MS (5 * 60 * 1000)
#define DOWN_WAIT_DEFAULT_MS (60 * 1000)
#define DEPLOY_POLL_MS 250
#define DOWN_POLL_MS 100
#define WATCH_PERIOD_MS 2000

/* ---- argument parsing (pure) ---- */

/* clang-format off */
const char glia_cli_usage[] =
	"usage: glia <command> [options]\n"
	"\n"
	"commands:\n"
	"  up [--listen HOST:PORT] [-d]      start the local daemon\n"
	"                                    (all flags: glia up --help)\n"
	"  down [--timeout DURATION]         stop the daemon (default 60s)\n"
	"  deploy [FILE] [--wait] [--timeout DURATION]\n"
	"                                    create or update the APIs in FILE\n"
	"                                    (default glia.yaml, then cortex.yaml)\n"
	"  patch [FILE] [--wait]             update APIs already deployed\n"
	"  get [API] [-w]                    list the APIs, or show one in detail\n"
	"  describe API                      show an API's replicas\n"
	"  logs API [-f|--no-follow] [--tail N] [--replica ID] [--json]\n"
	"                                    print the predictor's output (on a\n"
	"                                    terminal: follow until Ctrl-C)\n"
	"  refresh API                       restart an API's replicas (rolling)\n"
	"  delete API [-f] [--no-drain]      remove an API after it drains\n"
	"                                    (--no-drain: stop its replicas now)\n"
	"  predict API JSON|FILE|@FILE|-     send a payload, print the answer\n"
	"  build [FILE] [-t IMAGE] [--base IMAGE] [--dry-run]\n"
	"                                    build a container image of the\n"
	"                                    project (glia build --help)\n"
	"  render k8s [FILE] [-o DIR] [--image IMAGE] [--namespace NS]\n"
	"                                    write Kubernetes objects for the\n"
	"                                    project (glia render --help)\n"
	"  env add NAME --kubernetes [--context CTX] [--namespace NS]\n"
	"      [--registry REG]              keep a Kubernetes cluster as an\n"
	"                                    environment; then deploy, get,\n"
	"                                    describe, logs and delete take\n"
	"                                    --env NAME (glia env --help)\n"
	"  env list | env remove NAME        the environments kept\n"
	"  env default [NAME]                the env of commands given no\n"
	"                                    --env (local unless set)\n"
	"  keys create [--api NAME] [--name LABEL] [--rate-limit RPS[:BURST]]\n"
	"  keys list | keys revoke ID | keys export [-o FILE]\n"
	"                                    API keys for networking.auth:\n"
	"                                    api_key (glia keys --help)\n"
	"  worker --api NAME [--listen HOST:PORT] [FILE]\n"
	"                                    run one replica of NAME on its own\n"
	"                                    (glia worker --help)\n"
	"  gateway [FILE] [--listen HOST:PORT] [--discover SPEC]\n"
	"                                    route to replicas found by DNS or\n"
	"                                    a list (glia gateway --help)\n"
	"  autoscale simulate FILE --trace TRACE.csv\n"
	"                                    replay a load trace offline\n"
	"                                    (glia autoscale simulate --help)\n"
	"  version                           print the version\n"
	"\n"
	"options:\n"
	"  --home DIR    state directory (default $GLIA_HOME, else ~/.glia)\n"
	"  -e, --env NAME  the daemon of env NAME (glia env add NAME --url URL\n"
	"                --token TOKEN); local: this GLIA_HOME's; default: the\n"
	"                env default (local unless set; not for up, down)\n"
	"  -y, --yes     accepted everywhere: glia never asks\n"
	"  -o json       machine-readable output (version, deploy, get, describe,\n"
	"                refresh, delete; logs: one JSON object a line)\n"
	"  --json        the same as -o json\n"
	"  -h, --help    show this help\n";
/* clang-format on */

enum {
	O_HOME = 1 << 0,
	O_JSON = 1 << 1,
	O_WAIT = 1 << 2,
	O_TIMEOUT = 1 << 3,
	O_WATCH = 1 << 4,
	O_FOLLOW = 1 << 5,
	O_FORCE = 1 << 6,
	O_TAIL = 1 << 7,
	O_REPLICA = 1 << 8,
	O_ENV = 1 << 9,       /* every command */
	O_YES = 1 << 10,      /* every command */
	O_ONESHOT = 1 << 11,
	O_NODRAIN = 1 << 12,
	O_KEEPCACHE = 1 << 13,
	O_VERBOSE = 1 << 14,
	O_RANDOMPOD = 1 << 15,
};

typedef struct opt_def {
	const char *short_name; /* NULL when there is none */
	const char *long_name;
	unsigned bit;
	int takes_value;
} opt_def;

/* clang-format off */
static const opt_def opt_defs[] = {
	{NULL, "--home", O_HOME, 1},
	{"-o", "--output", O_JSON, 1},
	{NULL, "--json", O_JSON, 0},
	{NULL, "--wait", O_WAIT, 0},
	{NULL, "--timeout", O_TIMEOUT, 1},
	{"-w", "--watch", O_WATCH, 0},
	{"-f", "--follow", O_FOLLOW, 0},
	{"-f", "--force", O_FORCE, 0},
	{NULL, "--tail", O_TAIL, 1},
	{NULL, "--replica", O_REPLICA, 1},
	{"-e", "--env", O_ENV, 1},
	{"-y", "--yes", O_YES, 0},
	{NULL, "--no-follow", O_ONESHOT, 0},
	{NULL, "--no-drain", O_NODRAIN, 0},
	{"-c", "--keep-cache", O_KEEPCACHE, 0},
	{"-v", "--verbose", O_VERBOSE, 0},
	{NULL, "--random-pod", O_RANDOMPOD, 0},
};

typedef struct cmd_def {
	const char *name;
	unsigned opts; /* --home is always accepted */
	int min_pos, max_pos;
	const char *missing; /* what a missing positional is */
} cmd_def;

static const cmd_def cmd_defs[] = {
	{"version", O_JSON, 0, 0, NULL},
	{"deploy", O_JSON | O_WAIT | O_TIMEOUT | O_FORCE, 0, 1, NULL},
	{"patch", O_JSON | O_WAIT | O_TIMEOUT | O_FORCE, 0, 1, NULL},
	{"get", O_JSON | O_WATCH | O_VERBOSE, 0, 2, NULL},
	{"describe", O_JSON | O_WATCH, 1, 1, "an API name"},
	{"logs", O_JSON | O_FOLLOW | O_ONESHOT | O_TAIL | O_REPLICA | O_RANDOMPOD,
	 1, 2,
	 "an API name"},
	{"delete", O_JSON | O_FORCE | O_NODRAIN | O_KEEPCACHE, 1, 2,
	 "an API name"},
	{"refresh", O_JSON | O_FORCE, 1, 1, "an API name"},
	{"predict", 0, 2, 2, "a payload (JSON, @FILE or -)"},
	{"down", O_TIMEOUT, 0, 0, NULL},
};
/* clang-format on */

static const char *const unimplemented_cmds[] = {"job"};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const cmd_def *find_cmd(const char *name)
{
	for (size_t i = 0; i < NELEM(cmd_defs); i++)
		if (strcmp(cmd_defs[i].name, name) == 0)
			return &cmd_defs[i];
	return NULL;
}

static int is_unimplemented(const char *name)
{
	for (size_t i = 0; i < NELEM(unimplemented_cmds); i++)
		if (strcmp(unimplemented_cmds[i], name) == 0)
			return 1;
	return 0;
}

static int is_option(const char *arg)
{
	return arg[0] == '-' && arg[1] != '\0';
}

static int is_help(const char *arg)
{
	return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

/* Whether arg (without any "=value") names an option taking a value. */
static int takes_value(const char *arg)
{
	for (size_t i = 0; i < NELEM(opt_defs); i++) {
		const opt_def *o = &opt_defs[i];
		if (!o->takes_value || strchr(arg, '='))
			continue;
		if (strcmp(arg, o->long_name) == 0 ||
		    (o->short_name && strcmp(arg, o->short_name) == 0))
			return 1;
	}
	return 0;
}

/* Index of the command word, or 0 when there is none; help noted. */
static int scan_command(int argc, char **argv, glia_cli_args *a)
{
	int cmd = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			if (!cmd && i + 1 < argc)
				cmd = i + 1;
			break;
		}
		if (is_help(argv[i]))
			a->help = 1;
		else if (is_option(argv[i]) && takes_value(argv[i]))
			i++;
		else if (!is_option(argv[i]) && !cmd)
			cmd = i;
	}
	return cmd;
}

int glia_cli_command_index(int argc, char **argv)
{
	glia_cli_args a = {0};

	return scan_command(argc, argv, &a);
}

/* Finds the definition of option name (e.g. "-f", "--tail") for command
 * c. NULL with err filled when unknown or not accepted. */
static const opt_def *find_opt(const cmd_def *c, const char *name, char *err,
			       size_t errlen)
{
	int known = 0;
	for (size_t i = 0; i < NELEM(opt_defs); i++) {
		const opt_def *o = &opt_defs[i];
		int match = strcmp(name, o->long_name) == 0 ||
			    (o->short_name && strcmp(name, o->short_name) == 0);
		if (!match)
			continue;
		known = 1;
		if (o->bit == O_HOME || o->bit == O_ENV || o->bit == O_YES ||
		    (c->opts & o->bit))
			return o;
	}
	if (known)
		snprintf(err, errlen, "'%s' does not take %s", c->name, name);
	else
		snprintf(err, errlen, "unknown option %s", name);
	return NULL;
}

static int set_value(glia_cli_args *a, unsigned bit, const char *name,
		     const char *v, char *err, size_t errlen)
{
	char *end;
	switch (bit) {
	case O_HOME:
		if (!*v)
			goto bad;
		a->home = v;
		return 0;
	case O_JSON: /* Cortex's pretty and mixed too */
		if (strcmp(v, "json") && strcmp(v, "table") &&
		    strcmp(v, "pretty") && strcmp(v, "mixed"))
			goto bad;
		a->json = strcmp(v, "json") == 0 || strcmp(v, "mixed") == 0;
		return 0;
	case O_ENV:
		if (!*v)
			goto bad;
		a->env = v;
		return 0;
	case O_TIMEOUT:
		if (glia_parse_duration_ms(v, &a->timeout_ms) < 0 ||
		    a->timeout_ms <= 0)
			goto bad;
		a->timeout = v;
		return 0;
	case O_TAIL:
		errno = 0;
		a->tail = strtol(v, &end, 10);
		if (errno || end == v || *end || a->tail < 0)
			goto bad;
		return 0;
	case O_REPLICA:
		if (!*v)
			goto bad;
		a->replica = v;
		return 0;
	}
bad:
	snprintf(err, errlen, "bad value '%s' for %s", v, name);
	return -1;
}

static void set_flag(glia_cli_args *a, unsigned bit)
{
	if (bit == O_JSON)
		a->json = 1;
	else if (bit == O_WAIT)
		a->wait = 1;
	else if (bit == O_WATCH)
		a->watch = 1;
	else if (bit == O_FOLLOW)
		a->follow = 1;
	else if (bit == O_FORCE)
		a->force = 1;
	else if (bit == O_ONESHOT)
		a->no_follow = 1;
	else if (bit == O_NODRAIN)
		a->no_drain = 1;
	else if (bit == O_YES)
		a->yes = 1;
	else if (bit == O_KEEPCACHE)
		a->keep_cache = 1;
	else if (bit == O_VERBOSE)
		a->verbose = 1;
	else if (bit == O_RANDOMPOD)
		a->random_pod = 1;
}

/* Parses the option at argv[*i] (consuming its value). 0 or -1. */
static int parse_opt(const cmd_def *c, int argc, char **argv, int *i,
		     glia_cli_args *a, char *err, size_t errlen)
{
	const char *arg = argv[*i];
	char name[64];
	const char *value = NULL;
	const char *eq = strchr(arg, '=');
	if (arg[1] != '-' && arg[2] != '\0') { /* -ojson */
		snprintf(name, sizeof name, "%.2s", arg);
		value = arg + 2;
	} else if (eq) {
		snprintf(name, sizeof name, "%.*s", (int)(eq - arg), arg);
		value = eq + 1;
	} else {
		snprintf(name, sizeof name, "%s", arg);
	}
	const opt_def *o = find_opt(c, name, err, errlen);
	if (!o)
		return -1;
	if (!o->takes_value) {
		if (value) {
			snprintf(err, errlen, "%s takes no value", name);
			return -1;
		}
		set_flag(a, o->bit);
		return 0;
	}
	if (!value) {
		if (*i + 1 >= argc) {
			snprintf(err, errlen, "%s needs a value", name);
			return -1;
		}
		value = argv[++*i];
	}
	return set_value(a, o->bit, name, value, err, errlen);
}

static int check_positionals(const cmd_def *c, const glia_cli_args *a,
			     char *err, size_t errlen)
{
	if (a->n_pos > c->max_pos) {
		snprintf(err, errlen, "too many arguments for '%s'", c->name);
		return -1;
	}
	if (a->n_pos < c->min_pos) {
		snprintf(err, errlen, "'%s' needs %s", c->name,
			 a->n_pos == 0 ? "an API name" : c->missing);
		return -1;
	}
	return 0;
}

int glia_cli_parse(int argc, char **argv, glia_cli_args *a, char *err,
		   size_t errlen)
{
	memset(a, 0, sizeof *a);
	a->timeout_ms = -1;
	a->tail = -1;
	err[0] = '\0';
	int ci = scan_command(argc, argv, a);
	if (a->help)
		return 0;
	if (!ci) {
		snprintf(err, errlen, "missing command");
		return -1;
	}
	a->command = argv[ci];
	if (strcmp(a->command, "help") == 0) {
		a->help = 1;
		return 0;
	}
	if (is_unimplemented(a->command)) {
		a->unimplemented = 1;
		return 0;
	}
	const cmd_def *c = find_cmd(a->command);
	if (!c) {
		snprintf(err, errlen, "unknown command '%s'", a->command);
		return -1;
	}
	int opts_done = 0;
	for (int i = 1; i < argc; i++) {
		if (i == ci)
			continue;
		if (!opts_done && strcmp(argv[i], "--") == 0) {
			opts_done = 1;
		} else if (!opts_done && is_option(argv[i])) {
			if (parse_opt(c, argc, argv, &i, a, err, errlen) < 0)
				return -1;
		} else if (a->n_pos < GLIA_CLI_MAX_POS) {
			a->pos[a->n_pos++] = argv[i];
		} else {
			snprintf(err, errlen, "too many arguments for '%s'",
				 c->name);
			return -1;
		}
	}
	return check_positionals(c, a, err, errlen);
}

/* ---- tables and formatting (pure) ---- */

void glia_cli_table_init(glia_cli_table *t, size_t ncols)
{
	t->ncols = ncols;
	t->cells = NULL;
	t->n = t->cap = 0;
}

void glia_cli_table_cell(glia_cli_table *t, const char *s)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 32;
		t->cells = glia_realloc(t->cells, t->cap * sizeof *t->cells);
	}
	char *c = glia_strdup(s ? s : "-");
	for (char *p = c; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	t->cells[t->n++] = c;
}

void glia_cli_table_cellf(glia_cli_table *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	glia_cli_table_cell(t, s ? s : "?");
	free(s);
}

/* Display width of UTF-8 text: one column per code point. */
static size_t text_width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			w++;
	return w;
}

void glia_cli_table_format(const glia_cli_table *t, glia_buf *out)
{
	size_t nrows = t->ncols ? t->n / t->ncols : 0;
	size_t *width = glia_calloc(t->ncols ? t->ncols : 1, sizeof *width);
	for (size_t i = 0; i < nrows * t->ncols; i++) {
		size_t w = text_width(t->cells[i]);
		if (w > width[i % t->ncols])
			width[i % t->ncols] = w;
	}
	for (size_t r = 0; r < nrows; r++) {
		size_t line_start = out->len;
		for (size_t j = 0; j < t->ncols; j++) {
			const char *cell = t->cells[r * t->ncols + j];
			glia_buf_puts(out, cell);
			if (j + 1 < t->ncols)
				glia_buf_printf(out, "%*s",
						(int)(width[j] - text_width(cell) + 2),
						"");
		}
		while (out->len > line_start && out->data[out->len - 1] == ' ')
			out->len--;
		glia_buf_puts(out, "\n");
	}
	free(width);
}

void glia_cli_table_free(glia_cli_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->n = t->cap = 0;
}

void glia_cli_format_age(double secs, char *out, size_t outlen)
{
	long long s = secs > 0 ? (long long)secs : 0;
	if (s < 60)
		snprintf(out, outlen, "%llds", s);
	else if (s < 3600)
		snprintf(out, outlen, "%lldm", s / 60);
	else if (s < 86400)
		snprintf(out, outlen, "%lldh", s / 3600);
	else
		snprintf(out, outlen, "%lldd", s / 86400);
}

void glia_cli_format_latency(double ms, char *out, size_t outlen)
{
	if (ms < 0)
		snprintf(out, outlen, "-");
	else if (ms < 1)
		snprintf(out, outlen, "%.2fms", ms);
	else if (ms < 100)
		snprintf(out, outlen, "%.1fms", ms);
	else if (ms < 1000)
		snprintf(out, outlen, "%.0fms", ms);
	else
		snprintf(out, outlen, "%.2fs", ms / 1000);
}

void glia_cli_format_rate(double rps, char *out, size_t outlen)
{
	if (rps < 0)
		snprintf(out, outlen, "-");
	else if (rps == 0)
		snprintf(out, outlen, "0");
	else if (rps < 0.995)
		snprintf(out, outlen, "%.2f", rps);
	else if (rps < 99.95)
		snprintf(out, outlen, "%.1f", rps);
	else
		snprintf(out, outlen, "%.0f", rps);
}

void glia_cli_format_count(long long n, char *out, size_t outlen)
{
	static const char units[] = "MGTPE";
	double v = (double)n;
	if (n < 1000000) {
		snprintf(out, outlen, "%lld", n);
		return;
	}
	size_t u = 0;
	v /= 1e6;
	while (v >= 999.5 && u + 1 < sizeof units - 1) {
		v /= 1000;
		u++;
	}
	snprintf(out, outlen, "%.3g%c", v, units[u]);
}

/* ---- GLIA_HOME ---- */

static const char *user_home(void)
{
	const char *h = getenv("HOME");
	if (h && *h)
		return h;
	struct passwd *pw = getpwuid(getuid());
	return pw && pw->pw_dir ? pw->pw_dir : "/";
}

char *glia_home_dir(const char *flag_value)
{
	const char *v = flag_value && *flag_value ? flag_value
						  : getenv("GLIA_HOME");
	char *path;
	if (!v || !*v)
		path = glia_sprintf("%s/.glia", user_home());
	else if (strncmp(v, "~/", 2) == 0 || strcmp(v, "~") == 0)
		path = glia_sprintf("%s%s", user_home(), v + 1);
	else
		path = glia_strdup(v);
	if (path[0] != '/') {
		char cwd[PATH_MAX];
		if (getcwd(cwd, sizeof cwd)) {
			char *abs = glia_sprintf("%s/%s", cwd, path);
			free(path);
			path = abs;
		}
	}
	size_t n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		path[--n] = '\0';
	return path;
}

/* ---- talking to the daemon ---- */

typedef struct cli {
	glia_cli_args *a;
	char *home;
	char *sock;  /* the local daemon's socket; NULL for a remote env */
	glia_remote_env remote; /* --env NAME (a remote daemon) */
	const char *url;        /* remote.url: its http://HOST:PORT, or NULL */
	const char *token;      /* remote.token */
	char host[256];
	int port;
} cli;

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	interrupted = 1;
}

/* SIGINT then only sets `interrupted` (watch and follow loops end). */
static void catch_sigint(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
}

/* Sleeps ms, in short steps; returns early (1) once interrupted. */
static int nap(int ms)
{
	while (ms > 0 && !interrupted) {
		int step = ms < 100 ? ms : 100;
		struct timespec ts = {0, (long)step * 1000000L};
		nanosleep(&ts, NULL);
		ms -= step;
	}
	return interrupted != 0;
}

static void unreachable(const cli *c)
{
	int pid = c->url ? 0 : glia_daemon_lock_holder(c->home);
	if (c->url)
		fprintf(stderr,
			"glia: cannot reach the daemon of env %s at %s: is "
			"`glia up --admin-listen` running there?\n",
			c->a->env, c->url);
	else if (pid > 0) /* its socket was deleted or replaced */
		fprintf(stderr,
			"glia: the daemon (pid %d) runs but does not answer at "
			"%s (a deleted socket is made again within 2s; `glia "
			"down` stops the daemon)\n",
			pid, c->sock);
	else
		fprintf(stderr,
			"glia: cannot reach the daemon at %s: is `glia up` "
			"running?\n",
			c->sock);
}

/* Prints the one-line error for a non-2xx answer: the daemon's "error"
 * field, or "api 'x' not found" for a 404 about api. */
static void report_http_error(int status, const char *body, size_t len,
			      const char *api)
{
	if (status == 404 && api) {
		fprintf(stderr, "glia: api '%s' not found\n", api);
		return;
	}
	json_t *j = json_loadb(body, len, 0, NULL);
	const char *msg = json_string_value(json_object_get(j, "error"));
	if (msg)
		fprintf(stderr, "glia: %s\n", msg);
	else
		fprintf(stderr, "glia: the daemon answered %d %s\n", status,
			glia_http_status_text(status));
	json_decref(j);
}

/* One management call. body may be NULL. On a 2xx JSON answer returns 0
 * with *out a new reference; otherwise prints one error line and returns
 * 1. api names the API for a 404 message (may be NULL). */
static int mgmt(const cli *c, const char *method, const char *path,
		json_t *body, const char *api, int timeout_ms, json_t **out)
{
	char err[512];
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	glia_client_response r = {0};
	int ret = 1;
	*out = NULL;
	int rc = glia_client_request_auth(
		c->sock, c->host, c->port, c->token, method, path,
		text ? "application/json" : NULL, text, text ? strlen(text) : 0,
		timeout_ms, &r, err, sizeof err);
	if (rc == GLIA_CLIENT_ECONNECT) {
		unreachable(c);
		goto done;
	}
	if (rc < 0) {
		fprintf(stderr, "glia: %s %s: %s\n", method, path, err);
		goto done;
	}
	if (r.status < 200 || r.status > 299) {
		report_http_error(r.status, r.body.data, r.body.len, api);
		goto done;
	}
	json_error_t jerr;
	*out = json_loadb(r.body.data, r.body.len, 0, &jerr);
	if (!*out) {
		fprintf(stderr, "glia: bad answer from the daemon to %s %s: %s\n",
			method, path, jerr.text);
		goto done;
	}
	ret = 0;
done:
	free(text);
	glia_client_response_free(&r);
	return ret;
}

/* "/v1/apis/<name><suffix>", the name percent-encoded. malloc'd. */
static char *api_path(const char *name, const char *suffix)
{
	glia_buf b;
	glia_buf_init(&b, 0);
	glia_buf_puts(&b, "/v1/apis/");
	glia_client_url_encode(&b, name);
	glia_buf_puts(&b, suffix);
	return b.data;
}

/* GET /v1/apis/NAME into *out (mgmt's exit status; 0: *out to decref). */
static int get_api(const cli *c, const char *name, int timeout_ms,
		   json_t **out)
{
	char *path = api_path(name, "");
	int ret = mgmt(c, "GET", path, NULL, name, timeout_ms, out);
	free(path);
	return ret;
}

static void print_json(json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
}

/* ---- JSON field helpers ---- */

static const char *jstr(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static json_t *jget2(json_t *obj, const char *key, const char *sub)
{
	return json_object_get(json_object_get(obj, key), sub);
}

/* A number as text ("-" when absent or not a number). */
static void num_text(json_t *v, char *out, size_t outlen)
{
	if (json_is_integer(v))
		snprintf(out, outlen, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(out, outlen, "%g", json_real_value(v));
	else
		snprintf(out, outlen, "-");
}

static void num_cell(glia_cli_table *t, json_t *v)
{
	char s[64];
	num_text(v, s, sizeof s);
	glia_cli_table_cell(t, s);
}

/* A request count, shortened from a million up. */
static void count_cell(glia_cli_table *t, json_t *v)
{
	char s[64];
	if (json_is_integer(v))
		glia_cli_format_count((long long)json_integer_value(v), s,
		                      sizeof s);
	else
		num_text(v, s, sizeof s);
	glia_cli_table_cell(t, s);
}

/* v is a wall-clock timestamp when now >= 0, else already an age. */
static void age_text(json_t *v, double now, char *out, size_t outlen)
{
	double x = json_number_value(v);
	if (json_is_number(v))
		glia_cli_format_age(now >= 0 ? now - x : x, out, outlen);
	else
		snprintf(out, outlen, "-");
}

static void latency_text(json_t *api, char *out, size_t outlen)
{
	json_t *lat = json_object_get(api, "avg_latency_ms");
	json_t *total = jget2(api, "requests", "total");
	if (!json_is_number(lat) || json_number_value(total) <= 0)
		snprintf(out, outlen, "-");
	else
		glia_cli_format_latency(json_number_value(lat), out, outlen);
}

static void replicas_text(json_t *api, char *out, size_t outlen)
{
	char ready[32], req[32];
	num_text(jget2(api, "replicas", "ready"), ready, sizeof ready);
	num_text(jget2(api, "replicas", "requested"), req, sizeof req);
	snprintf(out, outlen, "%s/%s", ready, req);
}

/* ---- version ---- */

/* This binary's version; with --env NAME (a remote daemon) that daemon's
 * too, as Cortex printed the CLI's and the cluster's. */
static int cmd_version(cli *c)
{
	json_t *info = NULL;
	if (c->url && mgmt(c, "GET", "/v1/info", NULL, NULL, POLL_TIMEOUT_MS,
			   &info))
		return 1;
	const char *remote = jstr(info, "version");
	if (!c->a->json) {
		printf("glia %s\n", GLIA_VERSION);
		if (remote)
			printf("daemon of env %s: glia %s\n", c->a->env, remote);
	} else {
		json_t *j = json_pack("{s:s}", "version", GLIA_VERSION);
		if (remote)
			json_object_set_new(j, "daemon_version",
					    json_string(remote));
		print_json(j);
		json_decref(j);
	}
	json_decref(info);
	return 0;
}

/* ---- get ---- */

/* Last-minute figures: rate, mean and p99 latency ("-" without requests). */
static void minute_texts(json_t *api, char *rps, char *avg, char *p99,
                         size_t len)
{
	json_t *m = json_object_get(api, "last_minute");
	json_t *rate = json_object_get(m, "rps");
	int any = json_number_value(json_object_get(m, "requests")) > 0;
	glia_cli_format_rate(
	    json_is_number(rate) ? json_number_value(rate) : -1, rps, len);
	glia_cli_format_latency(
	    any ? json_number_value(json_object_get(m, "avg_latency_ms")) : -1,
	    avg, len);
	glia_cli_format_latency(
	    any ? json_number_value(json_object_get(m, "p99_latency_ms")) : -1,
	    p99, len);
}

static void list_row(glia_cli_table *t, json_t *api, double now)
{
	char s[64], rps[32], avg[32], p99[32];
	glia_cli_table_cell(t, jstr(api, "name"));
	glia_cli_table_cell(t, jstr(api, "kind"));
	glia_cli_table_cell(t, jstr(api, "status"));
	replicas_text(api, s, sizeof s);
	glia_cli_table_cell(t, s);
	num_cell(t, jget2(api, "replicas", "up_to_date"));
	minute_texts(api, rps, avg, p99, sizeof rps);
	glia_cli_table_cell(t, rps);
	glia_cli_table_cell(t, avg);
	glia_cli_table_cell(t, p99);
	count_cell(t, jget2(api, "requests", "2xx"));
	count_cell(t, jget2(api, "requests", "4xx"));
	count_cell(t, jget2(api, "requests", "5xx"));
	age_text(json_object_get(api, "last_update"), now, s, sizeof s);
	glia_cli_table_cell(t, s);
}

/* RPS, AVG and P99 cover the last minute; 2XX/4XX/5XX what the gateway
 * answered since the daemon started (their total is in the detail: the
 * table stays within 120 columns for names up to about 25 characters). */
void glia_cli_render_list(json_t *j, double now, glia_buf *out)
{
	static const char *const head[] = {
	    "NAME", "KIND", "STATUS", "REPLICAS", "UP-TO-DATE", "RPS",
	    "AVG",  "P99",  "2XX",    "4XX",      "5XX",        "UPDATED"};
	json_t *apis = json_object_get(j, "apis");
	if (json_array_size(apis) == 0) {
		glia_buf_puts(out, "no APIs deployed\n");
		return;
	}
	glia_cli_table t;
	glia_cli_table_init(&t, NELEM(head));
	for (size_t i = 0; i < NELEM(head); i++)
		glia_cli_table_cell(&t, head[i]);
	size_t i;
	json_t *api;
	json_array_foreach(apis, i, api)
		list_row(&t, api, now);
	glia_cli_table_format(&t, out);
	glia_cli_table_free(&t);
}

static void pids_text(json_t *pids, char *out, size_t outlen)
{
	size_t i, n = 0;
	json_t *p;
	out[0] = '\0';
	json_array_foreach(pids, i, p) {
		int w = snprintf(out + n, outlen - n, "%s%lld", i ? "," : "",
				 (long long)json_integer_value(p));
		if (w < 0 || (size_t)w >= outlen - n)
			break;
		n += (size_t)w;
	}
	if (!out[0])
		snprintf(out, outlen, "-");
}

/* A TrafficSplitter's APIs: name, weight, shadow, requests sent. */
static void render_split(json_t *list, glia_buf *out)
{
	static const char *const head[] = {"API", "WEIGHT", "SHADOW",
	                                   "REQUESTS"};
	glia_cli_table t;
	size_t i;
	json_t *a;

	glia_cli_table_init(&t, NELEM(head));
	for (i = 0; i < NELEM(head); i++)
		glia_cli_table_cell(&t, head[i]);
	json_array_foreach(list, i, a) {
		glia_cli_table_cell(&t, jstr(a, "name"));
		num_cell(&t, json_object_get(a, "weight"));
		glia_cli_table_cell(
		    &t, json_is_true(json_object_get(a, "shadow")) ? "yes" : "no");
		num_cell(&t, json_object_get(a, "requests"));
	}
	glia_cli_table_format(&t, out);
	glia_cli_table_free(&t);
}

static void render_replicas_short(json_t *list, glia_buf *out)
{
	static const char *const head[] = {"ID",       "STATE", "PIDS",
	                                   "REQUESTS", "5XX",   "IN-FLIGHT",
	                                   "RESTARTS", "AGE"};
	if (json_array_size(list) == 0) {
		glia_buf_puts(out, "no replicas\n");
		return;
	}
	glia_cli_table t;
	glia_cli_table_init(&t, NELEM(head));
	for (size_t i = 0; i < NELEM(head); i++)
		glia_cli_table_cell(&t, head[i]);
	size_t i;
	json_t *r;
	char s[256];
	json_array_foreach(list, i, r) {
		glia_cli_table_cell(&t, jstr(r, "id"));
		glia_cli_table_cell(&t, jstr(r, "state"));
		pids_text(json_object_get(r, "pids"), s, sizeof s);
		glia_cli_table_cell(&t, s);
		num_cell(&t, json_object_get(r, "requests"));
		num_cell(&t, json_object_get(r, "errors_5xx"));
		num_cell(&t, json_object_get(r, "in_flight"));
		num_cell(&t, json_object_get(r, "restarts"));
		age_text(json_object_get(r, "age_s"), -1, s, sizeof s);
		glia_cli_table_cell(&t, s);
	}
	glia_cli_table_format(&t, out);
	glia_cli_table_free(&t);
}

/* "key:        value", continuation lines of value indented alike. */
static void field(glia_buf *out, const char *key, const char *value)
{
	glia_buf_printf(out, "%-13s", key);
	for (const char *p = value ? value : "-"; *p; p++) {
		if (*p == '\n' && p[1])
			glia_buf_printf(out, "\n%13s", "");
		else if (*p != '\n' && *p != '\r')
			glia_buf_append(out, p, 1);
	}
	glia_buf_puts(out, "\n");
}

/* "autoscaler:  4 replicas (recommended 4): scale up: ..." */
static void render_autoscaler(json_t *as, glia_buf *out)
{
	if (!json_is_object(as))
		return;
	char line[400];
	snprintf(line, sizeof line, "%lld replica(s) (recommended %lld): %s",
		 (long long)json_integer_value(json_object_get(as, "replicas")),
		 (long long)json_integer_value(
			 json_object_get(as, "recommended")),
		 jstr(as, "reason") ? jstr(as, "reason") : "-");
	field(out, "autoscaler:", line);
}

#define ERRORS_SHOWN   5
#define ERROR_TEXT_MAX 72

/* The last failed requests, newest first: when, status, request id, why. */
static void render_errors(json_t *list, double now, glia_buf *out)
{
	static const char *const head[] = {"AGE", "STATUS", "REQUEST-ID",
	                                   "ERROR"};
	if (json_array_size(list) == 0)
		return;
	glia_buf_puts(out, "\nrecent errors (newest first):\n");
	glia_cli_table t;
	glia_cli_table_init(&t, NELEM(head));
	for (size_t i = 0; i < NELEM(head); i++)
		glia_cli_table_cell(&t, head[i]);
	size_t i;
	json_t *e;
	char s[ERROR_TEXT_MAX + 4];
	json_array_foreach(list, i, e)
	{
		if (i == ERRORS_SHOWN)
			break;
		age_text(json_object_get(e, "at"), now, s, sizeof s);
		glia_cli_table_cell(&t, s);
		num_cell(&t, json_object_get(e, "status"));
		glia_cli_table_cell(&t, jstr(e, "request_id"));
		const char *why = jstr(e, "error");
		if (why && strlen(why) > ERROR_TEXT_MAX) {
			snprintf(s, sizeof s, "%.*s...", ERROR_TEXT_MAX - 3,
			         why);
			why = s;
		}
		glia_cli_table_cell(&t, why && *why ? why : NULL);
	}
	glia_cli_table_format(&t, out);
	glia_cli_table_free(&t);
}

typedef struct class_count {
	const char *name;
	json_int_t n;
} class_count;

static int class_cmp(const void *a, const void *b)
{
	const class_count *x = a, *y = b;
	if (x->n != y->n)
		return x->n < y->n ? 1 : -1;
	return strcmp(x->name, y->name);
}

#define CLASSES_SHOWN 10

/* "models:" from the detail's "models" (APIs with predictor.models):
 * "2 in memory; hits 40, misses 3, loads 3 (1 failed), evictions 1" and
 * the last load failure. */
static void render_models(json_t *m, glia_buf *out)
{
	if (!json_is_object(m))
		return;
	glia_buf_printf(
	    out,
	    "%-13s%lld in memory; hits %lld, misses %lld, loads %lld "
	    "(%lld failed), evictions %lld\n",
	    "models:", (long long)json_integer_value(json_object_get(m, "resident")),
	    (long long)json_integer_value(json_object_get(m, "hits")),
	    (long long)json_integer_value(json_object_get(m, "misses")),
	    (long long)json_integer_value(json_object_get(m, "loads")),
	    (long long)json_integer_value(json_object_get(m, "load_failures")),
	    (long long)json_integer_value(json_object_get(m, "evictions")));
	const char *failure = jstr(m, "last_load_failure");
	if (failure)
		field(out, "load error:", failure);
}

/* "predictions:" from the detail's "predictions" (when monitoring is on):
 * {"model_type": "classification", "classes": {"<class>": count}} or
 * {"model_type": "regression", "count", "min", "max", "avg"}. */
static void render_predictions(json_t *p, glia_buf *out)
{
	const char *type = jstr(p, "model_type");
	if (!type)
		return;
	glia_buf line;
	glia_buf_init(&line, 4096);
	if (strcmp(type, "regression") == 0) {
		json_t *count = json_object_get(p, "count");
		glia_buf_printf(&line, "%lld value(s)",
		                (long long)json_integer_value(count));
		if (json_integer_value(count) > 0)
			glia_buf_printf(
			    &line, ", min %g, avg %g, max %g",
			    json_number_value(json_object_get(p, "min")),
			    json_number_value(json_object_get(p, "avg")),
			    json_number_value(json_object_get(p, "max")));
	} else {
		json_t *classes = json_object_get(p, "classes");
		size_t n = json_object_size(classes), k = 0;
		class_count *cc = glia_calloc(n ? n : 1, sizeof *cc);
		const char *name;
		json_t *v;
		json_object_foreach(classes, name, v)
		{
			cc[k].name = name;
			cc[k++].n = json_integer_value(v);
		}
		qsort(cc, k, sizeof *cc, class_cmp);
		for (size_t i = 0; i < k && i < CLASSES_SHOWN; i++)
			glia_buf_printf(&line, "%s%s: %lld", i ? ", " : "",
			                cc[i].name, (long long)cc[i].n);
		if (k > CLASSES_SHOWN)
			glia_buf_printf(&line, " (+%zu more)",
			                k - CLASSES_SHOWN);
		if (k == 0)
			glia_buf_puts(&line, "none yet");
		free(cc);
	}
	field(out, "predictions:", line.data);
	glia_buf_free(&line);
}

void glia_cli_render_detail(json_t *api, double now, glia_buf *out)
{
	char s[128], n1[32], n2[32], n3[32];
	field(out, "name:", jstr(api, "name"));
	field(out, "kind:", jstr(api, "kind"));
	field(out, "status:", jstr(api, "status"));
	field(out, "endpoint:", jstr(api, "url"));
	replicas_text(api, s, sizeof s);
	strncat(s, " ready", sizeof s - strlen(s) - 1);
	field(out, "replicas:", s);
	num_text(jget2(api, "replicas", "up_to_date"), s, sizeof s);
	field(out, "up-to-date:", s);
	num_text(json_object_get(api, "restarts"), s, sizeof s);
	field(out, "restarts:", s);
	if (jstr(api, "error"))
		field(out, "error:", jstr(api, "error"));
	num_text(jget2(api, "requests", "2xx"), n1, sizeof n1);
	num_text(jget2(api, "requests", "4xx"), n2, sizeof n2);
	num_text(jget2(api, "requests", "5xx"), n3, sizeof n3);
	num_text(jget2(api, "requests", "total"), s, sizeof s);
	glia_buf_printf(out, "%-13s%s (2xx: %s, 4xx: %s, 5xx: %s)\n",
			"requests:", s, n1, n2, n3);
	latency_text(api, s, sizeof s);
	field(out, "avg latency:", s);
	json_t *minute = json_object_get(api, "last_minute");
	if (json_is_object(minute)) {
		minute_texts(api, n1, n2, n3, sizeof n1);
		glia_buf_printf(
		    out, "%-13s%s req/s, avg %s, p99 %s (%lld requests)\n",
		    "last minute:", n1, n2, n3,
		    (long long)json_number_value(
		        json_object_get(minute, "requests")));
	}
	num_text(json_object_get(api, "in_flight"), n1, sizeof n1);
	num_text(json_object_get(api, "queued"), n2, sizeof n2);
	glia_buf_printf(out, "%-13s%s (queued: %s)\n", "in flight:", n1, n2);
	render_predictions(json_object_get(api, "predictions"), out);
	render_models(json_object_get(api, "models"), out);
	render_autoscaler(json_object_get(api, "autoscaler"), out);
	age_text(json_object_get(api, "last_update"), now, s, sizeof s);
	glia_buf_printf(out, "%-13s%s ago\n", "last update:", s);
	glia_buf_puts(out, "\n");
	if (json_is_array(json_object_get(api, "apis")))
		render_split(json_object_get(api, "apis"), out);
	else
		render_replicas_short(json_object_get(api, "replica_list"),
		                      out);
	render_errors(json_object_get(api, "recent_errors"), now, out);
}

/* A second positional (Cortex's JOB_ID): jobs are not served yet. 1 after
 * saying so, else 0. */
static int no_jobs(const cli *c)
{
	if (c->a->n_pos < 2)
		return 0;
	fprintf(stderr,
		"glia: %s API JOB_ID: jobs come with BatchAPI support, which "
		"glia does not have yet\n",
		c->a->command);
	return 1;
}

/* One round of `get`: fetches and renders into out. Exit status. */
static int get_once(cli *c, glia_buf *out)
{
	const char *name = c->a->n_pos ? c->a->pos[0] : NULL;
	char *path = name ? api_path(name, "") : glia_strdup("/v1/apis");
	json_t *j;
	int ret = mgmt(c, "GET", path, NULL, name, MGMT_TIMEOUT_MS, &j);
	free(path);
	if (ret)
		return ret;
	if (c->a->json) {
		char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		glia_buf_printf(out, "%s\n", s ? s : "null");
		free(s);
	} else if (name) {
		glia_cli_render_detail(j, glia_wall(), out);
	} else {
		glia_cli_render_list(j, glia_wall(), out);
	}
	json_decref(j);
	return 0;
}

static int cmd_get(cli *c)
{
	if (no_jobs(c))
		return 1;
	glia_buf out;
	glia_buf_init(&out, 0);
	if (c->a->watch)
		catch_sigint();
	int ret;
	for (;;) {
		glia_buf_reset(&out);
		ret = get_once(c, &out);
		if (ret)
			break;
		if (c->a->watch && !c->a->json)
			fputs("\033[H\033[2J", stdout);
		fwrite(out.data, 1, out.len, stdout);
		fflush(stdout);
		if (!c->a->watch || nap(WATCH_PERIOD_MS))
			break;
	}
	glia_buf_free(&out);
	return interrupted ? 0 : ret;
}

/* ---- describe ---- */

/* MEMORY: "312.5 MiB" resident (with compute.mem or mem_limit), "(over
 * request)" added above compute.mem; "-" when not measured. */
static void memory_cell(glia_cli_table *t, json_t *r)
{
	json_t *b = json_object_get(r, "memory_bytes");
	char s[64];
	if (!json_is_integer(b)) {
		glia_cli_table_cell(t, NULL);
		return;
	}
	double v = (double)json_integer_value(b);
	int gib = v >= (double)(1 << 30);
	snprintf(s, sizeof s, "%.1f %s%s", v / (gib ? 1 << 30 : 1 << 20),
	         gib ? "GiB" : "MiB",
	         json_is_true(json_object_get(r, "memory_over_request"))
	             ? " (over request)"
	             : "");
	glia_cli_table_cell(t, s);
}

static void describe_row(glia_cli_table *t, json_t *r)
{
	char s[256];
	glia_cli_table_cell(t, jstr(r, "id"));
	pids_text(json_object_get(r, "pids"), s, sizeof s);
	glia_cli_table_cell(t, s);
	glia_cli_table_cell(t, jstr(r, "state"));
	num_cell(t, json_object_get(r, "restarts"));
	age_text(json_object_get(r, "age_s"), -1, s, sizeof s);
	glia_cli_table_cell(t, s);
	num_cell(t, json_object_get(r, "in_flight"));
	memory_cell(t, r);
	json_t *utd = json_object_get(r, "up_to_date");
	glia_cli_table_cell(t, json_is_boolean(utd) ? (json_is_true(utd) ? "yes"
									: "no")
						    : NULL);
	glia_cli_table_cell(t, jstr(r, "error"));
}

static int describe_once(cli *c)
{
	static const char *const head[] = {"ID",	"PID",	 "STATE",
					   "RESTARTS",	"AGE",	 "IN-FLIGHT",
					   "MEMORY",	"UP-TO-DATE", "ERROR"};
	const char *name = c->a->pos[0];
	json_t *j;
	int ret = get_api(c, name, MGMT_TIMEOUT_MS, &j);
	if (ret)
		return ret;
	json_t *list = json_object_get(j, "replica_list");
	if (!c->a->json) {
		char s[64];
		glia_buf head_lines;
		glia_buf_init(&head_lines, 0);
		replicas_text(j, s, sizeof s);
		glia_buf_printf(&head_lines, "%-13s%s ready, %lld up-to-date",
				"replicas:", s,
				(long long)json_integer_value(
					jget2(j, "replicas", "up_to_date")));
		json_int_t unreachable = json_integer_value(
			jget2(j, "replicas", "unreachable"));
		if (unreachable > 0) /* running, but the gateway cannot reach */
			glia_buf_printf(&head_lines, ", %lld unreachable",
					(long long)unreachable);
		glia_buf_puts(&head_lines, "\n");
		render_autoscaler(json_object_get(j, "autoscaler"), &head_lines);
		glia_buf_puts(&head_lines, "\n");
		fwrite(head_lines.data, 1, head_lines.len, stdout);
		glia_buf_free(&head_lines);
	}
	if (c->a->json) {
		print_json(j);
	} else if (json_array_size(list) == 0) {
		printf("no replicas\n");
	} else {
		glia_cli_table t;
		glia_cli_table_init(&t, NELEM(head));
		for (size_t i = 0; i < NELEM(head); i++)
			glia_cli_table_cell(&t, head[i]);
		size_t i;
		json_t *r;
		json_array_foreach(list, i, r)
			describe_row(&t, r);
		glia_buf out;
		glia_buf_init(&out, 0);
		glia_cli_table_format(&t, &out);
		fwrite(out.data, 1, out.len, stdout);
		glia_buf_free(&out);
		glia_cli_table_free(&t);
	}
	json_decref(j);
	return 0;
}

/* describe, or with -w (Cortex's) again every 2 s until Ctrl-C. */
static int cmd_describe(cli *c)
{
	int ret;
	if (c->a->watch)
		catch_sigint();
	for (;;) {
		if (c->a->watch && !c->a->json)
			fputs("\033[H\033[2J", stdout);
		ret = describe_once(c);
		fflush(stdout);
		if (ret || !c->a->watch || nap(WATCH_PERIOD_MS))
			break;
	}
	return interrupted ? 0 : ret;
}

/* ---- deploy ---- */

static int file_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* The file to deploy: the argument (a directory stands for its glia.yaml,
 * else its cortex.yaml), else glia.yaml, else cortex.yaml. buf holds a
 * built path. */
static const char *deploy_file(cli *c, char *buf, size_t n)
{
	const char *dir = ".";
	struct stat st;
	if (c->a->n_pos) {
		dir = c->a->pos[0];
		if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
			return dir;
	}
	static const char *const names[] = {"glia.yaml", "cortex.yaml"};
	for (size_t i = 0; i < 2; i++) {
		snprintf(buf, n, "%s/%s", dir, names[i]);
		if (file_exists(buf))
			return strcmp(dir, ".") == 0 ? names[i] : buf;
	}
	char cwd[PATH_MAX];
	if (strcmp(dir, ".") == 0)
		dir = getcwd(cwd, sizeof cwd) ? cwd : ".";
	fprintf(stderr, "glia: no glia.yaml or cortex.yaml in %s\n", dir);
	return NULL;
}

/* {"path": <realpath>, "content": <text>} or NULL after printing why. */
static json_t *deploy_body(const char *file)
{
	size_t len;
	char *text = glia_read_file(file, DEPLOY_FILE_MAX, &len);
	char *real = NULL;
	json_t *body = NULL;
	if (!text) {
		if (errno == EFBIG)
			fprintf(stderr, "glia: %s: larger than 4 MiB\n", file);
		else
			fprintf(stderr, "glia: %s: %s\n", file, strerror(errno));
		goto done;
	}
	real = realpath(file, NULL);
	if (!real) {
		fprintf(stderr, "glia: %s: %s\n", file, strerror(errno));
		goto done;
	}
	json_t *content = json_stringn(text, len);
	if (!content) {
		fprintf(stderr, "glia: %s: not UTF-8 text\n", file);
		goto done;
	}
	body = json_object();
	json_object_set_new(body, "path", json_string(real));
	json_object_set_new(body, "content", content);
done:
	free(text);
	free(real);
	return body;
}

/* A copy of s (NULL gives "") with line breaks and tabs as spaces and
 * no trailing blanks: an error fit for one line of stderr. */
static char *one_line(const char *s)
{
	char *c = glia_strdup(s ? s : "");
	for (char *p = c; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	size_t n = strlen(c);
	while (n && c[n - 1] == ' ')
		c[--n] = '\0';
	return c;
}

/* Polls one API: 1 when live (every requested replica up to date and
 * ready), 0 while pending (*status gets the status), -1 after printing a
 * failure ("failed", "update failed", or the daemon "stopping"). */
static int poll_api(cli *c, const char *name, char *status, size_t len)
{
	json_t *j;
	int ret = get_api(c, name, POLL_TIMEOUT_MS, &j);
	if (ret)
		return -1;
	const char *st = jstr(j, "status");
	snprintf(status, len, "%s", st ? st : "unknown");
	double requested = json_number_value(jget2(j, "replicas", "requested"));
	double utd = json_number_value(jget2(j, "replicas", "up_to_date"));
	if (strcmp(status, "failed") == 0 ||
	    strcmp(status, "update failed") == 0) {
		char *e = one_line(jstr(j, "error"));
		fprintf(stderr, "glia: %s: %s%s%s\n", name, status,
			*e ? ": " : "", e);
		free(e);
		ret = -1;
	} else if (strcmp(status, "stopping") == 0) {
		fprintf(stderr, "glia: %s: stopping: the daemon is shutting "
				"down\n", name);
		ret = -1;
	} else {
		ret = strcmp(status, "live") == 0 && utd >= requested;
	}
	json_decref(j);
	return ret;
}

/* --wait: until every API in apis is live, one failed, or the timeout. */
static int wait_live(cli *c, json_t *apis)
{
	size_t n = json_array_size(apis);
	char *done = glia_calloc(n ? n : 1, 1);
	int64_t timeout = c->a->timeout_ms > 0 ? c->a->timeout_ms
					       : DEPLOY_WAIT_DEFAULT_MS;
	uint64_t deadline = glia_now_ms() + (uint64_t)timeout;
	int ret = 1;
	for (;;) {
		const char *pending = NULL;
		char status[64] = "", pending_status[64] = "";
		for (size_t i = 0; i < n; i++) {
			const char *name = jstr(json_array_get(apis, i), "name");
			if (done[i] || !name)
				continue;
			int r = poll_api(c, name, status, sizeof status);
			if (r < 0)
				goto done;
			if (r > 0 && !c->a->json)
				printf("%s: live\n", name);
			done[i] = r > 0;
			if (!r && !pending) {
				pending = name;
				memcpy(pending_status, status, sizeof status);
			}
		}
		fflush(stdout);
		if (!pending) {
			ret = 0;
			goto done;
		}
		if (glia_now_ms() >= deadline) {
			fprintf(stderr,
				"glia: timed out after %s waiting for %s "
				"(status: %s)\n",
				c->a->timeout ? c->a->timeout : "5m", pending,
				pending_status);
			goto done;
		}
		nap(DEPLOY_POLL_MS);
	}
done:
	free(done);
	return ret;
}

/* POST /v1/deploy of file, printing each API's result; --wait. */
static int deploy_one_file(cli *c, const char *file)
{
	json_t *body = deploy_body(file);
	if (!body)
		return 1;
	json_t *j;
	int ret = mgmt(c, "POST", "/v1/deploy", body, NULL, MGMT_TIMEOUT_MS, &j);
	json_decref(body);
	if (ret)
		return ret;
	json_t *apis = json_object_get(j, "apis");
	if (c->a->json) {
		print_json(j);
	} else {
		size_t i;
		json_t *api;
		json_array_foreach(apis, i, api)
			printf("%s: %s\n", jstr(api, "name") ? jstr(api, "name") : "?",
			       jstr(api, "result") ? jstr(api, "result") : "?");
	}
	fflush(stdout);
	if (c->a->wait)
		ret = wait_live(c, apis);
	json_decref(j);
	return ret;
}

static int cmd_deploy(cli *c)
{
	char pathbuf[PATH_MAX];
	const char *file = deploy_file(c, pathbuf, sizeof pathbuf);
	return file ? deploy_one_file(c, file) : 1;
}

/* 1 when the daemon has an API named name, 0 when not (404), -1 after
 * printing another failure. */
static int api_exists(cli *c, const char *name)
{
	char *path = api_path(name, "");
	char err[512];
	glia_client_response r = {0};
	int rc = glia_client_request_auth(c->sock, c->host, c->port, c->token,
					  "GET", path, NULL, NULL, 0,
					  MGMT_TIMEOUT_MS, &r, err, sizeof err);
	int ret = -1;
	if (rc == GLIA_CLIENT_ECONNECT)
		unreachable(c);
	else if (rc < 0)
		fprintf(stderr, "glia: GET %s: %s\n", path, err);
	else if (r.status == 404)
		ret = 0;
	else if (r.status >= 200 && r.status <= 299)
		ret = 1;
	else
		report_http_error(r.status, r.body.data, r.body.len, name);
	glia_client_response_free(&r);
	free(path);
	return ret;
}

/* Cortex's patch: deploy, but only APIs that exist already; a file naming
 * one that does not is refused whole, before anything changes. */
static int cmd_patch(cli *c)
{
	char pathbuf[PATH_MAX], err[1024];
	const char *file = deploy_file(c, pathbuf, sizeof pathbuf);
	glia_project p;
	if (!file)
		return 1;
	if (glia_project_load(file, 0, &p, err, sizeof err) < 0) {
		fprintf(stderr, "glia: %s\n", err);
		return 1;
	}
	int ret = 0;
	for (size_t i = 0; i < p.n && !ret; i++) {
		int e = api_exists(c, p.specs[i].name);
		if (e == 0)
			fprintf(stderr,
				"glia: api '%s' is not deployed: patch updates "
				"deployed APIs only (glia deploy creates it)\n",
				p.specs[i].name);
		ret = e == 1 ? 0 : 1;
	}
	glia_project_free(&p);
	return ret ? ret : deploy_one_file(c, file);
}

/* ---- delete, refresh ---- */

/* POST/DELETE on an API, printing "<name>: <what>" or the JSON answer. */
static int api_action(cli *c, const char *method, const char *suffix,
		      const char *what, int timeout_ms)
{
	const char *name = c->a->pos[0];
	char *path = api_path(name, suffix);
	json_t *j;
	int ret = mgmt(c, method, path, NULL, name, timeout_ms, &j);
	free(path);
	if (ret)
		return ret;
	if (c->a->json)
		print_json(j);
	else
		printf("%s: %s\n", name, what);
	json_decref(j);
	return 0;
}

/* -f is Cortex's "no prompt" (glia never asks): the replicas still
 * drain; --no-drain stops them at once. */
static int cmd_delete(cli *c)
{
	if (no_jobs(c))
		return 1;
	return api_action(c, "DELETE", c->a->no_drain ? "?force=1" : "",
			  "deleted", LONG_TIMEOUT_MS);
}

static int cmd_refresh(cli *c)
{
	return api_action(c, "POST", "/refresh", "refreshing", MGMT_TIMEOUT_MS);
}

/* ---- logs ---- */

typedef struct logs_sink {
	glia_buf error_body; /* a non-2xx answer's body */
	int write_failed;
} logs_sink;

static int logs_cb(void *ud, int status, const char *data, size_t len)
{
	logs_sink *s = ud;
	if (status < 200 || status > 299) {
		glia_buf_append(&s->error_body, data, len);
		return 0;
	}
	if (len && glia_write_all(STDOUT_FILENO, data, len) < 0) {
		s->write_failed = 1;
		return 1;
	}
	return 0;
}

static char *logs_path(const glia_cli_args *a)
{
	char *base = api_path(a->pos[0], "/logs");
	glia_buf b;
	glia_buf_init(&b, 0);
	glia_buf_puts(&b, base);
	free(base);
	char sep = '?';
	if (a->tail >= 0) {
		glia_buf_printf(&b, "%ctail=%ld", sep, a->tail);
		sep = '&';
	}
	if (a->follow) {
		glia_buf_printf(&b, "%cfollow=1", sep);
		sep = '&';
	}
	if (a->replica) {
		glia_buf_printf(&b, "%creplica=", sep);
		glia_client_url_encode(&b, a->replica);
		sep = '&';
	}
	if (a->json)
		glia_buf_printf(&b, "%cformat=json", sep);
	return b.data;
}

/* Cortex's logs --random-pod: the lines of one replica (the first the
 * daemon lists), unless --replica names one. 0, or 1 after printing why. */
static int pick_replica(cli *c, char *id, size_t idlen)
{
	const char *name = c->a->pos[0];
	json_t *j;
	int ret = get_api(c, name, MGMT_TIMEOUT_MS, &j);
	if (ret)
		return ret;
	const char *first =
		jstr(json_array_get(json_object_get(j, "replica_list"), 0), "id");
	if (first)
		snprintf(id, idlen, "%s", first);
	else
		fprintf(stderr, "glia: api '%s' has no replica now\n", name);
	json_decref(j);
	return first ? 0 : 1;
}

static int cmd_logs(cli *c)
{
	char err[512], picked[256];
	if (no_jobs(c))
		return 1;
	if (c->a->random_pod && !c->a->replica) {
		if (pick_replica(c, picked, sizeof picked))
			return 1;
		c->a->replica = picked;
	}
	/* Cortex's logs streamed: on a terminal glia follows too */
	if (!c->a->follow && !c->a->no_follow)
		c->a->follow = isatty(STDOUT_FILENO);
	char *path = logs_path(c->a);
	logs_sink sink = {.write_failed = 0};
	glia_buf_init(&sink.error_body, ERROR_BODY_MAX);
	catch_sigint();
	int status = 0;
	int ret = 1;
	int rc = glia_client_stream_auth(c->sock, c->host, c->port, c->token,
					 "GET", path, NULL, NULL, 0, 0,
					 &interrupted, logs_cb, &sink, &status,
					 err, sizeof err);
	if (rc == GLIA_CLIENT_ECONNECT)
		unreachable(c);
	else if (rc == GLIA_CLIENT_ECANCELED)
		ret = 0;
	else if (rc < 0)
		fprintf(stderr, "glia: GET %s: %s\n", path, err);
	else if (status < 200 || status > 299)
		report_http_error(status, sink.error_body.data ? sink.error_body.data : "",
				  sink.error_body.len, c->a->pos[0]);
	else
		ret = 0;
	free(path);
	glia_buf_free(&sink.error_body);
	return ret;
}

/* ---- predict ---- */

/* The payload argument: JSON text, @FILE, or - for stdin. malloc'd. */
/* Whether a payload argument names a file (Cortex's `predict API
 * sample.json`): a regular file, and not JSON text. */
static int payload_is_file(const char *arg)
{
	struct stat st;
	return !strchr("{[\"", arg[0]) && stat(arg, &st) == 0 &&
	       S_ISREG(st.st_mode);
}

static char *load_payload(const char *arg, size_t *len)
{
	int named = payload_is_file(arg);
	if (strcmp(arg, "-") != 0 && arg[0] != '@' && !named) {
		*len = strlen(arg);
		return glia_strdup(arg);
	}
	const char *file = named		? arg
			   : arg[0] == '@' ? arg + 1
					   : "/dev/stdin";
	const char *what = strcmp(arg, "-") == 0 ? "stdin" : file;
	char *text = glia_read_file(file, PAYLOAD_MAX, len);
	if (!text && errno == EFBIG)
		fprintf(stderr, "glia: %s: larger than 32 MiB\n", what);
	else if (!text)
		fprintf(stderr, "glia: %s: %s\n", what, strerror(errno));
	return text;
}

/* GET /v1/apis/NAME's "url", malloc'd; NULL after printing why. */
static char *api_url(cli *c, const char *name)
{
	json_t *j;
	int ret = get_api(c, name, MGMT_TIMEOUT_MS, &j);
	if (ret)
		return NULL;
	const char *url = jstr(j, "url");
	const char *endpoint = jstr(j, "endpoint");
	char *copy;
	if (c->remote.gateway && endpoint) /* env add --gateway */
		copy = glia_sprintf("%s%s", c->remote.gateway, endpoint);
	else
		copy = url ? glia_strdup(url) : NULL;
	if (!copy)
		fprintf(stderr, "glia: api '%s' has no endpoint url\n", name);
	json_decref(j);
	return copy;
}

static void print_body(FILE *f, const glia_buf *body)
{
	fwrite(body->data, 1, body->len, f);
	if (body->len && body->data[body->len - 1] != '\n')
		fputc('\n', f);
}

static int post_payload(const char *url, const char *payload, size_t len)
{
	char host[256], err[512];
	char *path = NULL;
	glia_client_response r = {0};
	int port, ret = 1;
	if (glia_client_parse_url(url, host, sizeof host, &port, &path) < 0) {
		fprintf(stderr, "glia: bad endpoint url '%s'\n", url);
		goto done;
	}
	int rc = glia_client_request(NULL, host, port, "POST", path,
				     "application/json", payload, len,
				     LONG_TIMEOUT_MS, &r, err, sizeof err);
	if (rc == GLIA_CLIENT_ECONNECT) {
		fprintf(stderr, "glia: cannot reach the gateway at %s: %s\n",
			url, err);
		goto done;
	}
	if (rc < 0) {
		fprintf(stderr, "glia: POST %s: %s\n", url, err);
		goto done;
	}
	if (r.status >= 200 && r.status <= 299) {
		print_body(stdout, &r.body);
		ret = 0;
	} else if (r.body.len) {
		print_body(stderr, &r.body);
	} else {
		fprintf(stderr, "glia: %s answered %d %s\n", url, r.status,
			glia_http_status_text(r.status));
	}
done:
	free(path);
	glia_client_response_free(&r);
	return ret;
}

static int cmd_predict(cli *c)
{
	size_t len;
	char *payload = load_payload(c->a->pos[1], &len);
	if (!payload)
		return 1;
	char *url = api_url(c, c->a->pos[0]);
	int ret = url ? post_payload(url, payload, len) : 1;
	free(url);
	free(payload);
	return ret;
}

/* ---- down ---- */

/* 1 while something accepts connections on the socket, 0 when nothing
 * does, -1 on another error (printed). */
static int daemon_answers(const cli *c)
{
	char err[512];
	int fd = glia_client_connect(c->sock, NULL, 0, 1000, err, sizeof err);
	if (fd >= 0) {
		close(fd);
		return 1;
	}
	if (fd == GLIA_CLIENT_ECONNECT)
		return 0;
	fprintf(stderr, "glia: %s\n", err);
	return -1;
}

/* Waits until the daemon answers no more on its socket and has exited
 * (released GLIA_HOME/daemon.lock). 0 (printed "stopped"), or 1. */
static int wait_stopped(cli *c)
{
	int64_t timeout = c->a->timeout_ms > 0 ? c->a->timeout_ms
					       : DOWN_WAIT_DEFAULT_MS;
	uint64_t deadline = glia_now_ms() + (uint64_t)timeout;
	int up;
	while (((up = daemon_answers(c)) > 0 ||
		(up == 0 && glia_daemon_lock_holder(c->home) > 0)) &&
	       glia_now_ms() < deadline)
		nap(DOWN_POLL_MS);
	if (up < 0)
		return 1;
	if (up || glia_daemon_lock_holder(c->home) > 0) {
		fprintf(stderr, "glia: the daemon is still running after %s\n",
			c->a->timeout ? c->a->timeout : "60s");
		return 1;
	}
	printf("glia: stopped\n");
	return 0;
}

/* Nothing answers on the socket (deleted, or replaced): a daemon that
 * still holds GLIA_HOME/daemon.lock gets SIGTERM, which drains like
 * POST /v1/shutdown. */
static int down_by_signal(cli *c)
{
	int pid = glia_daemon_lock_holder(c->home);
	if (pid <= 0) {
		fprintf(stderr, "glia: no daemon running (GLIA_HOME=%s)\n",
			c->home);
		return 1;
	}
	fprintf(stderr,
		"glia: the daemon (pid %d) does not answer on %s; stopping "
		"it with SIGTERM\n",
		pid, c->sock);
	if (kill(pid, SIGTERM) < 0) {
		fprintf(stderr, "glia: cannot signal pid %d: %s\n", pid,
			strerror(errno));
		return 1;
	}
	return wait_stopped(c);
}

static int cmd_down(cli *c)
{
	int up = daemon_answers(c);
	if (up < 0)
		return 1;
	if (!up)
		return down_by_signal(c);
	char err[512];
	glia_client_response r = {0};
	int rc = glia_client_request(c->sock, NULL, 0, "POST", "/v1/shutdown",
				     NULL, NULL, 0, POLL_TIMEOUT_MS, &r, err,
				     sizeof err);
	int refused = rc == 0 && (r.status < 200 || r.status > 299);
	if (refused)
		report_http_error(r.status, r.body.data, r.body.len, NULL);
	glia_client_response_free(&r);
	if (refused)
		return 1;
	/* Any other failure: the daemon may have gone before answering. */
	return wait_stopped(c);
}

/* ---- dispatch ---- */

typedef struct cmd_run {
	const char *name;
	int (*run)(cli *c);
} cmd_run;

static const cmd_run cmd_runs[] = {
	{"version", cmd_version}, {"deploy", cmd_deploy},
	{"get", cmd_get},         {"describe", cmd_describe},
	{"logs", cmd_logs},       {"delete", cmd_delete},
	{"refresh", cmd_refresh}, {"predict", cmd_predict},
	{"down", cmd_down},       {"patch", cmd_patch},
};

/* --env NAME other than local: the remote daemon's address and token
 * (env.c). 0, or -1 after printing why. */
static int use_remote_env(cli *c)
{
	char *path = NULL;
	if (glia_env_remote(c->a->home, c->a->env, &c->remote) < 0)
		return -1;
	c->url = c->remote.url;
	c->token = c->remote.token;
	if (glia_client_parse_url(c->url, c->host, sizeof c->host, &c->port,
				  &path) < 0) {
		fprintf(stderr, "glia: env %s: bad url '%s'\n", c->a->env,
			c->url);
		return -1;
	}
	free(path);
	if (strcmp(c->a->command, "down") == 0) {
		fprintf(stderr, "glia: down stops the local daemon; not with "
				"--env %s\n",
			c->a->env);
		return -1;
	}
	return 0;
}

static int run_command(glia_cli_args *a)
{
	cli c = {.a = a};
	int ret = 2;
	c.home = glia_home_dir(a->home);
	if (a->env && strcmp(a->env, "local") != 0) {
		if (use_remote_env(&c) < 0)
			ret = 1;
	} else {
		c.sock = glia_sprintf("%s/glia.sock", c.home);
	}
	for (size_t i = 0; i < NELEM(cmd_runs) && ret == 2; i++)
		if (strcmp(cmd_runs[i].name, a->command) == 0)
			ret = cmd_runs[i].run(&c);
	fflush(stdout);
	free(c.sock);
	glia_remote_env_free(&c.remote);
	free(c.home);
	return ret;
}

static int cli_main(int argc, char **argv)
{
	glia_cli_args a;
	char err[256];
	int status;
	if (glia_env_dispatch(argc, argv, &status))
		return status;
	if (argc >= 2 && strcmp(argv[1], "build") == 0)
		return glia_build_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "render") == 0)
		return glia_render_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "keys") == 0)
		return glia_keys_main(argc - 1, argv + 1);
	if (argc >= 2 && (strcmp(argv[1], "cluster") == 0 ||
			  strcmp(argv[1], "cluster-gcp") == 0)) {
		fprintf(stderr, "glia: there is no cluster to manage: `glia up` "
				"starts the local daemon and `glia down` stops "
				"it; a Kubernetes cluster is an env (glia env "
				"add NAME --kubernetes)\n");
		return 1;
	}
	if (argc >= 2 && strcmp(argv[1], "autoscale") == 0) {
		if (argc >= 3 && strcmp(argv[2], "simulate") == 0)
			return glia_autoscale_simulate_main(argc - 2, argv + 2);
		fprintf(stderr, "glia: usage: glia autoscale simulate FILE "
				"--trace TRACE.csv [options]\n");
		return 2;
	}
	if (glia_cli_parse(argc, argv, &a, err, sizeof err) < 0) {
		fprintf(stderr, "glia: %s\n\n%s", err, glia_cli_usage);
		return 2;
	}
	if (a.help) {
		fputs(glia_cli_usage, stdout);
		return 0;
	}
	if (a.unimplemented) {
		fprintf(stderr, "glia: %s is not implemented yet\n", a.command);
		return 1;
	}
	return run_command(&a);
}

int glia_cli_main(int argc, char **argv)
{
	int n, status = 1;
	/* no --env: the default env (glia env default) */
	char **v = glia_env_with_default(argc, argv, &n, &status);
	if (!v)
		return status;
	status = cli_main(n, v);
	if (v != argv) {
		free(v[2]);
		free(v);
	}
	return status;
}
