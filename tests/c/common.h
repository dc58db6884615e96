/*
 * Shared helpers for the C tests of llamette's C ABI (tests/c/test_*.c).
 *
 * Every test is a standalone program: `test_x [FIXTURES_DIR]` (default tests/fixtures, i.e.
 * run from the repository root). A failed check prints where and why, and exits 1. Tests free
 * everything they make, so that valgrind's leak check sees zero leaks on success.
 */
#ifndef LLAMETTE_C_TESTS_COMMON_H
#define LLAMETTE_C_TESTS_COMMON_H

#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llamette.h"

static const char *g_fixtures = "tests/fixtures";
static const char *g_test = "test";
static unsigned g_checks = 0;

static inline void fail_(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  fflush(stdout);
  fprintf(stderr, "%s: FAILED at %s:%d: ", g_test, file, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(1);
}

#define CHECK(cond)                                              \
  do {                                                           \
    g_checks++;                                                  \
    if (!(cond)) fail_(__FILE__, __LINE__, "%s", #cond);         \
  } while (0)

#define CHECK_MSG(cond, ...)                                     \
  do {                                                           \
    g_checks++;                                                  \
    if (!(cond)) fail_(__FILE__, __LINE__, __VA_ARGS__);         \
  } while (0)

#define CHECK_EQ_U(a, b)                                                                    \
  do {                                                                                      \
    unsigned long long a_ = (unsigned long long)(a), b_ = (unsigned long long)(b);          \
    g_checks++;                                                                             \
    if (a_ != b_) fail_(__FILE__, __LINE__, "%s == %s: %llu != %llu", #a, #b, a_, b_);      \
  } while (0)

#define CHECK_EQ_I(a, b)                                                                    \
  do {                                                                                      \
    long long a_ = (long long)(a), b_ = (long long)(b);                                     \
    g_checks++;                                                                             \
    if (a_ != b_) fail_(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_);      \
  } while (0)

/* A call that must return `want`; on a mismatch, prints both statuses and the last error. */
#define CHECK_STATUS(call, want)                                                            \
  do {                                                                                      \
    LlametteStatus got_ = (call);                                                           \
    g_checks++;                                                                             \
    if (got_ != (want))                                                                     \
      fail_(__FILE__, __LINE__, "%s: got %d (%s), want %d (%s); last error: %s", #call,     \
            (int)got_, llamette_status_message(got_), (int)(want),                          \
            llamette_status_message(want), llamette_last_error());                          \
  } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, LLAMETTE_OK)

static inline void check_ids_(const char *file, int line, const char *what, const uint32_t *got,
                       size_t n_got, const uint32_t *want, size_t n_want) {
  g_checks++;
  size_t n = n_got < n_want ? n_got : n_want;
  for (size_t i = 0; i < n; i++)
    if (got[i] != want[i])
      fail_(file, line, "%s: id %zu is %" PRIu32 ", want %" PRIu32, what, i, got[i], want[i]);
  if (n_got != n_want) fail_(file, line, "%s: %zu ids, want %zu", what, n_got, n_want);
}
#define CHECK_IDS(what, got, n_got, want, n_want) \
  check_ids_(__FILE__, __LINE__, what, got, n_got, want, n_want)

static inline void test_begin(const char *name, int argc, char **argv) {
  g_test = name;
  if (argc > 1) g_fixtures = argv[1];
}

static inline int test_end(void) {
  printf("%s: ok (%u checks)\n", g_test, g_checks);
  return 0;
}

/* Reads a whole file into a malloc'd buffer (the caller frees it). */
static inline uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) fail_(__FILE__, __LINE__, "cannot open %s", path);
  if (fseek(f, 0, SEEK_END) != 0) fail_(__FILE__, __LINE__, "cannot seek %s", path);
  long n = ftell(f);
  if (n < 0 || fseek(f, 0, SEEK_SET) != 0) fail_(__FILE__, __LINE__, "cannot size %s", path);
  uint8_t *buf = (uint8_t *)malloc(n > 0 ? (size_t)n : 1);
  if (!buf) fail_(__FILE__, __LINE__, "out of memory reading %s", path);
  if (fread(buf, 1, (size_t)n, f) != (size_t)n) fail_(__FILE__, __LINE__, "cannot read %s", path);
  fclose(f);
  *len = (size_t)n;
  return buf;
}

