/* daemon.h: `glia up`, the local cluster: gateway, management API,
 * supervisor and state store on one libuv loop. */
#ifndef GLIA_DAEMON_H
#define GLIA_DAEMON_H

/* argv[0] is "up". Returns the process exit status. */
int glia_daemon_main(int argc, char **argv);

/* The daemon running for home, found without its socket: the pid written
 * in home/daemon.lock, when /proc/locks shows that process holding the
 * file's lock (a daemon holds it for life). 0 when no daemon runs. */
int glia_daemon_lock_holder(const char *home);

#endif
