/* main.c: the glia binary. Only picks the subsystem; each one parses its
 * own arguments. */
#include <string.h>

#include "cli.h"
#include "daemon.h"
#include "worker.h"

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "up") == 0)
		return glia_daemon_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "worker") == 0)
		return glia_worker_main(argc - 1, argv + 1);
	return glia_cli_main(argc, argv);
}
