/* C side of the Go binding (see shim.h). Compiled by cgo with the package. */
#define _POSIX_C_SOURCE 200809L
#include "shim.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "_cgo_export.h"

void lmgo_drain(LlametteTaskFn task, void *task_ctx, uint32_t *next, uint32_t n_tasks) {
  _Atomic uint32_t *counter = (_Atomic uint32_t *)next;
  for (;;) {
    uint32_t i = atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
    if (i >= n_tasks) return;
    task(task_ctx, i);
  }
}

void lmgo_run_range(LlametteTaskFn task, void *task_ctx, uint32_t first, uint32_t end) {
  for (uint32_t i = first; i < end; i++) task(task_ctx, i);
}

void lmgo_parallel_goroutines(void *user, uint32_t n_tasks, LlametteTaskFn task, void *task_ctx) {
  llametteGoParallel((uintptr_t)user, n_tasks, task, task_ctx);
}

LlametteStatus lmgo_set_parallel_goroutines(LlametteContext *c, uintptr_t handle, uint32_t width) {
  return llamette_context_set_parallel(c, lmgo_parallel_goroutines, (void *)handle, width);
}

bool lmgo_on_piece(void *user, const char *text, size_t len) {
  return llametteGoPiece((uintptr_t)user, (char *)text, len);
}

bool lmgo_on_token(void *user, uint32_t token, const LlametteTokenLogprob *logprob) {
  return llametteGoToken((uintptr_t)user, token, (LlametteTokenLogprob *)logprob);
}

LlametteStatus lmgo_generate_ex(LlametteContext *c, LlametteSampler *s, const uint32_t *prompt,
                                size_t n_prompt, LlametteGenerateParamsEx *p, uintptr_t handle,
                                bool want_tokens, LlametteStopReason *reason,
                                uint32_t *n_generated, size_t *n_reused) {
  p->on_token = want_tokens ? lmgo_on_token : NULL;
  p->token_user = want_tokens ? (void *)handle : NULL;
  return llamette_generate_ex(c, s, prompt, n_prompt, p, lmgo_on_piece, (void *)handle, reason,
                              n_generated, n_reused);
}

void lmgo_logits_processor(void *user, float *logits, size_t n_vocab) {
  llametteGoLogits((uintptr_t)user, logits, n_vocab);
}

LlametteStatus lmgo_set_logits_processor(LlametteSampler *s, uintptr_t handle) {
  return llamette_sampler_set_logits_processor(s, lmgo_logits_processor, (void *)handle);
}

void lmgo_parallel_counting_serial(void *user, uint32_t n_tasks, LlametteTaskFn task,
                                   void *task_ctx) {
  LmgoCounter *c = (LmgoCounter *)user;
  c->calls++;
  c->tasks += n_tasks;
  for (uint32_t i = 0; i < n_tasks; i++) task(task_ctx, i);
}

/* ---- the pinned pool ------------------------------------------------------------------- */

struct LmgoPool {
  pthread_mutex_t mu;
  pthread_cond_t wake; /* workers sleep here waiting for a new batch */
  pthread_cond_t idle; /* the caller sleeps here waiting for the workers to leave a batch */
  pthread_t *threads;
  uint32_t n_workers;
  uint32_t spin;
  _Atomic uint64_t gen;     /* batch generation; incremented to publish a batch */
  _Atomic uint32_t pending; /* workers still inside the current batch */
  _Atomic uint32_t next;    /* next task index to hand out */
  _Atomic bool quit;
  /* the current batch, written before gen is incremented */
  LlametteTaskFn task;
  void *task_ctx;
  uint32_t n_tasks;
  /* statistics (written by the calling thread only) */
  uint64_t calls;
  uint64_t tasks;
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static void *pool_worker(void *arg) {
  LmgoPool *p = (LmgoPool *)arg;
  uint64_t seen = 0;
  for (;;) {
    /* Spin a little for the next batch, then sleep. */
    uint64_t g = atomic_load_explicit(&p->gen, memory_order_acquire);
    for (uint32_t s = 0; g == seen && s < p->spin && !atomic_load(&p->quit); s++) {
      cpu_relax();
      g = atomic_load_explicit(&p->gen, memory_order_acquire);
    }
    if (g == seen) {
      pthread_mutex_lock(&p->mu);
      while (!atomic_load(&p->quit) && (g = atomic_load(&p->gen)) == seen)
        pthread_cond_wait(&p->wake, &p->mu);
      pthread_mutex_unlock(&p->mu);
    }
    if (atomic_load(&p->quit)) return NULL;
    seen = g;
    LlametteTaskFn task = p->task;
    void *task_ctx = p->task_ctx;
    uint32_t n = p->n_tasks;
    for (;;) {
      uint32_t i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
      if (i >= n) break;
      task(task_ctx, i);
    }
    if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
      pthread_mutex_lock(&p->mu);
      pthread_cond_signal(&p->idle);
      pthread_mutex_unlock(&p->mu);
    }
  }
}

