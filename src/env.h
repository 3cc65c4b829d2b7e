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

#endif
