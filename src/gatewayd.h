/* gatewayd.h: `glia gateway [FILE] --listen HOST:PORT --discover SPEC`,
 * the gateway without a local supervisor: it routes the APIs of FILE to
 * replicas that run elsewhere (`glia worker --api`), found by discovery
 * (discover.h). docs/containers.md. */
#ifndef GLIA_GATEWAYD_H
#define GLIA_GATEWAYD_H

/* argv[0] is "gateway". Returns the exit status: 0 after SIGTERM/SIGINT
 * once the requests in flight are answered, 1 when it could not start, 2
 * on a usage error. */
int glia_gatewayd_main(int argc, char **argv);

#endif
