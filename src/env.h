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

/* The remote daemon kept as env NAME (`glia env add NAME --url URL
 * --token TOKEN`): *url ("http://HOST:PORT") and *token, malloc'd; 0. -1
 * after printing why (no such env, not a remote one, unreadable file).
 * home_flag: --home's value or NULL. */
int glia_env_remote(const char *home_flag, const char *name, char **url,
                    char **token);

#endif
