/* replica.h: `glia worker --api NAME --listen HOST:PORT [FILE]`, one
 * replica of an API as its own program, for containers and other hosts
 * (docs/containers.md). */
#ifndef GLIA_REPLICA_H
#define GLIA_REPLICA_H

/* 1 when argv (argv[0] "worker") is the public form, 0 when it is the
 * internal worker process the daemon starts (--spec, --socket,
 * --project-dir: worker.h). */
int glia_replica_wanted(int argc, char **argv);
/* Returns the exit status: 0 after SIGTERM/SIGINT once drained, 1 when it
 * could not start, 2 on a usage error. */
int glia_replica_main(int argc, char **argv);

#endif
