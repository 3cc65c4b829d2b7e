/* cli_internal.h: the pure parts of the CLI (argument parsing, tables,
 * formatting of ages and latencies), exposed for tests/unit/test_cli.c.
 * Nothing here touches sockets, files or clocks. */
#ifndef GLIA_CLI_INTERNAL_H
#define GLIA_CLI_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define GLIA_CLI_MAX_POS 4

typedef struct glia_cli_args {
	const char *command;  /* argv entry; NULL when none was given */
	int help;             /* -h/--help anywhere: print usage, exit 0 */
	const char *home;     /* --home DIR, or NULL */
	int json;             /* -o json (logs: --json, one object a line) */
	int wait;             /* deploy --wait */
	int watch;            /* get -w */
	int follow;           /* logs -f */
	int force;            /* delete/deploy/patch/refresh -f: no prompt */
	int no_follow;        /* logs --no-follow */
	int no_drain;         /* delete --no-drain */
	int yes;              /* -y/--yes (glia never prompts) */
	int keep_cache;       /* delete -c/--keep-cache (Cortex's; no-op) */
	int verbose;          /* get -v (Cortex's; no-op) */
	int random_pod;       /* logs --random-pod: one replica's lines */
	const char *env;      /* -e/--env NAME ("local": the local daemon) */
	int64_t timeout_ms;   /* --timeout; -1 when not given */
	const char *timeout;  /* --timeout as written, or NULL */
	long tail;            /* logs --tail N; -1 when not given */
	const char *replica;  /* logs --replica ID, or NULL */
	const char *pos[GLIA_CLI_MAX_POS]; /* positional arguments */
	int n_pos;
	int unimplemented;    /* a SPEC command not built yet (job, ...) */
} glia_cli_args;

/* Parses argv (argv[0] is the program). Options may come before or after
 * the command and its positional arguments; "--" ends options. Returns 0,
 * or -1 on a usage error with one line in err. A known but unimplemented
 * command sets unimplemented and skips checking its arguments. */
int glia_cli_parse(int argc, char **argv, glia_cli_args *a, char *err,
		   size_t errlen);

/* The index in argv of the command word: the first argument that is
 * neither an option nor an option's value (`glia -o json get`: 3), or
 * the one after "--"; 0 when there is none. */
int glia_cli_command_index(int argc, char **argv);

/* The usage text (for --help and usage errors). */
extern const char glia_cli_usage[];

/* A text table: columns padded to their widest cell, two spaces apart,
 * no trailing blanks. The first row is the header. */
typedef struct glia_cli_table {
	size_t ncols;
	char **cells; /* row-major, owned */
	size_t n, cap;
} glia_cli_table;

void glia_cli_table_init(glia_cli_table *t, size_t ncols);
/* Appends one cell (a NULL s becomes "-"); control characters become
 * spaces so that a cell stays on one line. */
void glia_cli_table_cell(glia_cli_table *t, const char *s);
void glia_cli_table_cellf(glia_cli_table *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Appends the formatted table to out; a partial last row is dropped. */
void glia_cli_table_format(const glia_cli_table *t, glia_buf *out);
void glia_cli_table_free(glia_cli_table *t);

/* An age in seconds as "5s", "3m", "2h", "4d" (rounded down; negative
 * counts as 0). */
void glia_cli_format_age(double secs, char *out, size_t outlen);
/* A latency in milliseconds: "0.42ms", "12.3ms", "250ms", "1.50s";
 * negative gives "-". */
void glia_cli_format_latency(double ms, char *out, size_t outlen);
/* Requests per second: "0", "0.02", "0.5", "12.3", "1234" (negative
 * gives "-"). */
void glia_cli_format_rate(double rps, char *out, size_t outlen);

/* A count: exact below a million, then three digits and a unit: "999999",
 * "1.23M", "12.3M", "123M", "1.5G". */
void glia_cli_format_count(long long n, char *out, size_t outlen);

/* The `glia get` screens, from the management API's answers
 * (docs/management-api.md): the table of GET /v1/apis, and the detail of
 * GET /v1/apis/NAME (fields, replicas, recent errors, predictions). now is
 * the wall clock, for ages. */
void glia_cli_render_list(json_t *apis, double now, glia_buf *out);
void glia_cli_render_detail(json_t *api, double now, glia_buf *out);

#endif
