/* threads.c — the worker threads behind the compiled step's parallel kernels.
 *
 * The generated step calls nnd_parallel_for(task, ctx, n, align): [0, n) is
 * cut into one contiguous chunk per thread, boundaries at multiples of
 * `align`. The calling thread and the workers take chunks from a shared
 * counter until none is left, so a worker that is not running (another
 * process has its core) leaves its chunk to the others instead of making the
 * caller wait for it. A parallel kernel computes each of its outputs in
 * exactly one chunk, in the order one thread would, so results are the same
 * for any number of threads and whoever runs which chunk.
 *
 * A step hands out many small jobs, so workers spin (briefly) on an atomic
 * job counter rather than sleep: waking a sleeping thread costs more than
 * most kernels take. After a while without work they sleep on a condition
 * variable until the next job. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "runtime.h"

#define SPINS 20000 /* polls before a worker sleeps (a fraction of a millisecond) */

/* a polite poll: on x86, PAUSE leaves the core's resources to a sibling
 * hardware thread (a VM's "cores" may be one) */
static inline void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

typedef void (*RtTask)(void *ctx, int64_t lo, int64_t hi);

static struct {
  pthread_mutex_t lock;
  pthread_cond_t wake;
  pthread_t *workers;
  int nthreads;
  atomic_long generation; /* one more for each job */
  atomic_llong ticket;    /* the current job's generation << 32 | its next chunk */
  atomic_int active;      /* workers taking or running chunks */
  atomic_int sleepers;
  atomic_bool stop;
  RtTask task;
  void *ctx;
  int64_t n, align;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, .nthreads = 1};

static void chunk(int t, int64_t *lo, int64_t *hi) {
  int64_t blocks = (pool.n + pool.align - 1) / pool.align;
  *lo = blocks * t / pool.nthreads * pool.align;
  *hi = blocks * (t + 1) / pool.nthreads * pool.align;
  if (*hi > pool.n) *hi = pool.n;
}

/* runs chunks of job `generation` until none is left (or the job is over) */
static void take_chunks(long generation) {
  for (;;) {
    long long t = atomic_load(&pool.ticket);
    if ((t >> 32) != (generation & 0x7fffffff) || (t & 0xffffffff) >= pool.nthreads) return;
    if (!atomic_compare_exchange_weak(&pool.ticket, &t, t + 1)) continue;
    int64_t lo, hi;
    chunk((int)(t & 0xffffffff), &lo, &hi);
    if (lo < hi) pool.task(pool.ctx, lo, hi);
  }
}

static long next_job(long seen) {
  for (long spin = 0;; spin++) {
    long g = atomic_load_explicit(&pool.generation, memory_order_acquire);
    if (g != seen || atomic_load(&pool.stop)) return g;
    if (spin < SPINS) {
      relax();
      continue;
    }
    pthread_mutex_lock(&pool.lock); /* idle for long: sleep until the next job */
    atomic_fetch_add(&pool.sleepers, 1);
    while (atomic_load(&pool.generation) == seen && !atomic_load(&pool.stop)) pthread_cond_wait(&pool.wake, &pool.lock);
    atomic_fetch_sub(&pool.sleepers, 1);
    pthread_mutex_unlock(&pool.lock);
    spin = 0;
  }
}

static void *worker(void *unused) {
  (void)unused;
  long seen = 0;
  rt_fp_enter(); /* a worker runs generated code only: it keeps the mode */
  for (;;) {
    seen = next_job(seen);
    if (atomic_load(&pool.stop)) return NULL;
    atomic_fetch_add(&pool.active, 1); /* before taking: the caller waits for it */
    take_chunks(seen);
    atomic_fetch_sub(&pool.active, 1);
  }
}

void nnd_parallel_for(RtTask task, void *ctx, int64_t n, int64_t align) {
  if (pool.nthreads <= 1 || n <= align) {
    task(ctx, 0, n);
    return;
  }
  pool.task = task, pool.ctx = ctx, pool.n = n, pool.align = align > 0 ? align : 1;
  long generation = atomic_load(&pool.generation) + 1;
  atomic_store(&pool.ticket, (long long)(generation & 0x7fffffff) << 32);
  atomic_store(&pool.generation, generation);
  if (atomic_load(&pool.sleepers)) {
    pthread_mutex_lock(&pool.lock);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
  }
  take_chunks(generation);
  while (atomic_load(&pool.active) > 0) relax(); /* the chunks others took */
}

void rt_threads_start(int n) {
  if (pool.workers || n <= 1) return;
  pool.nthreads = n;
  atomic_store(&pool.stop, false);
  pool.workers = calloc(n, sizeof *pool.workers);
  for (int t = 1; t < n; t++) pthread_create(&pool.workers[t], NULL, worker, NULL);
}

void rt_threads_stop(void) {
  if (!pool.workers) return;
  pthread_mutex_lock(&pool.lock);
  atomic_store(&pool.stop, true);
  pthread_cond_broadcast(&pool.wake);
  pthread_mutex_unlock(&pool.lock);
  for (int t = 1; t < pool.nthreads; t++) pthread_join(pool.workers[t], NULL);
  free(pool.workers);
  pool.workers = NULL;
  pool.nthreads = 1;
}
