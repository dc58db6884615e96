/* Every fixture model loads from memory (and from parts, and from a path) with the expected
 * hyperparameters and metadata. */
#include <dirent.h>

#include "common.h"

typedef struct {
  const char *file;
  uint32_t n_head, n_ff;
} Fixture;

/* tests/fixtures/models/: the untied models have 4 heads of 64 and n_ff 768, the tied ones
 * (output = token embedding) 8 heads of 32 and n_ff 512; all share n_embd 256, 2 layers,
 * 1024 tokens, one KV head. */
static const Fixture MODELS[] = {
    {"tiny-codellama-tied.f16.gguf", 8, 512},   {"tiny-codellama-tied.q4_k_m.gguf", 8, 512},
    {"tiny-codellama-tied.q8_0.gguf", 8, 512},  {"tiny-codellama.bf16.gguf", 4, 768},
    {"tiny-codellama.f16.gguf", 4, 768},        {"tiny-codellama.f32.gguf", 4, 768},
    {"tiny-codellama.q2_k.gguf", 4, 768},       {"tiny-codellama.q3_k_l.gguf", 4, 768},
    {"tiny-codellama.q3_k_m.gguf", 4, 768},     {"tiny-codellama.q3_k_s.gguf", 4, 768},
    {"tiny-codellama.q4_0.gguf", 4, 768},       {"tiny-codellama.q4_1.gguf", 4, 768},
    {"tiny-codellama.q4_k_m.gguf", 4, 768},     {"tiny-codellama.q4_k_s.gguf", 4, 768},
    {"tiny-codellama.q5_0.gguf", 4, 768},       {"tiny-codellama.q5_1.gguf", 4, 768},
    {"tiny-codellama.q5_k_m.gguf", 4, 768},     {"tiny-codellama.q5_k_s.gguf", 4, 768},
    {"tiny-codellama.q6_k.gguf", 4, 768},       {"tiny-codellama.q8_0.gguf", 4, 768},
};

static const Fixture *find(const char *file) {
  for (size_t i = 0; i < N_OF(MODELS); i++)
    if (!strcmp(MODELS[i].file, file)) return &MODELS[i];
  return NULL;
}

static void check_info(const LlametteModelInfo *in, const Fixture *f) {
  CHECK_EQ_U(in->n_vocab, 1024);
  CHECK_EQ_U(in->n_embd, 256);
  CHECK_EQ_U(in->n_layer, 2);
  CHECK_EQ_U(in->n_ff, f->n_ff);
  CHECK_EQ_U(in->n_head, f->n_head);
  CHECK_EQ_U(in->n_head_kv, 1);
  CHECK_EQ_U(in->head_dim, 256 / f->n_head);
  CHECK_EQ_U(in->n_ctx_train, 4096);
  CHECK(in->rope_freq_base == 10000.0f);
  CHECK(in->rms_eps == 1e-5f);
  CHECK_EQ_I(in->bos, 1);
  CHECK_EQ_I(in->eos, 2);
  CHECK_EQ_I(in->eot, -1);
  CHECK_EQ_I(in->chat_format, LLAMETTE_CHAT_NONE);
}

/* The directory holds exactly the models above (a new fixture must be added here). */
static void check_directory(void) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/models", g_fixtures);
  DIR *d = opendir(dir);
  CHECK_MSG(d != NULL, "cannot list %s", dir);
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (len < 5 || strcmp(e->d_name + len - 5, ".gguf") != 0) continue;
    CHECK_MSG(find(e->d_name) != NULL, "fixture %s is not in test_models.c", e->d_name);
    n++;
  }
  closedir(d);
  CHECK_EQ_U(n, N_OF(MODELS));
}

static void check_meta(LlametteModel *m, const char *file) {
  char buf[256];
  size_t n = 0;
  CHECK_OK(llamette_model_architecture(m, buf, sizeof buf, &n));
  CHECK_EQ_U(n, 5);
  CHECK(!strcmp(buf, "llama"));

  const char *want_name = strstr(file, "-tied.") ? "tiny-codellama-tied" : "tiny-codellama";
  CHECK_OK(llamette_model_meta_string(m, "general.name", buf, sizeof buf, &n));
  CHECK_MSG(!strcmp(buf, want_name), "general.name is '%s'", buf);
  CHECK_EQ_U(n, strlen(want_name));
  CHECK_OK(llamette_model_meta_string(m, "llama.embedding_length", buf, sizeof buf, &n));
  CHECK_MSG(!strcmp(buf, "256"), "llama.embedding_length is '%s'", buf);
  CHECK_OK(llamette_model_meta_string(m, "tokenizer.ggml.tokens", buf, sizeof buf, &n));
  CHECK_MSG(!strcmp(buf, "[1024 items]"), "tokenizer.ggml.tokens is '%s'", buf);
  CHECK_STATUS(llamette_model_meta_string(m, "no.such.key", buf, sizeof buf, &n),
               LLAMETTE_ERR_INVALID_ARGUMENT);

  bool eog = false;
  CHECK_OK(llamette_model_is_eog(m, 2, &eog));
  CHECK(eog);
  CHECK_OK(llamette_model_is_eog(m, 1, &eog));
  CHECK(!eog);
}

