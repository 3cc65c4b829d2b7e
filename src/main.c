/* main.c: the glia binary. Only picks the subsystem; each one parses its
 * own arguments. */
#include <string.h>

#include "cli.h"
#include "daemon.h"
#include "worker.h"

int main(int argc, char **argv)
{
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
		return glia_worker_main(argc - 1, argv + 1);
	return glia_cli_main(argc, argv);
}
