/* main.c: the glia binary. Only picks the subsystem; each one parses its
 * own arguments. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "cgroup.h"
#include "cli.h"
#include "daemon.h"
#include "gatewayd.h"
#include "replica.h"
#include "worker.h"

/* A pod's other container (`--sidecar NARGS NENV ARGS... ENV...`): a
 * child of the server, which dies with it; its env adds to the server's. */
static void start_sidecar(char **args, int na, char **env, int ne)
{
	pid_t pid = fork();
	if (pid != 0) {
		if (pid < 0)
			fprintf(stderr, "glia: cannot start %s: %s\n", args[0],
				strerror(errno));
		return;
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	char **v = calloc((size_t)na + 1, sizeof *v);
	if (!v)
		_exit(127);
	memcpy(v, args, (size_t)na * sizeof *v);
	for (int k = 0; k < ne; k++)
		putenv(env[k]);
	execvp(v[0], v);
	fprintf(stderr, "glia: cannot run %s: %s\n", v[0], strerror(errno));
	_exit(127);
}

/* --sidecar NARGS NENV ARGS... ENV...: each started, *i moves past. */
static int sidecars(int argc, char **argv, int *i)
{
	while (*i + 2 < argc && strcmp(argv[*i], "--sidecar") == 0) {
		int na = atoi(argv[*i + 1]), ne = atoi(argv[*i + 2]);
		int at = *i + 3;
		if (na < 1 || ne < 0 || na > argc - at || ne > argc - at - na)
			return -1;
		start_sidecar(argv + at, na, argv + at + na, ne);
		*i = at + na + ne;
	}
	return 0;
}

/* `glia __exec [--sidecar ...]... -- CMD ARGS...`: how the daemon starts
 * a `type: command` server (and a pod's other containers). The server is
 * to die with the daemon, which only the child itself can ask for
 * (PR_SET_PDEATHSIG survives exec). */
static int exec_command(int argc, char **argv)
{
	int i = 2;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	const char *parent = getenv("GLIA_PARENT_PID");
	if (parent && *parent ? getppid() != (pid_t)atoi(parent)
			      : getppid() == 1)
		return 1; /* the daemon is already gone */
	close(3);     /* the worker status pipe: command servers use probes */
	if (sidecars(argc, argv, &i) < 0) {
		fputs("glia __exec: bad --sidecar\n", stderr);
		return 2;
	}
	if (i < argc && strcmp(argv[i], "--") == 0)
		i++;
	if (i >= argc) {
		fputs("glia __exec: no command\n", stderr);
		return 2;
	}
	execvp(argv[i], argv + i);
	fprintf(stderr, "glia: cannot run %s: %s\n", argv[i], strerror(errno));
	return 127;
}

int main(int argc, char **argv)
{
	glia_cgroup_join_from_env(); /* before any user code can run */
	if (argc >= 2 && strcmp(argv[1], "__exec") == 0)
		return exec_command(argc, argv);
	/* `glia --home DIR up ...` means `glia up --home DIR ...`. */
	char *moved[argc + 1];
	if (argc >= 4 && strcmp(argv[1], "--home") == 0) {
		moved[0] = argv[0];
		moved[1] = argv[3];
		moved[2] = argv[1];
		moved[3] = argv[2];
		for (int i = 4; i <= argc; i++)
			moved[i] = argv[i];
		argv = moved;
	}
	if (argc >= 2 && strcmp(argv[1], "up") == 0)
		return glia_daemon_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "worker") == 0)
		return glia_replica_wanted(argc - 1, argv + 1)
			       ? glia_replica_main(argc - 1, argv + 1)
			       : glia_worker_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "gateway") == 0)
		return glia_gatewayd_main(argc - 1, argv + 1);
	return glia_cli_main(argc, argv);
}
