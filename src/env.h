/* env.h: environments (docs/cli.md#environments): `glia env add NAME
 * --kubernetes ...` stores a Kubernetes cluster (kubectl context,
 * namespace, registry) in GLIA_HOME/envs.json; `glia deploy --env NAME`
 * builds, pushes, renders and applies the project there with kubectl, and
 * get, describe, logs and delete with --env NAME read it back through
 * kubectl (docs/kubernetes.md#glia-deploy---env). */
#ifndef GLIA_ENV_H
#define GLIA_ENV_H

/* Whether argv (argv[0] the program) is `glia env ...` or a command given
 * --env: then *status gets the exit status and 1 is returned; 0 when the
 * command is the local daemon's. */
int glia_env_dispatch(int argc, char **argv, int *status);

/* The default env (`glia env default NAME`, kept in envs.json) applied
 * to argv: when argv's command word (wherever options put it: `glia -y
 * get`) takes --env (not up or down), argv names no env, and the default
 * is not local, a new array with "--env NAME" before the rest of argv
 * (free its [2], then it), *n_argv its count; otherwise argv itself.
 * NULL after explaining, *status the exit status: envs.json unreadable,
 * or a Kubernetes default with a command it does not take. */
char **glia_env_with_default(int argc, char **argv, int *n_argv,
                             int *status);

/* A remote daemon kept as an env (`glia env add NAME --url URL --token
 * TOKEN [--gateway URL]`): strings malloc'd; gateway NULL when not given
 * (then the URLs the daemon reports are used). */
typedef struct glia_remote_env {
	char *url;     /* "http://HOST:PORT": its --admin-listen */
	char *token;   /* its GLIA_HOME/token */
	char *gateway; /* "http://HOST:PORT" of its gateway, or NULL */
} glia_remote_env;

/* Env NAME into *r: 0. -1 after printing why (no such env, not a remote
 * one, unreadable file). home_flag: --home's value or NULL. */
int glia_env_remote(const char *home_flag, const char *name,
                    glia_remote_env *r);
void glia_remote_env_free(glia_remote_env *r);

#endif