static void pool_stop(LmgoPool *p) {
  pthread_mutex_lock(&p->mu);
  atomic_store(&p->quit, true);
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  for (uint32_t i = 0; i < p->n_workers; i++) pthread_join(p->threads[i], NULL);
}

LmgoPool *lmgo_pool_new(uint32_t width, uint32_t spin) {
  if (width == 0) width = 1;
  LmgoPool *p = (LmgoPool *)calloc(1, sizeof *p);
  if (!p) return NULL;
  p->spin = spin;
  atomic_init(&p->gen, 0);
  atomic_init(&p->pending, 0);
  atomic_init(&p->next, 0);
  atomic_init(&p->quit, false);
  if (pthread_mutex_init(&p->mu, NULL) != 0) goto fail_mu;
  if (pthread_cond_init(&p->wake, NULL) != 0) goto fail_wake;
  if (pthread_cond_init(&p->idle, NULL) != 0) goto fail_idle;
  if (width > 1) {
    p->threads = (pthread_t *)calloc(width - 1, sizeof(pthread_t));
    if (!p->threads) goto fail_threads;
    for (uint32_t i = 0; i + 1 < width; i++) {
      if (pthread_create(&p->threads[i], NULL, pool_worker, p) != 0) {
        pool_stop(p);
        free(p->threads);
        goto fail_threads;
      }
      p->n_workers++;
    }
  }
  return p;
fail_threads:
  pthread_cond_destroy(&p->idle);
fail_idle:
  pthread_cond_destroy(&p->wake);
fail_wake:
  pthread_mutex_destroy(&p->mu);
fail_mu:
  free(p);
  return NULL;
}

void lmgo_pool_free(LmgoPool *p) {
  if (!p) return;
  pool_stop(p);
  free(p->threads);
  pthread_cond_destroy(&p->idle);
  pthread_cond_destroy(&p->wake);
  pthread_mutex_destroy(&p->mu);
  free(p);
}

uint32_t lmgo_pool_width(const LmgoPool *p) { return p->n_workers + 1; }

void lmgo_pool_stats(const LmgoPool *p, uint64_t *calls, uint64_t *tasks) {
  *calls = p->calls;
  *tasks = p->tasks;
}

void lmgo_pool_run(void *user, uint32_t n_tasks, LlametteTaskFn task, void *task_ctx) {
  LmgoPool *p = (LmgoPool *)user;
  p->calls++;
  p->tasks += n_tasks;
  if (n_tasks == 0) return;
  if (p->n_workers == 0 || n_tasks == 1) {
    for (uint32_t i = 0; i < n_tasks; i++) task(task_ctx, i);
    return;
  }
  p->task = task;
  p->task_ctx = task_ctx;
  p->n_tasks = n_tasks;
  atomic_store_explicit(&p->next, 0, memory_order_relaxed);
  atomic_store_explicit(&p->pending, p->n_workers, memory_order_relaxed);
  /* Publish under the mutex so that a worker about to sleep cannot miss the wake-up. */
  pthread_mutex_lock(&p->mu);
  atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);

  for (;;) {
    uint32_t i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
    if (i >= n_tasks) break;
    task(task_ctx, i);
  }
  /* Every worker must leave the batch before task_ctx (the library's) goes away. */
  for (uint32_t s = 0; s < p->spin; s++) {
    if (atomic_load_explicit(&p->pending, memory_order_acquire) == 0) return;
    cpu_relax();
  }
  pthread_mutex_lock(&p->mu);
  while (atomic_load_explicit(&p->pending, memory_order_acquire) != 0)
    pthread_cond_wait(&p->idle, &p->mu);
  pthread_mutex_unlock(&p->mu);
}

/* ---- the overhead benchmark ------------------------------------------------------------ */

static _Atomic uint64_t lmgo_noop_count;

static void lmgo_noop_task(void *task_ctx, uint32_t index) {
  (void)task_ctx;
  (void)index;
  atomic_fetch_add_explicit(&lmgo_noop_count, 1, memory_order_relaxed);
}

void lmgo_dispatch_loop(LlametteParallelFn f, void *user, uint32_t n_tasks, uint32_t iters) {
  for (uint32_t k = 0; k < iters; k++) {
    if (f) {
      f(user, n_tasks, lmgo_noop_task, NULL);
    } else {
      for (uint32_t i = 0; i < n_tasks; i++) lmgo_noop_task(NULL, i);
    }
  }
}

void lmgo_dispatch_loop_goroutines(uintptr_t handle, uint32_t n_tasks, uint32_t iters) {
  lmgo_dispatch_loop(lmgo_parallel_goroutines, (void *)handle, n_tasks, iters);
}
