/* batch.c: the batcher of batch.h: a FIFO of waiting items under one
 * mutex, one batch thread, a condition per item for its wake-up. */
#include "batch.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "util.h"

struct glia_batcher {
	pthread_mutex_t lock;
	pthread_cond_t arrived; /* the batch thread waits here */
	glia_batch_item *head, *tail;
	size_t count;
	size_t max_batch;
	int64_t interval_ms;
	int stopping;
	glia_batch_fn fn;
	glia_batch_thread_fn init;
	void *ud;
	pthread_t tid;
	glia_batch_item **taken; /* max_batch slots */
};

static void deadline_after(struct timespec *t, int64_t ms)
{
	t->tv_sec += (time_t)(ms / 1000);
	t->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

/* Waits (lock held) until a batch is due: full, or the interval since the
 * first item passed, or stopping with items left. 0 when there is a
 * batch, -1 when stopping with nothing queued. */
static int wait_for_batch(glia_batcher *b)
{
	while (!b->head && !b->stopping)
		pthread_cond_wait(&b->arrived, &b->lock);
	if (!b->head)
		return -1;
	struct timespec deadline = b->head->arrived_at;
	deadline_after(&deadline, b->interval_ms);
	while (b->count < b->max_batch && !b->stopping) {
		int rc =
		    pthread_cond_timedwait(&b->arrived, &b->lock, &deadline);
		if (rc == ETIMEDOUT)
			break;
	}
	return 0;
}

/* Moves up to max_batch items from the queue into b->taken (lock held). */
static size_t take_batch(glia_batcher *b)
{
	size_t n = 0;

	while (b->head && n < b->max_batch) {
		glia_batch_item *it = b->head;
		b->head = it->next;
		it->next = NULL;
		b->taken[n++] = it;
	}
	if (!b->head)
		b->tail = NULL;
	b->count -= n;
	return n;
}

static void *batch_main(void *arg)
{
	glia_batcher *b = arg;

	if (b->init)
		b->init(b->ud);
	pthread_mutex_lock(&b->lock);
	while (wait_for_batch(b) == 0) {
		size_t n = take_batch(b);
		pthread_mutex_unlock(&b->lock);
		b->fn(b->ud, b->taken, n);
		pthread_mutex_lock(&b->lock);
		for (size_t i = 0; i < n; i++) {
			b->taken[i]->done = 1;
			pthread_cond_signal(&b->taken[i]->done_cond);
		}
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

static void init_cond(pthread_cond_t *c)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(c, &attr);
	pthread_condattr_destroy(&attr);
}

glia_batcher *glia_batcher_new(size_t max_batch, int64_t interval_ms,
                               glia_batch_fn fn, glia_batch_thread_fn init,
                               void *ud)
{
	glia_batcher *b = glia_calloc(1, sizeof(*b));

	pthread_mutex_init(&b->lock, NULL);
	init_cond(&b->arrived);
	b->max_batch = max_batch ? max_batch : 1;
	b->interval_ms = interval_ms > 0 ? interval_ms : 0;
	b->fn = fn;
	b->init = init;
	b->ud = ud;
	b->taken = glia_calloc(b->max_batch, sizeof(*b->taken));
	if (pthread_create(&b->tid, NULL, batch_main, b) != 0) {
		free(b->taken);
		pthread_cond_destroy(&b->arrived);
		pthread_mutex_destroy(&b->lock);
		free(b);
		return NULL;
	}
	return b;
}

void glia_batcher_free(glia_batcher *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&b->lock);
	b->stopping = 1;
	pthread_cond_signal(&b->arrived);
	pthread_mutex_unlock(&b->lock);
	pthread_join(b->tid, NULL);
	free(b->taken);
	pthread_cond_destroy(&b->arrived);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

void glia_batch_item_init(glia_batch_item *item)
{
	item->data = NULL;
	item->done = 0;
	item->next = NULL;
	init_cond(&item->done_cond);
}

void glia_batch_item_destroy(glia_batch_item *item)
{
	pthread_cond_destroy(&item->done_cond);
}

void glia_batcher_run(glia_batcher *b, glia_batch_item *item)
{
	pthread_mutex_lock(&b->lock);
	item->done = 0;
	item->next = NULL;
	clock_gettime(CLOCK_MONOTONIC, &item->arrived_at);
	if (b->tail)
		b->tail->next = item;
	else
		b->head = item;
	b->tail = item;
	b->count++;
	/* The batch thread cares about the first item and a full batch. */
	if (b->count == 1 || b->count >= b->max_batch)
		pthread_cond_signal(&b->arrived);
	while (!item->done)
		pthread_cond_wait(&item->done_cond, &b->lock);
	pthread_mutex_unlock(&b->lock);
}
