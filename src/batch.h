/* batch.h: server-side batching inside `glia worker` (SPEC section 3,
 * predictor.server_side_batching). Serving threads hand their request to
 * the batcher and block; one batch thread gathers requests until the batch
 * is full or batch_interval has passed since its first request arrived,
 * then calls the batch function once with all of them, in arrival order,
 * and wakes each serving thread when its answer is ready.
 *
 * One batch runs at a time (as in Cortex: the predictor's predict is never
 * called concurrently); requests arriving meanwhile gather for the next. */
#ifndef GLIA_BATCH_H
#define GLIA_BATCH_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* One request waiting in the batcher; owned by its serving thread and
 * reused across requests (glia_batch_item_init once). */
typedef struct glia_batch_item {
	void *data; /* the caller's request and response */
	/* Private: */
	pthread_cond_t done_cond;
	struct timespec arrived_at; /* CLOCK_MONOTONIC */
	int done;
	struct glia_batch_item *next;
} glia_batch_item;

/* Handles items[0..n-1] (1 <= n <= max_batch). Runs on the batch thread. */
typedef void (*glia_batch_fn)(void *ud, glia_batch_item **items, size_t n);
/* Called once on the batch thread before its first batch (may be NULL). */
typedef void (*glia_batch_thread_fn)(void *ud);

typedef struct glia_batcher glia_batcher;

/* Starts the batch thread. NULL when the thread cannot start. */
glia_batcher *glia_batcher_new(size_t max_batch, int64_t interval_ms,
                               glia_batch_fn fn, glia_batch_thread_fn init,
                               void *ud);
/* Stops after the requests already queued were handled; joins the thread
 * and frees b. No glia_batcher_run may be in progress or follow. */
void glia_batcher_free(glia_batcher *b);

void glia_batch_item_init(glia_batch_item *item);
void glia_batch_item_destroy(glia_batch_item *item);

/* Queues item and blocks until its batch was handled. */
void glia_batcher_run(glia_batcher *b, glia_batch_item *item);

#endif
