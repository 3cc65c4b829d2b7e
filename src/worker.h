/* worker.h: `glia worker`, one replica process: hosts the predictor and
 * serves HTTP/1.1 on a Unix socket (docs/internals.md, "Worker contract"). */
#ifndef GLIA_WORKER_H
#define GLIA_WORKER_H

/* argv[0] is "worker". Returns the process exit status. */
int glia_worker_main(int argc, char **argv);

#endif