int main(int argc, char **argv) {
  test_begin("test_models", argc, argv);
  check_directory();

  for (size_t i = 0; i < N_OF(MODELS); i++) {
    char rel[256];
    snprintf(rel, sizeof rel, "models/%s", MODELS[i].file);
    uint8_t *bytes = NULL;
    LlametteModel *m = load_fixture(rel, &bytes);
    LlametteModelInfo info;
    memset(&info, 0xAB, sizeof info);
    CHECK_OK(llamette_model_info(m, &info));
    check_info(&info, &MODELS[i]);
    CHECK_EQ_U(info.copied_bytes, 0);
    check_meta(m, MODELS[i].file);
    llamette_model_free(m);
    free(bytes);
  }

  /* The same file by path (mapped by the library). */
  {
    LlametteModel *m = NULL;
    CHECK_OK(llamette_model_load(fixture(TINY_Q8), &m));
    LlametteModelInfo info;
    CHECK_OK(llamette_model_info(m, &info));
    check_info(&info, find("tiny-codellama.q8_0.gguf"));
    llamette_model_free(m);
  }

  /* Raw byte splits: three parts cut at arbitrary offsets inside the tensor data. The logits
   * of the first golden prompt are the same as from one buffer. */
  {
    size_t len = 0;
    uint8_t *whole = read_file(fixture(TINY_Q8), &len);
    size_t cut1 = len / 3 + 7, cut2 = 2 * len / 3 + 13;
    uint8_t *p0 = (uint8_t *)malloc(cut1), *p1 = (uint8_t *)malloc(cut2 - cut1),
            *p2 = (uint8_t *)malloc(len - cut2);
    CHECK(p0 && p1 && p2);
    memcpy(p0, whole, cut1);
    memcpy(p1, whole + cut1, cut2 - cut1);
    memcpy(p2, whole + cut2, len - cut2);
    const uint8_t *parts[3] = {p0, p1, p2};
    const size_t lens[3] = {cut1, cut2 - cut1, len - cut2};
    LlametteModel *split = NULL, *one = NULL;
    CHECK_OK(llamette_model_from_parts(parts, lens, 3, &split));
    CHECK_OK(llamette_model_from_memory(whole, len, &one));
    LlametteModelInfo info;
    CHECK_OK(llamette_model_info(split, &info));
    check_info(&info, find("tiny-codellama.q8_0.gguf"));
    CHECK(info.copied_bytes > 0);

    LlametteContextParams cp = llamette_context_default_params();
    cp.n_ctx = 64;
    LlametteContext *c1 = NULL, *c2 = NULL;
    CHECK_OK(llamette_context_new(split, &cp, &c1));
    CHECK_OK(llamette_context_new(one, &cp, &c2));
    CHECK_OK(llamette_eval(c1, GOLDEN0_PROMPT, N_OF(GOLDEN0_PROMPT)));
    CHECK_OK(llamette_eval(c2, GOLDEN0_PROMPT, N_OF(GOLDEN0_PROMPT)));
    const float *l1 = NULL, *l2 = NULL;
    size_t n1 = 0, n2 = 0;
    CHECK_OK(llamette_logits(c1, &l1, &n1));
    CHECK_OK(llamette_logits(c2, &l2, &n2));
    CHECK_EQ_U(n1, 1024);
    CHECK_EQ_U(n2, 1024);
    CHECK(memcmp(l1, l2, n1 * sizeof(float)) == 0);
    CHECK_EQ_U(argmax(l1, n1), GOLDEN0_GREEDY[0]);
    llamette_context_free(c1);
    llamette_context_free(c2);
    llamette_model_free(split);
    llamette_model_free(one);
    free(p0);
    free(p1);
    free(p2);
    free(whole);
  }
  return test_end();
}