/* A fixture's path: FIXTURES_DIR/rel, in a static buffer. */
static inline const char *fixture(const char *rel) {
  static char path[4096];
  snprintf(path, sizeof path, "%s/%s", g_fixtures, rel);
  return path;
}

/* A model loaded from memory; *bytes must stay alive until the model and everything made
 * from it are freed. */
static inline LlametteModel *load_fixture(const char *rel, uint8_t **bytes) {
  size_t len = 0;
  *bytes = read_file(fixture(rel), &len);
  LlametteModel *m = NULL;
  CHECK_OK(llamette_model_from_memory(*bytes, len, &m));
  CHECK(m != NULL);
  return m;
}

/* ---- tests/fixtures/golden/tiny-codellama.q8_0.json (llama.cpp 0c1e570, CPU, f16 KV) --- */

#define TINY_Q8 "models/tiny-codellama.q8_0.gguf"

static const uint32_t GOLDEN0_PROMPT[] = {1, 978, 975, 986, 381, 173, 922, 107};
static const uint32_t GOLDEN0_GREEDY[32] = {943, 122, 257, 165, 369, 869, 98,  238,
                                            315, 524, 644, 491, 422, 929, 834, 796,
                                            14,  119, 620, 230, 720, 382, 781, 69,
                                            524, 1019, 646, 887, 218, 455, 892, 378};
static const uint32_t GOLDEN1_PROMPT[] = {1,   263, 141, 320, 536, 120, 795, 243, 785,
                                          320, 793, 963, 957, 265, 556, 442, 256, 610,
                                          896, 863, 646, 863, 519, 675, 954, 660, 50,
                                          735, 738, 224, 866, 174, 788, 869};
static const uint32_t GOLDEN1_GREEDY[32] = {957, 653, 204, 684, 434, 569, 278, 160,
                                            902, 532, 177, 738, 850, 938, 365, 767,
                                            986, 922, 647, 657, 764, 732, 403, 478,
                                            643, 1007, 17,  642, 872, 825, 673, 469};
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Greedy sampler parameters: temperature 0, no penalties. */
static inline LlametteSamplerParams greedy_params(void) {
  LlametteSamplerParams p = llamette_sampler_default_params();
  p.temp = 0.0f;
  p.penalty_repeat = 1.0f;
  p.penalty_freq = 0.0f;
  p.penalty_present = 0.0f;
  return p;
}

/* Evaluates the prompt, then samples, accepts and evaluates n tokens into out. */
static inline void greedy_ids(LlametteContext *c, LlametteSampler *s, const uint32_t *prompt,
                       size_t n_prompt, uint32_t *out, size_t n) {
  CHECK_OK(llamette_eval(c, prompt, n_prompt));
  for (size_t i = 0; i < n_prompt; i++) CHECK_OK(llamette_sampler_accept(s, prompt[i]));
  for (size_t i = 0; i < n; i++) {
    uint32_t t = UINT32_MAX;
    CHECK_OK(llamette_sampler_sample(s, c, &t));
    CHECK_OK(llamette_sampler_accept(s, t));
    out[i] = t;
    if (i + 1 < n) CHECK_OK(llamette_eval(c, &t, 1));
  }
}

/* Index of the largest logit (the first one on ties, like the Rust tests' argmax). */
static inline uint32_t argmax(const float *v, size_t n) {
  size_t best = 0;
  for (size_t i = 1; i < n; i++)
    if (v[i] > v[best]) best = i;
  return (uint32_t)best;
}

#endif
