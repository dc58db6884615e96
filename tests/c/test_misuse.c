/* The C ABI under misuse and at its edges: NULL handles and buffers, too-small buffers (the
 * needed size is reported), every error status that a host can provoke, a context and sampler
 * outliving their model handle, the abort flag, and host allocator hooks. */
#include "common.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

/* ---- a counting allocator ------------------------------------------------------------- */

typedef struct {
  unsigned allocs, frees;
  size_t live_bytes, peak_bytes;
  bool misaligned, bad_free;
  bool fail; /* return NULL from alloc */
} Counter;

static void *count_alloc(void *user, size_t size, size_t align) {
  Counter *c = (Counter *)user;
  if (c->fail) return NULL;
  if (align < sizeof(void *)) align = sizeof(void *);
  void *p = NULL;
  if (posix_memalign(&p, align, size ? size : 1) != 0) return NULL;
  if ((uintptr_t)p % align) c->misaligned = true;
  c->allocs++;
  c->live_bytes += size;
  if (c->live_bytes > c->peak_bytes) c->peak_bytes = c->live_bytes;
  return p;
}

static void count_free(void *user, void *ptr, size_t size, size_t align) {
  Counter *c = (Counter *)user;
  (void)align;
  if (!ptr || size > c->live_bytes) c->bad_free = true;
  else c->live_bytes -= size;
  c->frees++;
  free(ptr);
}

/* ---- the abort flag, raised by another thread ------------------------------------------ */

typedef struct {
  volatile uint32_t flag;
  atomic_uint pieces;  /* pieces seen by the callback */
  atomic_bool raised;  /* the other thread has set the flag */
  unsigned raise_at;   /* the callback waits at this piece until the flag is up */
} Abort;

static bool abort_piece(void *user, const char *text, size_t len) {
  Abort *a = (Abort *)user;
  (void)text;
  (void)len;
  unsigned n = atomic_fetch_add(&a->pieces, 1) + 1;
  if (n == a->raise_at)
    while (!atomic_load(&a->raised)) sched_yield();
  return true;
}

static void *raiser(void *arg) {
  Abort *a = (Abort *)arg;
  while (atomic_load(&a->pieces) < a->raise_at) sched_yield();
  a->flag = 1;
  atomic_store(&a->raised, true);
  return NULL;
}

static bool count_pieces(void *user, const char *text, size_t len) {
  (void)text;
  (void)len;
  (*(unsigned *)user)++;
  return true;
}

static LlametteContextParams small_params(uint32_t n_ctx) {
  LlametteContextParams cp = llamette_context_default_params();
  cp.n_ctx = n_ctx;
  return cp;
}

