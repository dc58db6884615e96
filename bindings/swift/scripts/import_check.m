/* Compiled by bindings/swift/check.sh with -fmodules -fmodule-map-file=.../module.modulemap
 * -fsyntax-only -Werror: the CLlamette module must resolve through its module map and give
 * these declarations with these types. (check.sh also compiles it as C, with
 * `#pragma clang module import`, and links and runs that against libllamette.) */
#ifdef __OBJC__
@import CLlamette;
#else
#pragma clang module import CLlamette
#include <stdio.h>
#include <string.h>
#endif

/* A host parallel callback with the exact LlametteParallelFn type (what the Swift binding's
 * @convention(c) closure is). */
static void run_serially(void *user, uint32_t n_tasks, LlametteTaskFn task, void *task_ctx) {
  (void)user;
  for (uint32_t i = 0; i < n_tasks; i++) task(task_ctx, i);
}

static bool on_piece(void *user, const char *text, size_t len) {
  (void)user;
  (void)text;
  return len > 0;
}

/* The logits processor and token callbacks with the exact LlametteLogitsProcessorFn and
 * LlametteTokenFn types (the Swift binding's @convention(c) closures). */
static void ban_first(void *user, float *logits, size_t n_vocab) {
  (void)user;
  if (n_vocab > 0) logits[0] = -__builtin_inff();
}

static bool on_token(void *user, uint32_t token, const LlametteTokenLogprob *logprob) {
  (void)user;
  return logprob == NULL || logprob->token == token;
}

