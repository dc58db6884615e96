/* Several contexts over one model, driven by several threads at once, give the same tokens as
 * one at a time (and llama.cpp's golden continuations). The model is shared and immutable; each
 * context is used by one thread. One of the threads also lends its context a pool of its own. */
#include "common.h"
#include "pool.h"

#define N_THREADS 4
#define N_GEN 8

typedef struct {
  LlametteModel *model;
  const uint32_t *prompt;
  size_t n_prompt;
  bool with_pool;
  pthread_barrier_t *start;
  uint32_t out[N_GEN];
  LlametteStatus status; /* first failure, reported by the main thread */
} Job;

/* Runs one job; returns the first status that was not OK. */
static LlametteStatus run_job(Job *j) {
  LlametteContextParams cp = llamette_context_default_params();
  cp.n_ctx = 64;
  LlametteSamplerParams sp = greedy_params();
  LlametteContext *c = NULL;
  LlametteSampler *s = NULL;
  Pool pool;
  bool pooled = false;
  LlametteStatus st = llamette_context_new(j->model, &cp, &c);
  if (st == LLAMETTE_OK) st = llamette_sampler_new(j->model, &sp, &s);
  if (st == LLAMETTE_OK && j->with_pool) {
    if (pool_init(&pool, 2) != 0) {
      st = LLAMETTE_ERR_ALLOCATION;
    } else {
      pooled = true;
      st = llamette_context_set_parallel(c, pool_run, &pool, pool_width(&pool));
    }
  }
  if (j->start) pthread_barrier_wait(j->start);
  if (st == LLAMETTE_OK) st = llamette_eval(c, j->prompt, j->n_prompt);
  for (size_t i = 0; st == LLAMETTE_OK && i < N_GEN; i++) {
    uint32_t t = 0;
    st = llamette_sampler_sample(s, c, &t);
    if (st == LLAMETTE_OK) st = llamette_sampler_accept(s, t);
    if (st == LLAMETTE_OK) st = llamette_eval(c, &t, 1);
    j->out[i] = t;
  }
  llamette_sampler_free(s);
  llamette_context_free(c);
  if (pooled) pool_destroy(&pool);
  return st;
}

static void *thread_main(void *arg) {
  Job *j = (Job *)arg;
  j->status = run_job(j);
  return NULL;
}

int main(int argc, char **argv) {
  test_begin("test_threads", argc, argv);
  uint8_t *bytes = NULL;
  LlametteModel *m = load_fixture(TINY_Q8, &bytes);

  Job one[N_THREADS], many[N_THREADS];
  memset(one, 0, sizeof one);
  for (int i = 0; i < N_THREADS; i++) {
    one[i].model = m;
    /* Golden case 1's prompt is 34 tokens, case 0's 8: one job of case 1 keeps the test
     * short under valgrind. */
    one[i].prompt = i == 1 ? GOLDEN1_PROMPT : GOLDEN0_PROMPT;
    one[i].n_prompt = i == 1 ? N_OF(GOLDEN1_PROMPT) : N_OF(GOLDEN0_PROMPT);
    one[i].with_pool = i == N_THREADS - 1;
  }
  memcpy(many, one, sizeof one);

  /* One at a time, on this thread. */
  for (int i = 0; i < N_THREADS; i++) {
    CHECK_OK(run_job(&one[i]));
    const uint32_t *want = i == 1 ? GOLDEN1_GREEDY : GOLDEN0_GREEDY;
    CHECK_IDS("one at a time vs golden", one[i].out, N_GEN, want, N_GEN);
  }

  /* All at once: N_THREADS threads released together. */
  pthread_barrier_t start;
  CHECK(pthread_barrier_init(&start, NULL, N_THREADS) == 0);
  pthread_t th[N_THREADS];
  for (int i = 0; i < N_THREADS; i++) {
    many[i].start = &start;
    CHECK(pthread_create(&th[i], NULL, thread_main, &many[i]) == 0);
  }
  for (int i = 0; i < N_THREADS; i++) CHECK(pthread_join(th[i], NULL) == 0);
  pthread_barrier_destroy(&start);
  for (int i = 0; i < N_THREADS; i++) {
    CHECK_MSG(many[i].status == LLAMETTE_OK, "thread %d: %s", i,
              llamette_status_message(many[i].status));
    CHECK_IDS("threads vs one at a time", many[i].out, N_GEN, one[i].out, N_GEN);
  }

  llamette_model_free(m);
  free(bytes);
  return test_end();
}
