/*
 * pool.h: a small fixed-size pthread pool that runs llamette's tasks.
 *
 * llamette never creates threads: a context splits its heavy work into tasks and hands them to
 * the host through a LlametteParallelFn (llamette_context_set_parallel). This header is such a
 * host: `pool_init` starts a fixed set of worker threads once; `pool_run` (the
 * LlametteParallelFn) publishes a batch of n_tasks indices, the workers and the calling thread
 * take indices from a shared counter until none are left, and `pool_run` returns only when
 * every task has finished and every worker has let go of the batch. `pool_destroy` stops and
 * joins the workers.
 *
 * One pool serves one context at a time (a context is used by one thread at a time, so one
 * pool per context, or per thread that drives contexts, is the simple rule).
 *
 * Header-only (static functions), C11 + POSIX threads. Used by examples/c/chat.c and tests/c/.
 */
#ifndef LLAMETTE_EXAMPLE_POOL_H
#define LLAMETTE_EXAMPLE_POOL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "llamette.h"

typedef struct Pool {
  pthread_mutex_t mu;
  pthread_cond_t wake;  /* workers wait here for a new batch (or for quit) */
  pthread_cond_t idle;  /* pool_run waits here for the workers to finish a batch */
  pthread_t *threads;
  uint32_t n_threads;   /* worker threads; the thread calling pool_run works too */
  uint64_t batch;       /* incremented for every batch published */
  uint32_t busy;        /* workers still inside the current batch */
  bool quit;
  /* the current batch */
  LlametteTaskFn task;
  void *task_ctx;
  uint32_t n_tasks;
  atomic_uint next;     /* next task index to hand out */
  uint64_t batches_run; /* statistics: batches that went through the workers */
} Pool;

/* Takes task indices until none are left. */
static void pool_drain_(Pool *p, LlametteTaskFn task, void *task_ctx, uint32_t n_tasks) {
  for (;;) {
    unsigned i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
    if (i >= n_tasks) return;
    task(task_ctx, (uint32_t)i);
  }
}

static void *pool_worker_(void *arg) {
  Pool *p = (Pool *)arg;
  uint64_t seen = 0;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (!p->quit && p->batch == seen) pthread_cond_wait(&p->wake, &p->mu);
    if (p->quit) break;
    seen = p->batch;
    LlametteTaskFn task = p->task;
    void *task_ctx = p->task_ctx;
    uint32_t n_tasks = p->n_tasks;
    pthread_mutex_unlock(&p->mu);
    pool_drain_(p, task, task_ctx, n_tasks);
    pthread_mutex_lock(&p->mu);
    if (--p->busy == 0) pthread_cond_signal(&p->idle);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

/* Starts n_threads - 1 workers (the caller of pool_run is the n-th). Returns 0 on success. */
static int pool_init(Pool *p, uint32_t n_threads) {
  if (n_threads == 0) n_threads = 1;
  p->n_threads = 0;
  p->batch = 0;
  p->busy = 0;
  p->quit = false;
  p->task = NULL;
  p->task_ctx = NULL;
  p->n_tasks = 0;
  p->batches_run = 0;
  atomic_init(&p->next, 0);
  p->threads = NULL;
  if (pthread_mutex_init(&p->mu, NULL) != 0) return -1;
  if (pthread_cond_init(&p->wake, NULL) != 0) {
    pthread_mutex_destroy(&p->mu);
    return -1;
  }
  if (pthread_cond_init(&p->idle, NULL) != 0) {
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mu);
    return -1;
  }
  if (n_threads > 1) {
    p->threads = (pthread_t *)calloc(n_threads - 1, sizeof(pthread_t));
    if (!p->threads) goto fail;
    for (uint32_t i = 0; i + 1 < n_threads; i++) {
      if (pthread_create(&p->threads[i], NULL, pool_worker_, p) != 0) goto fail;
      p->n_threads++;
    }
  }
  return 0;
fail:
  pthread_mutex_lock(&p->mu);
  p->quit = true;
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  for (uint32_t i = 0; i < p->n_threads; i++) pthread_join(p->threads[i], NULL);
  free(p->threads);
  pthread_cond_destroy(&p->idle);
  pthread_cond_destroy(&p->wake);
  pthread_mutex_destroy(&p->mu);
  return -1;
}

/* Threads that run tasks: the workers plus the caller (the `width` for set_parallel). */
static uint32_t pool_width(const Pool *p) { return p->n_threads + 1; }

/* The LlametteParallelFn: runs task(task_ctx, i) for every i in 0..n_tasks and returns when all
 * are done. `user` is the Pool. */
static void pool_run(void *user, uint32_t n_tasks, LlametteTaskFn task, void *task_ctx) {
  Pool *p = (Pool *)user;
  if (n_tasks == 0) return;
  if (p->n_threads == 0 || n_tasks == 1) {
    for (uint32_t i = 0; i < n_tasks; i++) task(task_ctx, i);
    return;
  }
  pthread_mutex_lock(&p->mu);
  p->task = task;
  p->task_ctx = task_ctx;
  p->n_tasks = n_tasks;
  atomic_store_explicit(&p->next, 0, memory_order_relaxed);
  p->busy = p->n_threads;
  p->batch++;
  p->batches_run++;
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);

  pool_drain_(p, task, task_ctx, n_tasks);

  /* Every worker must leave the batch before task_ctx (owned by the library, often on its
   * stack) may go away. */
  pthread_mutex_lock(&p->mu);
  while (p->busy > 0) pthread_cond_wait(&p->idle, &p->mu);
  pthread_mutex_unlock(&p->mu);
}

/* Stops and joins the workers. */
static void pool_destroy(Pool *p) {
  pthread_mutex_lock(&p->mu);
  p->quit = true;
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  for (uint32_t i = 0; i < p->n_threads; i++) pthread_join(p->threads[i], NULL);
  free(p->threads);
  p->threads = NULL;
  p->n_threads = 0;
  pthread_cond_destroy(&p->idle);
  pthread_cond_destroy(&p->wake);
  pthread_mutex_destroy(&p->mu);
}

#endif
