/* daemon.h: `glia up`, the local cluster: gateway, management API,
 * supervisor and state store on one libuv loop. */
#ifndef GLIA_DAEMON_H
#define GLIA_DAEMON_H

/* argv[0] is "up". Returns the process exit status. */
int glia_daemon_main(int argc, char **argv);

#endif