/* Uses the declarations the Swift binding relies on; returns 0 when the library matches. */
static int use_declarations(const char *vocab_path) {
  LlametteParallelFn parallel = run_serially;
  LlamettePieceFn piece = on_piece;
  LlametteLogitsProcessorFn processor = ban_first;
  (void)parallel;
  (void)piece;

  uint32_t version = llamette_version();
  uint32_t header = (LLAMETTE_VERSION_MAJOR << 16) | (LLAMETTE_VERSION_MINOR << 8) | LLAMETTE_VERSION_PATCH;
  if (version != header) return 10;

  LlametteContextParams cp = llamette_context_default_params();
  LlametteSamplerParams sp = llamette_sampler_default_params();
  if (cp.n_ctx == 0 || cp.kv_type != LLAMETTE_KV_F16 || sp.top_k != 40) return 11;

  LlametteGenerateParams gp = {0};
  uint32_t flag = 0;
  cllamette_abort_flag_store(&flag, 1);
  gp.abort_flag = &flag;
  if (cllamette_abort_flag_load(&flag) != 1 || *gp.abort_flag != 1) return 12;

  /* The extensible parameters: sizes set, llama.cpp's defaults, the fields Swift sets. */
  LlametteSamplerParamsEx sx = llamette_sampler_default_params_ex();
  if (sx.size != sizeof sx || sx.base.top_k != 40 || sx.typ_p != 1.0f || sx.mirostat != 0 ||
      sx.dry_allowed_length != 2 || sx.dry_sequence_breakers != NULL)
    return 23;
  LlametteGenerateParamsEx gx = llamette_generate_default_params_ex();
  if (gx.size != sizeof gx || gx.n_logprobs != -1 || gx.on_token != NULL || gx.reuse_prefix) return 24;
  gx.on_token = on_token;
  gx.token_user = NULL;
  gx.base.abort_flag = &flag;
  LlametteTokenLogprob lp = {0};
  if (sizeof lp.top_tokens / sizeof lp.top_tokens[0] != LLAMETTE_MAX_TOP_LOGPROBS ||
      sizeof lp.top_logprobs / sizeof lp.top_logprobs[0] != LLAMETTE_MAX_TOP_LOGPROBS)
    return 25;
  LlamettePerfContextData perf = {0};
  if (perf.n_p_eval != 0 || perf.t_start_ms != 0.0) return 26;

  if (vocab_path == NULL) return 0;
  LlametteModel *m = NULL;
  LlametteStatus st = llamette_model_load(vocab_path, &m);
  if (st != LLAMETTE_OK) return 13;
  LlametteModelInfo info;
  if (llamette_model_info(m, &info) != LLAMETTE_OK || info.n_vocab == 0) return 14;

  /* Tokenize with the two-call pattern the binding uses, then detokenize. */
  static const char text[] = "Hello world";
  size_t n = 0;
  st = llamette_tokenize(m, text, sizeof text - 1, false, false, NULL, 0, &n);
  if (st != LLAMETTE_ERR_BUFFER_TOO_SMALL || n == 0 || n > 64) return 15;
  uint32_t ids[64];
  if (llamette_tokenize(m, text, sizeof text - 1, false, false, ids, 64, &n) != LLAMETTE_OK) return 16;
  LlametteDetokenizer *d = NULL;
  if (llamette_detokenizer_new(m, &d) != LLAMETTE_OK) return 17;
  char out[256];
  size_t len = 0;
  for (size_t i = 0; i <= n; i++) {
    const char *t = NULL;
    size_t tl = 0;
    st = i < n ? llamette_detokenizer_push(d, ids[i], &t, &tl) : llamette_detokenizer_finish(d, &t, &tl);
    if (st != LLAMETTE_OK || len + tl >= sizeof out) return 18;
    for (size_t k = 0; k < tl; k++) out[len++] = t[k];
  }
  out[len] = '\0';
  llamette_detokenizer_free(d);

  /* The CodeLlama-70B-Instruct dialog of tests/c/test_chat.c renders to Meta's reference ids. */
  static const LlametteMessage dialog[] = {
      {"system", 6, "System prompt    ", 17},
      {"user", 4, "First user query", 16},
      {"assistant", 9, "Model response to first query", 29},
      {"user", 4, "Second user query", 17},
  };
  static const uint32_t expected[] = {
      1,     7562,  29901, 1788,  13,    13,    2184,  9508,  32015, 7562,  29901, 1404, 13,
      13,    3824,  1404,  2346,  32015, 7562,  29901, 20255, 13,    13,    8125,  2933, 304,
      937,   2346,  32015, 7562,  29901, 1404,  13,    13,    6440,  1404,  2346,  32015, 7562,
      29901, 20255, 13,    14994, 3381,  29901, 1404,  13,    13,    29871};
  const size_t n_expected = sizeof expected / sizeof expected[0];
  LlametteChatFormat format = LLAMETTE_CHAT_CODELLAMA_70B;
  st = llamette_chat_render_ids(m, format, dialog, 4, true, NULL, 0, &n);
  if (st != LLAMETTE_ERR_BUFFER_TOO_SMALL || n != n_expected) return 19;
  uint32_t chat_ids[64];
  if (llamette_chat_render_ids(m, format, dialog, 4, true, chat_ids, 64, &n) != LLAMETTE_OK) return 20;
  for (size_t i = 0; i < n_expected; i++)
    if (chat_ids[i] != expected[i]) return 21;

  /* A sampler with DRY and given breakers (an array of const char *, as Swift passes it), and
   * a logits processor set and removed. */
  const char *breakers[] = {"\n", "ab"};
  sx.dry_multiplier = 0.8f;
  sx.dry_sequence_breakers = breakers;
  sx.n_dry_sequence_breakers = 2;
  LlametteSampler *s = NULL;
  if (llamette_sampler_new_ex(m, &sx, &s) != LLAMETTE_OK) return 27;
  if (llamette_sampler_set_logits_processor(s, processor, NULL) != LLAMETTE_OK ||
      llamette_sampler_set_logits_processor(s, NULL, NULL) != LLAMETTE_OK)
    return 28;
  llamette_sampler_free(s);
  sx.mirostat = 3;
  s = NULL;
  if (llamette_sampler_new_ex(m, &sx, &s) != LLAMETTE_ERR_INVALID_ARGUMENT || s != NULL) return 29;

  llamette_model_free(m);
  /* SentencePiece's leading space: " Hello world". */
  return len == 12 && out[0] == ' ' && out[1] == 'H' && out[11] == 'd' ? 0 : 22;
}

int main(int argc, char **argv) {
  int rc = use_declarations(argc > 1 ? argv[1] : NULL);
#ifndef __OBJC__
  if (rc == 0) printf("import_check: CLlamette module linked and ran: version %u\n", (unsigned)llamette_version());
  else fprintf(stderr, "import_check: failed with code %d: %s\n", rc, llamette_last_error());
#endif
  return rc;
}
