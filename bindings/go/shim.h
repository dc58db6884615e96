/*
 * C side of the Go binding: trampolines from the library's callbacks into exported Go functions,
 * and a small pinned pthread pool implementing LlametteParallelFn without Go in the loop.
 * Internal to package llamette; not an API.
 */
#ifndef LLAMETTE_GO_SHIM_H
#define LLAMETTE_GO_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llamette.h"

/* Calls task(task_ctx, i) for every index taken from *next (an atomic counter) below n_tasks:
 * one cgo call runs as many tasks as the calling goroutine can grab. */
void lmgo_drain(LlametteTaskFn task, void *task_ctx, uint32_t *next, uint32_t n_tasks);

/* Runs task(task_ctx, i) for i in [first, end) inline. */
void lmgo_run_range(LlametteTaskFn task, void *task_ctx, uint32_t first, uint32_t end);

/* The LlametteParallelFn that hands the tasks to Go (user: a cgo.Handle of the Go runner). */
void lmgo_parallel_goroutines(void *user, uint32_t n_tasks, LlametteTaskFn task, void *task_ctx);

/* llamette_context_set_parallel(c, lmgo_parallel_goroutines, (void *)handle, width). */
LlametteStatus lmgo_set_parallel_goroutines(LlametteContext *c, uintptr_t handle, uint32_t width);

/* The LlamettePieceFn that hands text to Go (user: a cgo.Handle of the generation state). */
bool lmgo_on_piece(void *user, const char *text, size_t len);

/* The LlametteTokenFn that hands each generated token to Go (user: the same handle). */
bool lmgo_on_token(void *user, uint32_t token, const LlametteTokenLogprob *logprob);

/* llamette_generate_ex with lmgo_on_piece and (void *)handle as its callback; with want_tokens,
 * p->on_token and p->token_user are set to lmgo_on_token and (void *)handle (else cleared). */
LlametteStatus lmgo_generate_ex(LlametteContext *c, LlametteSampler *s, const uint32_t *prompt,
                                size_t n_prompt, LlametteGenerateParamsEx *p, uintptr_t handle,
                                bool want_tokens, LlametteStopReason *reason,
                                uint32_t *n_generated, size_t *n_reused);

/* The LlametteLogitsProcessorFn that hands the logits to Go (user: a cgo.Handle of the
 * processor). */
void lmgo_logits_processor(void *user, float *logits, size_t n_vocab);

/* llamette_sampler_set_logits_processor(s, lmgo_logits_processor, (void *)handle). */
LlametteStatus lmgo_set_logits_processor(LlametteSampler *s, uintptr_t handle);

/* A serial LlametteParallelFn that counts its calls and tasks (user: LmgoCounter); used to
 * count the parallel calls a serial context would make. */
typedef struct LmgoCounter {
  uint64_t calls;
  uint64_t tasks;
} LmgoCounter;
void lmgo_parallel_counting_serial(void *user, uint32_t n_tasks, LlametteTaskFn task,
                                   void *task_ctx);

/* A fixed set of pthreads (width - 1 workers plus the calling thread). Workers spin briefly
 * for the next batch, then sleep on a condition variable. */
typedef struct LmgoPool LmgoPool;
LmgoPool *lmgo_pool_new(uint32_t width, uint32_t spin);
void lmgo_pool_free(LmgoPool *p);
uint32_t lmgo_pool_width(const LmgoPool *p);
void lmgo_pool_stats(const LmgoPool *p, uint64_t *calls, uint64_t *tasks);
void lmgo_pool_run(void *user, uint32_t n_tasks, LlametteTaskFn task, void *task_ctx);

/* For the overhead benchmark: iters calls f(user, n_tasks, no-op task, NULL) (f NULL: the
 * tasks inline, as a serial context runs them). */
void lmgo_dispatch_loop(LlametteParallelFn f, void *user, uint32_t n_tasks, uint32_t iters);
void lmgo_dispatch_loop_goroutines(uintptr_t handle, uint32_t n_tasks, uint32_t iters);

#endif
