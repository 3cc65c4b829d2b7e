/* test_batch.c: the batcher of src/batch.c with real threads: full batches
 * go at once, a lone request waits batch_interval, order is kept, one
 * batch runs at a time, and every request is handled exactly once. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "batch.h"

#define MAX_CALLS 256

typedef struct recorder {
	pthread_mutex_t lock;
	size_t sizes[MAX_CALLS];
	size_t calls;
	int running, overlapped;
	int handled[MAX_CALLS];
	int in_order;
	struct timespec last_arrival;
	useconds_t work_us;
} recorder;

static int before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
	       (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void record(void *ud, glia_batch_item **items, size_t n)
{
	recorder *r = ud;

	pthread_mutex_lock(&r->lock);
	if (r->running)
		r->overlapped = 1;
	r->running = 1;
	r->sizes[r->calls] = n;
	r->calls++;
	/* FIFO: arrival times never go back, within a batch or across */
	for (size_t i = 0; i < n; i++) {
		int v = *(int *)items[i]->data;
		r->handled[v]++;
		if (before(&items[i]->arrived_at, &r->last_arrival))
			r->in_order = 0;
		r->last_arrival = items[i]->arrived_at;
	}
	pthread_mutex_unlock(&r->lock);
	if (r->work_us)
		usleep(r->work_us);
	pthread_mutex_lock(&r->lock);
	r->running = 0;
	pthread_mutex_unlock(&r->lock);
}

static void recorder_init(recorder *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	r->in_order = 1;
}

typedef struct submitter {
	glia_batcher *b;
	int value;
	glia_batch_item item;
} submitter;

static void *submit_main(void *arg)
{
	submitter *s = arg;

	glia_batch_item_init(&s->item);
	s->item.data = &s->value;
	glia_batcher_run(s->b, &s->item);
	glia_batch_item_destroy(&s->item);
	return NULL;
}

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* n threads submit values 0..n-1, a little apart. */
static void submit_in_order(glia_batcher *b, submitter *subs, pthread_t *tids,
                            int n)
{
	for (int i = 0; i < n; i++) {
		subs[i].b = b;
		subs[i].value = i;
		assert_int_equal(
		    pthread_create(&tids[i], NULL, submit_main, &subs[i]), 0);
		usleep(2000);
	}
	for (int i = 0; i < n; i++)
		pthread_join(tids[i], NULL);
}

static void full_batch_goes_at_once(void **state)
{
	recorder r;
	submitter subs[4];
	pthread_t tids[4];

	recorder_init(&r);
	/* an interval far longer than the test: only fullness can fire it */
	glia_batcher *b = glia_batcher_new(4, 60000, record, NULL, &r);
	assert_non_null(b);
	double t0 = now_ms();
	submit_in_order(b, subs, tids, 4);
	assert_true(now_ms() - t0 < 30000);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.sizes[0], 4);
	assert_true(r.in_order);
	glia_batcher_free(b);
}

static void lone_request_waits_the_interval(void **state)
{
	recorder r;
	submitter s;
	pthread_t tid;

	recorder_init(&r);
	glia_batcher *b = glia_batcher_new(8, 50, record, NULL, &r);
	double t0 = now_ms();
	submit_in_order(b, &s, &tid, 1);
	double took = now_ms() - t0;
	assert_true(took >= 49.0);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.sizes[0], 1);
	glia_batcher_free(b);
}

static void many_requests_split_into_batches(void **state)
{
	enum { N = 40 };
	recorder r;
	submitter subs[N];
	pthread_t tids[N];
	size_t total = 0;

	recorder_init(&r);
	r.work_us = 5000; /* requests pile up while a batch runs */
	glia_batcher *b = glia_batcher_new(4, 200, record, NULL, &r);
	submit_in_order(b, subs, tids, N);
	for (size_t i = 0; i < r.calls; i++) {
		assert_true(r.sizes[i] >= 1 && r.sizes[i] <= 4);
		total += r.sizes[i];
	}
	assert_int_equal(total, N);
	for (int v = 0; v < N; v++)
		assert_int_equal(r.handled[v], 1);
	assert_true(r.in_order);
	assert_false(r.overlapped);
	assert_true(r.calls < N); /* some batch held more than one */
	glia_batcher_free(b);
}

static int thread_inits;
static void count_init(void *ud)
{
	thread_inits++;
}

static void free_without_requests(void **state)
{
	recorder r;

	recorder_init(&r);
	thread_inits = 0;
	glia_batcher *b = glia_batcher_new(2, 10, record, count_init, &r);
	glia_batcher_free(b);
	assert_int_equal(r.calls, 0);
	assert_int_equal(thread_inits, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(full_batch_goes_at_once),
	    cmocka_unit_test(lone_request_waits_the_interval),
	    cmocka_unit_test(many_requests_split_into_batches),
	    cmocka_unit_test(free_without_requests),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