int main(int argc, char **argv) {
  test_begin("test_misuse", argc, argv);

  /* Version and messages. */
  CHECK_EQ_U(llamette_version(), (LLAMETTE_VERSION_MAJOR << 16) | (LLAMETTE_VERSION_MINOR << 8) |
                                     LLAMETTE_VERSION_PATCH);
  CHECK_EQ_U(llamette_version(), 0x000100);
  CHECK(!strcmp(llamette_last_error(), ""));
  for (int s = LLAMETTE_OK; s <= LLAMETTE_ERR_PANIC; s++) {
    const char *msg = llamette_status_message((LlametteStatus)s);
    CHECK(msg != NULL && msg[0] != '\0');
  }

  uint8_t *bytes = NULL;
  size_t len = 0;
  bytes = read_file(fixture(TINY_Q8), &len);
  LlametteModel *m = NULL;
  LlametteModel *never = (LlametteModel *)(uintptr_t)0x1; /* must stay untouched */

  /* ---- NULL handles and buffers -------------------------------------------------------- */
  CHECK_STATUS(llamette_model_from_memory(NULL, len, &m), LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK(m == NULL);
  CHECK(strlen(llamette_last_error()) > 0);
  CHECK_STATUS(llamette_model_from_memory(bytes, len, NULL), LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK_STATUS(llamette_model_from_parts(NULL, NULL, 1, &m), LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK_STATUS(llamette_model_load(NULL, &m), LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK_STATUS(llamette_model_load(fixture(TINY_Q8), NULL), LLAMETTE_ERR_NULL_ARGUMENT);
  LlametteModel *out = never;
  CHECK_STATUS(llamette_model_from_memory(NULL, len, &out), LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK(out == never); /* out-params are written only on success */

  CHECK_OK(llamette_model_from_memory(bytes, len, &m));

  LlametteModelInfo info;
  char buf[64];
  uint32_t ids[64];
  size_t n = 0;
  bool flag = false;
  CHECK_STATUS(llamette_model_info(NULL, &info), LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK_STATUS(llamette_model_info(m, NULL), LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK_STATUS(llamette_model_architecture(NULL, buf, sizeof buf, &n), LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK_STATUS(llamette_model_architecture(m, NULL, sizeof buf, &n), LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK_STATUS(llamette_model_meta_string(m, NULL, buf, sizeof buf, &n), LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK_STATUS(llamette_model_is_eog(NULL, 2, &flag), LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK_STATUS(llamette_model_is_eog(m, 2, NULL), LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK_STATUS(llamette_tokenize(NULL, "a", 1, true, false, ids, N_OF(ids), &n),
               LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK_STATUS(llamette_tokenize(m, NULL, 1, true, false, ids, N_OF(ids), &n),
               LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK_STATUS(llamette_tokenize(m, "a", 1, true, false, NULL, N_OF(ids), &n),
               LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK_STATUS(llamette_tokenize(m, "a", 1, true, false, ids, N_OF(ids), NULL),
               LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK_STATUS(llamette_token_to_piece(NULL, 100, false, buf, sizeof buf, &n),
               LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK_STATUS(llamette_token_to_piece(m, 100, false, NULL, sizeof buf, &n),
               LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK_STATUS(llamette_detokenizer_new(NULL, NULL), LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK_STATUS(llamette_detokenizer_push(NULL, 1, NULL, NULL), LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK_STATUS(llamette_detokenizer_finish(NULL, NULL, NULL), LLAMETTE_ERR_NULL_ARGUMENT);
  {
    const LlametteMessage msg = {"user", 4, "hi", 2};
    CHECK_STATUS(llamette_chat_render_ids(NULL, LLAMETTE_CHAT_CODELLAMA_70B, &msg, 1, true, ids,
                                          N_OF(ids), &n),
                 LLAMETTE_ERR_NULL_ARGUMENT);
    CHECK_STATUS(llamette_chat_render_ids(m, LLAMETTE_CHAT_CODELLAMA_70B, NULL, 1, true, ids,
                                          N_OF(ids), &n),
                 LLAMETTE_ERR_NULL_ARGUMENT);
    CHECK_STATUS(llamette_chat_render(m, LLAMETTE_CHAT_CODELLAMA_70B, &msg, 1, true, NULL,
                                      sizeof buf, &n),
                 LLAMETTE_ERR_NULL_ARGUMENT);
    const LlametteMessage null_text = {NULL, 4, "hi", 2};
    CHECK_STATUS(llamette_chat_render_ids(m, LLAMETTE_CHAT_CODELLAMA_70B, &null_text, 1, true,
                                          ids, N_OF(ids), &n),
                 LLAMETTE_ERR_NULL_ARGUMENT);
    CHECK_STATUS(llamette_chat_stop_tokens(NULL, LLAMETTE_CHAT_CODELLAMA_70B, ids, N_OF(ids), &n),
                 LLAMETTE_ERR_NULL_ARGUMENT);
  }
  LlametteContextParams cp = small_params(16);
  size_t need = 0;
  LlametteContext *c = NULL;
  CHECK_STATUS(llamette_context_required_bytes(NULL, &cp, &need), LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK_STATUS(llamette_context_required_bytes(m, &cp, NULL), LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK_STATUS(llamette_context_new(NULL, &cp, &c), LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK_STATUS(llamette_context_new(m, &cp, NULL), LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK_STATUS(llamette_context_new_in(m, &cp, NULL, 1 << 20, &c), LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK_STATUS(llamette_context_new_with_allocator(m, &cp, NULL, &c), LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK(c == NULL);
  CHECK_STATUS(llamette_eval(NULL, ids, 1), LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK_STATUS(llamette_context_set_parallel(NULL, NULL, NULL, 1), LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK_STATUS(llamette_context_truncate(NULL, 0), LLAMETTE_ERR_NULL_ARGUMENT);
  {
    const float *l = NULL;
    size_t nv = 0;
    CHECK_STATUS(llamette_logits(NULL, &l, &nv), LLAMETTE_ERR_NULL_ARGUMENT);
    CHECK_STATUS(llamette_logits_at(NULL, 0, &l, &nv), LLAMETTE_ERR_NULL_ARGUMENT);
  }
  CHECK_EQ_U(llamette_context_n_past(NULL), 0);
  LlametteSampler *s = NULL;
  CHECK_STATUS(llamette_sampler_new(NULL, NULL, &s), LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK_STATUS(llamette_sampler_new(m, NULL, NULL), LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK_STATUS(llamette_sampler_accept(NULL, 1), LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK_STATUS(llamette_sampler_sample(NULL, NULL, ids), LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK_STATUS(llamette_sampler_set_logit_bias(NULL, NULL, NULL, 0), LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK_STATUS(llamette_generate(NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL),
               LLAMETTE_ERR_NULL_ARGUMENT);
  /* Freeing NULL is a no-op; so is resetting it. */
  llamette_model_free(NULL);
  llamette_context_free(NULL);
  llamette_sampler_free(NULL);
  llamette_sampler_reset(NULL);
  llamette_detokenizer_free(NULL);

  /* With real handles: NULL buffers inside. */
  CHECK_OK(llamette_context_new(m, NULL, &c)); /* NULL params: the defaults */
  CHECK_OK(llamette_sampler_new(m, NULL, &s)); /* NULL params: the defaults */
  CHECK_STATUS(llamette_eval(c, NULL, 1), LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK_STATUS(llamette_sampler_sample(s, NULL, ids), LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK_STATUS(llamette_sampler_sample(s, c, NULL), LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK_STATUS(llamette_generate(c, s, NULL, 3, NULL, NULL, NULL, NULL, NULL),
               LLAMETTE_ERR_NULL_ARGUMENT);
  CHECK_EQ_U(llamette_context_n_past(c), 0);
  llamette_sampler_free(s);
  llamette_context_free(c);
  s = NULL;
  c = NULL;

  /* ---- too-small buffers report the size needed ---------------------------------------- */
  {
    const char *text = "Hello world, hello llamette";
    size_t want = 0;
    CHECK_OK(llamette_tokenize(m, text, strlen(text), true, false, ids, N_OF(ids), &want));
    CHECK(want > 2);
    CHECK_EQ_U(ids[0], 1); /* BOS */
    n = 0;
    CHECK_STATUS(llamette_tokenize(m, text, strlen(text), true, false, ids, 1, &n),
                 LLAMETTE_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ_U(n, want);
    CHECK_OK(llamette_tokenize(m, text, strlen(text), true, false, ids, want, &n));
    CHECK_EQ_U(n, want);

    /* "llama" needs 6 bytes with its NUL. */
    n = 0;
    CHECK_STATUS(llamette_model_architecture(m, buf, 5, &n), LLAMETTE_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ_U(n, 5);
    CHECK_OK(llamette_model_architecture(m, buf, 6, &n));
    CHECK_EQ_U(n, 5);
    CHECK(!strcmp(buf, "llama"));

    /* A piece: bytes, not NUL-terminated. */
    size_t piece = 0;
    CHECK_OK(llamette_token_to_piece(m, ids[1], false, buf, sizeof buf, &piece));
    CHECK(piece > 0);
    n = 0;
    CHECK_STATUS(llamette_token_to_piece(m, ids[1], false, buf, piece - 1, &n),
                 LLAMETTE_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ_U(n, piece);

    /* The chat string, NUL-terminated: strlen + 1 bytes are needed. */
    const LlametteMessage msg = {"user", 4, "hi", 2};
    char chat[256];
    size_t chat_len = 0;
    CHECK_OK(llamette_chat_render(m, LLAMETTE_CHAT_CODELLAMA_70B, &msg, 1, true, chat,
                                  sizeof chat, &chat_len));
    CHECK_EQ_U(chat_len, strlen(chat));
    n = 0;
    CHECK_STATUS(llamette_chat_render(m, LLAMETTE_CHAT_CODELLAMA_70B, &msg, 1, true, chat,
                                      chat_len, &n),
                 LLAMETTE_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ_U(n, chat_len);
  }

  /* ---- every status a host can provoke ------------------------------------------------- */
  {
    LlametteModel *bad = NULL;
    static const uint8_t garbage[64] = "this is not a GGUF file";
    CHECK_STATUS(llamette_model_from_memory(garbage, sizeof garbage, &bad), LLAMETTE_ERR_BAD_FILE);
    CHECK(strlen(llamette_last_error()) > 0);
    CHECK_STATUS(llamette_model_from_memory(bytes, len / 2, &bad), LLAMETTE_ERR_BAD_FILE);
    CHECK_STATUS(llamette_model_load("/nonexistent/model.gguf", &bad), LLAMETTE_ERR_IO);
    CHECK(bad == NULL);

    CHECK_STATUS(llamette_token_to_piece(m, 1024, false, buf, sizeof buf, &n),
                 LLAMETTE_ERR_BAD_TOKEN);
    /* Invalid UTF-8. */
    CHECK_STATUS(llamette_tokenize(m, "\xff\xfe", 2, false, false, ids, N_OF(ids), &n),
                 LLAMETTE_ERR_INVALID_ARGUMENT);
    /* The tiny model has no chat template: NONE (= the model's) is unknown. */
    const LlametteMessage msg = {"user", 4, "hi", 2};
    CHECK_STATUS(llamette_chat_render_ids(m, LLAMETTE_CHAT_NONE, &msg, 1, true, ids, N_OF(ids), &n),
                 LLAMETTE_ERR_INVALID_ARGUMENT);

    cp = small_params(8);
    CHECK_OK(llamette_context_new(m, &cp, &c));
    const uint32_t bad_tok = 1024;
    CHECK_STATUS(llamette_eval(c, &bad_tok, 1), LLAMETTE_ERR_BAD_TOKEN);
    CHECK_EQ_U(llamette_context_n_past(c), 0);
    const float *l = NULL;
    size_t nv = 0;
    CHECK_STATUS(llamette_logits_at(c, 0, &l, &nv), LLAMETTE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(llamette_eval(c, GOLDEN1_PROMPT, 9), LLAMETTE_ERR_CONTEXT_FULL);
    CHECK_OK(llamette_eval(c, GOLDEN1_PROMPT, 8));
    CHECK_EQ_U(llamette_context_n_past(c), 8);
    CHECK_STATUS(llamette_eval(c, GOLDEN1_PROMPT, 1), LLAMETTE_ERR_CONTEXT_FULL);
    /* Truncating at or past n_past does nothing (documented). */
    CHECK_OK(llamette_context_truncate(c, 9));
    CHECK_EQ_U(llamette_context_n_past(c), 8);
    CHECK_OK(llamette_logits(c, &l, &nv));
    /* Truncating below it drops the logits until the next evaluation. */
    CHECK_OK(llamette_context_truncate(c, 4));
    CHECK_EQ_U(llamette_context_n_past(c), 4);
    CHECK_STATUS(llamette_logits(c, &l, &nv), LLAMETTE_ERR_INVALID_ARGUMENT);
    llamette_context_free(c);
    c = NULL;

    LlametteSamplerParams sp = llamette_sampler_default_params();
    sp.penalty_repeat = 0.0f; /* must be finite and > 0 */
    CHECK_STATUS(llamette_sampler_new(m, &sp, &s), LLAMETTE_ERR_INVALID_ARGUMENT);
    CHECK(s == NULL);
    CHECK_OK(llamette_sampler_new(m, NULL, &s));
    /* Accepting an id outside the vocabulary is allowed (recorded, never penalized). */
    CHECK_OK(llamette_sampler_accept(s, 5000));
    const uint32_t bias_tok[2] = {GOLDEN0_GREEDY[0], 5000};
    const float bias[2] = {-1.0f / 0.0f, 1.0f};
    CHECK_STATUS(llamette_sampler_set_logit_bias(s, bias_tok, bias, 2), LLAMETTE_ERR_BAD_TOKEN);
    CHECK_STATUS(llamette_sampler_set_logit_bias(s, NULL, bias, 1), LLAMETTE_ERR_NULL_ARGUMENT);
    llamette_sampler_free(s);
    s = NULL;

    /* A bias of -INFINITY bans the greedy choice: the runner-up (llama.cpp's second best at
     * the last prompt position, 53) is picked instead. */
    sp = greedy_params();
    CHECK_OK(llamette_sampler_new(m, &sp, &s));
    CHECK_OK(llamette_sampler_set_logit_bias(s, bias_tok, bias, 1));
    cp = small_params(16);
    CHECK_OK(llamette_context_new(m, &cp, &c));
    CHECK_OK(llamette_eval(c, GOLDEN0_PROMPT, N_OF(GOLDEN0_PROMPT)));
    uint32_t t = 0;
    CHECK_OK(llamette_sampler_sample(s, c, &t));
    CHECK_EQ_U(t, 53);
    CHECK_OK(llamette_sampler_set_logit_bias(s, NULL, NULL, 0)); /* removes the biases */
    CHECK_OK(llamette_sampler_sample(s, c, &t));
    CHECK_EQ_U(t, GOLDEN0_GREEDY[0]);
    llamette_context_free(c);
    llamette_sampler_free(s);
    c = NULL;
    s = NULL;
  }

  /* ---- a context and a sampler outlive their model handle ------------------------------- */
  {
    LlametteModel *m2 = NULL;
    CHECK_OK(llamette_model_from_memory(bytes, len, &m2));
    cp = small_params(64);
    CHECK_OK(llamette_context_new(m2, &cp, &c));
    LlametteSamplerParams sp = greedy_params();
    CHECK_OK(llamette_sampler_new(m2, &sp, &s));
    LlametteDetokenizer *d = NULL;
    CHECK_OK(llamette_detokenizer_new(m2, &d));
    llamette_model_free(m2); /* the handle only: c, s and d keep the model alive */
    uint32_t got[8];
    greedy_ids(c, s, GOLDEN0_PROMPT, N_OF(GOLDEN0_PROMPT), got, 8);
    CHECK_IDS("after the model handle was freed", got, 8, GOLDEN0_GREEDY, 8);
    const char *t = NULL;
    size_t tl = 0;
    CHECK_OK(llamette_detokenizer_push(d, GOLDEN0_GREEDY[0], &t, &tl));
    llamette_detokenizer_free(d);
    llamette_sampler_free(s);
    llamette_context_free(c);
    s = NULL;
    c = NULL;
  }

  /* ---- the abort flag -------------------------------------------------------------------- */
  {
    cp = small_params(64);
    LlametteSamplerParams sp = greedy_params();
    LlametteGenerateParams gp;
    LlametteStopReason reason = LLAMETTE_STOP_LENGTH;
    uint32_t n_gen = 99;

    /* Raised before the call: nothing is generated. */
    CHECK_OK(llamette_context_new(m, &cp, &c));
    CHECK_OK(llamette_sampler_new(m, &sp, &s));
    volatile uint32_t up = 1;
    memset(&gp, 0, sizeof gp);
    gp.n_predict = -1;
    gp.abort_flag = &up;
    unsigned pieces = 0;
    CHECK_OK(llamette_generate(c, s, GOLDEN0_PROMPT, N_OF(GOLDEN0_PROMPT), &gp, count_pieces,
                               &pieces, &reason, &n_gen));
    CHECK_EQ_I(reason, LLAMETTE_STOP_ABORTED);
    CHECK_EQ_U(n_gen, 0);
    CHECK_EQ_U(pieces, 0);
    llamette_sampler_free(s);
    llamette_context_free(c);

    /* Raised by another thread while the generation runs (the callback waits at the 3rd piece
     * until it is up): generation stops before the context fills (64 - 8 tokens). */
    CHECK_OK(llamette_context_new(m, &cp, &c));
    CHECK_OK(llamette_sampler_new(m, &sp, &s));
    Abort a;
    a.flag = 0;
    atomic_init(&a.pieces, 0);
    atomic_init(&a.raised, false);
    a.raise_at = 3;
    pthread_t th;
    CHECK(pthread_create(&th, NULL, raiser, &a) == 0);
    memset(&gp, 0, sizeof gp);
    gp.n_predict = -1;
    gp.abort_flag = &a.flag;
    reason = LLAMETTE_STOP_LENGTH;
    LlametteStatus st = llamette_generate(c, s, GOLDEN0_PROMPT, N_OF(GOLDEN0_PROMPT), &gp,
                                          abort_piece, &a, &reason, &n_gen);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_STATUS(st, LLAMETTE_OK);
    CHECK_EQ_I(reason, LLAMETTE_STOP_ABORTED);
    CHECK_EQ_U(atomic_load(&a.pieces), 3);
    CHECK(n_gen >= 3 && n_gen < 56);
    llamette_sampler_free(s);
    llamette_context_free(c);
    s = NULL;
    c = NULL;
  }

  /* ---- host allocator hooks -------------------------------------------------------------- */
  {
    Counter k;
    memset(&k, 0, sizeof k);
    LlametteAllocator a = {&k, count_alloc, count_free};
    cp = small_params(64);
    size_t need_bytes = 0;
    CHECK_OK(llamette_context_required_bytes(m, &cp, &need_bytes));
    CHECK_OK(llamette_context_new_with_allocator(m, &cp, &a, &c));
    CHECK(k.allocs >= 1);
    CHECK(k.peak_bytes >= need_bytes);
    unsigned allocs_after_new = k.allocs;
    LlametteSamplerParams sp = greedy_params();
    CHECK_OK(llamette_sampler_new(m, &sp, &s));
    uint32_t got[8];
    greedy_ids(c, s, GOLDEN0_PROMPT, N_OF(GOLDEN0_PROMPT), got, 8);
    CHECK_IDS("context from the host allocator", got, 8, GOLDEN0_GREEDY, 8);
    CHECK_EQ_U(k.allocs, allocs_after_new); /* evaluation allocates nothing */
    CHECK_EQ_U(k.frees, 0);
    llamette_sampler_free(s);
    llamette_context_free(c);
    s = NULL;
    c = NULL;
    CHECK_EQ_U(k.frees, k.allocs);
    CHECK_EQ_U(k.live_bytes, 0);
    CHECK(!k.misaligned);
    CHECK(!k.bad_free);

    /* An allocator that fails: LLAMETTE_ERR_ALLOCATION, nothing leaks. */
    memset(&k, 0, sizeof k);
    k.fail = true;
    c = NULL;
    CHECK_STATUS(llamette_context_new_with_allocator(m, &cp, &a, &c), LLAMETTE_ERR_ALLOCATION);
    CHECK(c == NULL);
    CHECK_EQ_U(k.frees, k.allocs);
  }

  llamette_model_free(m);
  free(bytes);
  return test_end();
}
