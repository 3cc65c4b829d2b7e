/* cli.h: every user command except `up` and `worker`; talks to the daemon
 * through the management API (docs/management-api.md). */
#ifndef GLIA_CLI_H
#define GLIA_CLI_H

/* argv[0] is the program name. Exit status per SPEC section 2: 0 success,
 * 1 failure, 2 usage error. */
int glia_cli_main(int argc, char **argv);

/* Resolves GLIA_HOME: the --home value when not NULL, else $GLIA_HOME, else
 * ~/.glia. Returns a malloc'd absolute path. */
char *glia_home_dir(const char *flag_value);

/* `glia keys create|list|revoke|export` (cli_keys.c); argv[0] is "keys". */
int glia_keys_main(int argc, char **argv);
/* What `glia keys export` prints (JSON, ending in a newline), from the
 * daemon of home (NULL: GLIA_HOME or ~/.glia); NULL after printing why.
 * malloc'd. */
char *glia_keys_export_text(const char *home);

#endif
