/* Greedy generation on tiny-codellama.q8_0 reproduces llama.cpp's golden continuation
 * (tests/fixtures/golden/tiny-codellama.q8_0.json, case 0), serially and on a 2-thread pool of
 * the host's; llamette_generate streams the same tokens' text and applies its stop rules. */
#include "common.h"
#include "pool.h"

typedef struct {
  char text[4096];
  size_t len;
  unsigned calls;
  unsigned stop_after; /* return false on this call (0: never) */
} Pieces;

static bool collect(void *user, const char *text, size_t len) {
  Pieces *p = (Pieces *)user;
  CHECK(len > 0);
  CHECK(p->len + len < sizeof p->text);
  memcpy(p->text + p->len, text, len);
  p->len += len;
  p->text[p->len] = '\0';
  p->calls++;
  return p->stop_after == 0 || p->calls < p->stop_after;
}

/* The text of ids through the streaming detokenizer (what generation hands out). */
static size_t detok(LlametteModel *m, const uint32_t *ids, size_t n, char *out, size_t cap) {
  LlametteDetokenizer *d = NULL;
  CHECK_OK(llamette_detokenizer_new(m, &d));
  size_t len = 0;
  const char *piece = NULL;
  size_t piece_len = 0;
  for (size_t i = 0; i <= n; i++) {
    if (i < n) CHECK_OK(llamette_detokenizer_push(d, ids[i], &piece, &piece_len));
    else CHECK_OK(llamette_detokenizer_finish(d, &piece, &piece_len));
    CHECK(len + piece_len < cap);
    memcpy(out + len, piece, piece_len);
    len += piece_len;
  }
  out[len] = '\0';
  llamette_detokenizer_free(d);
  return len;
}

static LlametteContext *new_ctx(LlametteModel *m, bool logits_all) {
  LlametteContextParams cp = llamette_context_default_params();
  CHECK_EQ_U(cp.n_ctx, 4096);
  CHECK_EQ_U(cp.n_batch, 512);
  CHECK_EQ_I(cp.kv_type, LLAMETTE_KV_F16);
  CHECK(!cp.logits_all);
  cp.n_ctx = 64;
  cp.logits_all = logits_all;
  LlametteContext *c = NULL;
  CHECK_OK(llamette_context_new(m, &cp, &c));
  return c;
}

static LlametteSampler *new_greedy(LlametteModel *m) {
  LlametteSamplerParams sp = greedy_params();
  LlametteSampler *s = NULL;
  CHECK_OK(llamette_sampler_new(m, &sp, &s));
  return s;
}

