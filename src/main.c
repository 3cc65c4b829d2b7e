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

/* `glia __exec -- CMD ARGS...`: how the daemon starts a `type: command`
 * server. The server is to die with the daemon, which only the child itself
 * can ask for (PR_SET_PDEATHSIG survives exec). */
static int exec_command(int argc, char **argv)
{
	int i = 2;
	if (i < argc && strcmp(argv[i], "--") == 0)
		i++;
	if (i >= argc) {
		fputs("glia __exec: no command\n", stderr);
		return 2;
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	const char *parent = getenv("GLIA_PARENT_PID");
	if (parent && *parent ? getppid() != (pid_t)atoi(parent)
			      : getppid() == 1)
		return 1; /* the daemon is already gone */
	close(3);     /* the worker status pipe: command servers use probes */
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