int main(int argc, char **argv) {
  test_begin("test_generate", argc, argv);
  uint8_t *bytes = NULL;
  LlametteModel *m = load_fixture(TINY_Q8, &bytes);
  const size_t NP = N_OF(GOLDEN0_PROMPT), NG = N_OF(GOLDEN0_GREEDY);
  uint32_t got[32];

  /* 1. Serial (no parallel callback): sample / accept / eval, 32 tokens. */
  uint32_t serial[32];
  {
    LlametteContext *c = new_ctx(m, false);
    LlametteSampler *s = new_greedy(m);
    greedy_ids(c, s, GOLDEN0_PROMPT, NP, serial, NG);
    CHECK_IDS("serial greedy", serial, NG, GOLDEN0_GREEDY, NG);
    CHECK_EQ_U(llamette_context_n_past(c), NP + NG - 1);

    /* Truncating back into the prompt and re-evaluating gives the same continuation. */
    CHECK_OK(llamette_context_truncate(c, (uint32_t)(NP - 1)));
    CHECK_EQ_U(llamette_context_n_past(c), NP - 1);
    llamette_sampler_reset(s);
    greedy_ids(c, s, GOLDEN0_PROMPT + NP - 1, 1, got, 8);
    CHECK_IDS("greedy after truncate", got, 8, GOLDEN0_GREEDY, 8);
    llamette_sampler_free(s);
    llamette_context_free(c);
  }

  /* 2. The same on a 2-thread pool of our own: identical ids, and the pool did run batches. */
  {
    Pool pool;
    CHECK(pool_init(&pool, 2) == 0);
    LlametteContext *c = new_ctx(m, false);
    CHECK_OK(llamette_context_set_parallel(c, pool_run, &pool, pool_width(&pool)));
    LlametteSampler *s = new_greedy(m);
    greedy_ids(c, s, GOLDEN0_PROMPT, NP, got, NG);
    CHECK_IDS("2-thread pool greedy", got, NG, serial, NG);
    CHECK(pool.batches_run > 0);
    /* Back to serial on the same context: still the same logits path. */
    uint64_t batches = pool.batches_run;
    CHECK_OK(llamette_context_set_parallel(c, NULL, NULL, 1));
    CHECK_OK(llamette_context_truncate(c, 0));
    llamette_sampler_reset(s);
    greedy_ids(c, s, GOLDEN0_PROMPT, NP, got, 4);
    CHECK_IDS("serial again", got, 4, GOLDEN0_GREEDY, 4);
    CHECK_EQ_U(pool.batches_run, batches);
    llamette_sampler_free(s);
    llamette_context_free(c);
    pool_destroy(&pool);
  }

  /* 3. logits_all: the argmax at every prompt position is llama.cpp's top-1 there. */
  {
    static const uint32_t TOP1[8] = {466, 707, 924, 462, 586, 246, 340, 943};
    LlametteContext *c = new_ctx(m, true);
    CHECK_OK(llamette_eval(c, GOLDEN0_PROMPT, NP));
    const float *l = NULL, *last = NULL;
    size_t nv = 0;
    for (size_t i = 0; i < NP; i++) {
      CHECK_OK(llamette_logits_at(c, i, &l, &nv));
      CHECK_EQ_U(nv, 1024);
      CHECK_EQ_U(argmax(l, nv), TOP1[i]);
    }
    CHECK_OK(llamette_logits(c, &last, &nv));
    CHECK(memcmp(l, last, nv * sizeof(float)) == 0);
    CHECK_STATUS(llamette_logits_at(c, NP, &l, &nv), LLAMETTE_ERR_INVALID_ARGUMENT);
    llamette_context_free(c);
  }

  /* 4. llamette_generate: 32 tokens, streamed text = the golden ids' text. */
  char want_text[4096];
  detok(m, GOLDEN0_GREEDY, NG, want_text, sizeof want_text);
  {
    LlametteContext *c = new_ctx(m, false);
    LlametteSampler *s = new_greedy(m);
    LlametteGenerateParams gp;
    memset(&gp, 0, sizeof gp);
    gp.n_predict = 32;
    Pieces p = {0};
    LlametteStopReason reason = LLAMETTE_STOP_ABORTED;
    uint32_t n_gen = 0;
    CHECK_OK(llamette_generate(c, s, GOLDEN0_PROMPT, NP, &gp, collect, &p, &reason, &n_gen));
    CHECK_EQ_I(reason, LLAMETTE_STOP_LENGTH);
    CHECK_EQ_U(n_gen, 32);
    CHECK_MSG(p.len == strlen(want_text) && !memcmp(p.text, want_text, p.len),
              "generated '%s', want '%s'", p.text, want_text);
    CHECK_EQ_U(llamette_context_n_past(c), NP + NG);
    llamette_sampler_free(s);
    llamette_context_free(c);
  }

  /* 5. A stop token: golden id 5 ends the generation after 5 tokens; it is neither printed
   * nor evaluated. */
  {
    LlametteContext *c = new_ctx(m, false);
    LlametteSampler *s = new_greedy(m);
    LlametteGenerateParams gp;
    memset(&gp, 0, sizeof gp);
    gp.n_predict = -1;
    const uint32_t stop[1] = {GOLDEN0_GREEDY[5]};
    gp.stop_tokens = stop;
    gp.n_stop_tokens = 1;
    Pieces p = {0};
    LlametteStopReason reason = LLAMETTE_STOP_ABORTED;
    uint32_t n_gen = 0;
    CHECK_OK(llamette_generate(c, s, GOLDEN0_PROMPT, NP, &gp, collect, &p, &reason, &n_gen));
    CHECK_EQ_I(reason, LLAMETTE_STOP_EOG);
    CHECK_EQ_U(n_gen, 5);
    char want5[1024];
    detok(m, GOLDEN0_GREEDY, 5, want5, sizeof want5);
    CHECK_MSG(!strcmp(p.text, want5), "generated '%s', want '%s'", p.text, want5);
    CHECK_EQ_U(llamette_context_n_past(c), NP + 5);

    /* Continuing from the cache (empty prompt) is the rest of the golden continuation. */
    memset(&gp, 0, sizeof gp);
    gp.n_predict = 4;
    Pieces q = {0};
    /* The stop token was sampled but not evaluated: evaluate it, then go on. */
    CHECK_OK(llamette_generate(c, s, stop, 1, &gp, collect, &q, &reason, &n_gen));
    CHECK_EQ_I(reason, LLAMETTE_STOP_LENGTH);
    CHECK_EQ_U(n_gen, 4);
    CHECK_EQ_U(llamette_context_n_past(c), NP + 6 + 4);
    char want4[1024];
    detok(m, GOLDEN0_GREEDY + 6, 4, want4, sizeof want4);
    CHECK_MSG(!strcmp(q.text, want4), "continued with '%s', want '%s'", q.text, want4);
    llamette_sampler_free(s);
    llamette_context_free(c);
  }

  /* 6. The piece callback stops it. */
  {
    LlametteContext *c = new_ctx(m, false);
    LlametteSampler *s = new_greedy(m);
    LlametteGenerateParams gp;
    memset(&gp, 0, sizeof gp);
    gp.n_predict = 32;
    Pieces p = {0};
    p.stop_after = 2;
    LlametteStopReason reason = LLAMETTE_STOP_LENGTH;
    uint32_t n_gen = 0;
    CHECK_OK(llamette_generate(c, s, GOLDEN0_PROMPT, NP, &gp, collect, &p, &reason, &n_gen));
    CHECK_EQ_I(reason, LLAMETTE_STOP_CALLBACK);
    CHECK_EQ_U(p.calls, 2);
    CHECK(n_gen >= 2 && n_gen < 32);
    llamette_sampler_free(s);
    llamette_context_free(c);
  }

  /* 7. A context in a buffer of the host's: the same ids. */
  {
    LlametteContextParams cp = llamette_context_default_params();
    cp.n_ctx = 64;
    size_t need = 0;
    CHECK_OK(llamette_context_required_bytes(m, &cp, &need));
    CHECK(need > 0);
    void *buf = NULL;
    CHECK(posix_memalign(&buf, 64, need) == 0);
    LlametteContext *c = NULL;
    CHECK_STATUS(llamette_context_new_in(m, &cp, buf, need - 1, &c), LLAMETTE_ERR_BUFFER_TOO_SMALL);
    CHECK(c == NULL);
    CHECK_OK(llamette_context_new_in(m, &cp, buf, need, &c));
    LlametteSampler *s = new_greedy(m);
    greedy_ids(c, s, GOLDEN0_PROMPT, NP, got, 8);
    CHECK_IDS("context in a host buffer", got, 8, GOLDEN0_GREEDY, 8);
    llamette_sampler_free(s);
    llamette_context_free(c);
    free(buf);
  }

  llamette_model_free(m);
  free(bytes);
  return test_end();
}
