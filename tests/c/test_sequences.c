/* Several sequences in one context through the C ABI: extensible context parameters, one batch
 * decoding both golden prompts of tiny-codellama.q8_0 (each sequence continues with llama.cpp's
 * greedy tokens, two sequences per batch), the sequence operations (copy, remove, keep, shift,
 * divide, positions, prefix reuse), and saved state (whole context and one sequence, to host
 * memory and to a file) whose continuation gives the uninterrupted logits bit for bit; states
 * that do not fit are LLAMETTE_ERR_BAD_STATE and change nothing. */
#include "common.h"

#include <unistd.h>

static LlametteBatchToken tok(uint32_t token, uint32_t pos, unsigned seq, bool logits) {
  LlametteBatchToken t;
  memset(&t, 0, sizeof t);
  t.token = token;
  t.pos = pos;
  t.seqs = 1ull << seq;
  t.logits = logits;
  return t;
}

/* Appends a prompt of one sequence at positions 0.., logits for its last token. */
static size_t add_prompt(LlametteBatchToken *b, size_t at, const uint32_t *ids, size_t n,
                         unsigned seq) {
  for (size_t i = 0; i < n; i++) b[at + i] = tok(ids[i], (uint32_t)i, seq, i + 1 == n);
  return at + n;
}

static LlametteContext *new_ctx_ex(LlametteModel *m, uint32_t n_ctx, uint32_t n_seq_max,
                                   uint32_t n_outputs_max) {
  LlametteContextParamsEx p = llamette_context_default_params_ex();
  p.n_ctx = n_ctx;
  p.n_batch = 64;
  p.n_seq_max = n_seq_max;
  p.n_outputs_max = n_outputs_max;
  LlametteContext *c = NULL;
  CHECK_OK(llamette_context_new_ex(m, &p, &c));
  CHECK(c != NULL);
  return c;
}

static const float *row(LlametteContext *c, size_t i) {
  const float *l = NULL;
  size_t n = 0;
  CHECK_OK(llamette_logits_ith(c, i, &l, &n));
  CHECK_EQ_U(n, 1024);
  return l;
}

static int64_t pos_max(LlametteContext *c, int32_t seq) {
  int64_t p = -2;
  CHECK_OK(llamette_seq_pos_max(c, seq, &p));
  return p;
}

static int64_t pos_min(LlametteContext *c, int32_t seq) {
  int64_t p = -2;
  CHECK_OK(llamette_seq_pos_min(c, seq, &p));
  return p;
}

/* The whole state in a malloc'd buffer (the caller frees it). */
static uint8_t *save(LlametteContext *c, size_t *len) {
  size_t need = 0, written = 0;
  CHECK_OK(llamette_state_size(c, &need));
  uint8_t *buf = (uint8_t *)malloc(need);
  CHECK(buf != NULL);
  CHECK_OK(llamette_state_write(c, buf, need, &written));
  CHECK_EQ_U(written, need);
  *len = need;
  return buf;
}

static bool same_state(LlametteContext *c, const uint8_t *bytes, size_t len) {
  size_t n = 0;
  uint8_t *now = save(c, &n);
  bool same = n == len && memcmp(now, bytes, len) == 0;
  free(now);
  return same;
}

int main(int argc, char **argv) {
  test_begin("test_sequences", argc, argv);
  uint8_t *bytes = NULL;
  LlametteModel *m = load_fixture(TINY_Q8, &bytes);
  const size_t N0 = N_OF(GOLDEN0_PROMPT), N1 = N_OF(GOLDEN1_PROMPT);

  /* 1. Extensible parameters: defaults, sizes, refusals. */
  {
    LlametteContextParamsEx d = llamette_context_default_params_ex();
    LlametteContextParams old = llamette_context_default_params();
    CHECK_EQ_U(d.size, sizeof(LlametteContextParamsEx));
    CHECK_EQ_U(d.n_ctx, old.n_ctx);
    CHECK_EQ_U(d.n_batch, old.n_batch);
    CHECK_EQ_I(d.kv_type, old.kv_type);
    CHECK(d.logits_all == old.logits_all);
    CHECK_EQ_U(d.n_seq_max, 1);
    CHECK_EQ_U(d.n_outputs_max, 0);
    size_t n_old = 0, n_ex = 0, n4 = 0;
    CHECK_OK(llamette_context_required_bytes(m, NULL, &n_old));
    CHECK_OK(llamette_context_required_bytes_ex(m, &d, &n_ex));
    CHECK_EQ_U(n_ex, n_old);
    d.n_seq_max = 4;
    CHECK_OK(llamette_context_required_bytes_ex(m, &d, &n4));
    CHECK_EQ_U(n4 - n_old, 3 * 1024 * sizeof(float)); /* three more rows of logits */

    /* A context of four sequences in the host's buffer. */
    void *buf = malloc(n4);
    CHECK(buf != NULL);
    LlametteContext *c = NULL;
    CHECK_STATUS(llamette_context_new_in_ex(m, &d, buf, n4 - 1, &c),
                 LLAMETTE_ERR_BUFFER_TOO_SMALL);
    CHECK(c == NULL);
    CHECK_OK(llamette_context_new_in_ex(m, &d, buf, n4, &c));
    LlametteBatchToken t = tok(GOLDEN0_PROMPT[0], 0, 3, true);
    CHECK_OK(llamette_decode(c, &t, 1));
    CHECK_EQ_I(pos_max(c, 3), 0);
    CHECK_EQ_I(pos_max(c, 0), -1);
    llamette_context_free(c);
    free(buf);

    size_t sentinel = 12345;
    LlametteContextParamsEx bad = d;
    /* A size no version of the struct had (the one before `embeddings` is still read). */
    bad.size = sizeof bad - 4;
    CHECK_STATUS(llamette_context_required_bytes_ex(m, &bad, &sentinel),
                 LLAMETTE_ERR_INVALID_ARGUMENT);
    CHECK(strstr(llamette_last_error(), "p->size") != NULL);
    bad.size = sizeof bad + 8;
    CHECK_STATUS(llamette_context_required_bytes_ex(m, &bad, &sentinel),
                 LLAMETTE_ERR_INVALID_ARGUMENT);
    bad = d;
    bad.n_seq_max = 65;
    CHECK_STATUS(llamette_context_required_bytes_ex(m, &bad, &sentinel),
                 LLAMETTE_ERR_INVALID_ARGUMENT);
    bad.n_seq_max = 0;
    c = NULL;
    CHECK_STATUS(llamette_context_new_ex(m, &bad, &c), LLAMETTE_ERR_INVALID_ARGUMENT);
    CHECK(c == NULL);
    CHECK_EQ_U(sentinel, 12345);
    CHECK_STATUS(llamette_context_new_ex(NULL, &d, &c), LLAMETTE_ERR_NULL_ARGUMENT);
  }

  /* 2. Both prompts in one batch, then both sequences greedily, two tokens per batch. */
  LlametteContext *c = new_ctx_ex(m, 128, 2, 0);
  LlametteBatchToken batch[64];
  size_t nb = add_prompt(batch, 0, GOLDEN0_PROMPT, N0, 0);
  nb = add_prompt(batch, nb, GOLDEN1_PROMPT, N1, 1);
  CHECK_OK(llamette_decode(c, batch, nb));
  CHECK_EQ_I(pos_max(c, 0), (int64_t)N0 - 1);
  CHECK_EQ_I(pos_max(c, 1), (int64_t)N1 - 1);
  CHECK_EQ_I(pos_min(c, 1), 0);
  {
    const float *l = NULL;
    size_t n = 0;
    CHECK_STATUS(llamette_logits_ith(c, 0, &l, &n), LLAMETTE_ERR_INVALID_ARGUMENT);
    CHECK(l == NULL);
  }
  uint32_t got0[8], got1[8];
  uint32_t t0 = argmax(row(c, N0 - 1), 1024), t1 = argmax(row(c, nb - 1), 1024);
  for (uint32_t i = 0; i < 8; i++) {
    got0[i] = t0;
    got1[i] = t1;
    LlametteBatchToken step[2] = {tok(t0, (uint32_t)N0 + i, 0, true),
                                  tok(t1, (uint32_t)N1 + i, 1, true)};
    CHECK_OK(llamette_decode(c, step, 2));
    t0 = argmax(row(c, 0), 1024);
    t1 = argmax(row(c, 1), 1024);
  }
  CHECK_IDS("sequence 0 greedy", got0, 8, GOLDEN0_GREEDY, 8);
  CHECK_IDS("sequence 1 greedy", got1, 8, GOLDEN1_GREEDY, 8);

  /* Refused batches change nothing. */
  {
    size_t len = 0;
    uint8_t *before = save(c, &len);
    LlametteBatchToken gap = tok(5, (uint32_t)pos_max(c, 0) + 2, 0, true);
    CHECK_STATUS(llamette_decode(c, &gap, 1), LLAMETTE_ERR_INVALID_ARGUMENT);
    LlametteBatchToken other = tok(5, 0, 2, true);
    CHECK_STATUS(llamette_decode(c, &other, 1), LLAMETTE_ERR_INVALID_ARGUMENT);
    LlametteBatchToken big = tok(1024, (uint32_t)pos_max(c, 0) + 1, 0, true);
    CHECK_STATUS(llamette_decode(c, &big, 1), LLAMETTE_ERR_BAD_TOKEN);
    CHECK_STATUS(llamette_decode(c, batch, 0), LLAMETTE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(llamette_decode(c, NULL, 1), LLAMETTE_ERR_NULL_ARGUMENT);
    CHECK(same_state(c, before, len));
    free(before);
  }

  /* 3. Saved state: continuing a restored context gives the uninterrupted logits. */
  {
    size_t need = 0, written = 0, len = 0;
    CHECK_OK(llamette_state_size(c, &need));
    CHECK_STATUS(llamette_state_write(c, NULL, 0, &written), LLAMETTE_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ_U(written, need);
    uint8_t *saved = save(c, &len);
    CHECK_EQ_U(len, need);
    char path[64];
    snprintf(path, sizeof path, "/tmp/llamette-test-sequences-%ld.state", (long)getpid());
    CHECK_OK(llamette_state_save_file(c, path));
    {
      size_t file_len = 0;
      uint8_t *file = read_file(path, &file_len);
      CHECK(file_len == len && memcmp(file, saved, len) == 0);
      free(file);
    }
    LlametteBatchToken step[2] = {tok(t0, (uint32_t)pos_max(c, 0) + 1, 0, true),
                                  tok(t1, (uint32_t)pos_max(c, 1) + 1, 1, true)};
    CHECK_OK(llamette_decode(c, step, 2));
    float want0[1024], want1[1024];
    memcpy(want0, row(c, 0), sizeof want0);
    memcpy(want1, row(c, 1), sizeof want1);

    /* Into a fresh context with more cells, from the bytes and from the file. */
    for (int via_file = 0; via_file < 2; via_file++) {
      LlametteContext *r = new_ctx_ex(m, 256, 2, 0);
      if (via_file) CHECK_OK(llamette_state_load_file(r, path));
      else CHECK_OK(llamette_state_read(r, saved, len));
      CHECK_OK(llamette_decode(r, step, 2));
      CHECK(memcmp(row(r, 0), want0, sizeof want0) == 0);
      CHECK(memcmp(row(r, 1), want1, sizeof want1) == 0);
      llamette_context_free(r);
    }
    remove(path);
    CHECK_STATUS(llamette_state_load_file(c, path), LLAMETTE_ERR_IO);

    /* States that do not fit: BAD_STATE, the context as it was. */
    LlametteContext *small = new_ctx_ex(m, 32, 2, 0);
    LlametteContext *one = new_ctx_ex(m, 128, 1, 0);
    size_t before_len = 0;
    uint8_t *before = save(one, &before_len);
    CHECK_STATUS(llamette_state_read(small, saved, len), LLAMETTE_ERR_BAD_STATE);
    CHECK_STATUS(llamette_state_read(one, saved, len), LLAMETTE_ERR_BAD_STATE);
    CHECK_STATUS(llamette_state_read(one, saved, len - 1), LLAMETTE_ERR_BAD_STATE);
    saved[len / 2] ^= 0x10;
    CHECK_STATUS(llamette_state_read(one, saved, len), LLAMETTE_ERR_BAD_STATE);
    saved[len / 2] ^= 0x10;
    CHECK(strcmp(llamette_status_message(LLAMETTE_ERR_BAD_STATE), "unknown status") != 0);
    CHECK(same_state(one, before, before_len));
    free(before);

    /* One sequence: sequence 1 of the saved context becomes sequence 0 of another, which
     * then continues with llama.cpp's greedy tokens of prompt 1. */
    LlametteContext *two = new_ctx_ex(m, 128, 2, 0);
    CHECK_OK(llamette_state_read(two, saved, len));
    size_t seq_need = 0;
    CHECK_OK(llamette_state_seq_size(two, 1, &seq_need));
    CHECK(seq_need < len);
    uint8_t *seq = (uint8_t *)malloc(seq_need);
    CHECK(seq != NULL);
    CHECK_STATUS(llamette_state_seq_write(two, 1, seq, seq_need - 1, &written),
                 LLAMETTE_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ_U(written, seq_need);
    CHECK_OK(llamette_state_seq_write(two, 1, seq, seq_need, &written));
    CHECK_EQ_U(written, seq_need);
    CHECK_STATUS(llamette_state_seq_read(one, 1, seq, seq_need), LLAMETTE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(llamette_state_seq_read(one, 0, saved, len), LLAMETTE_ERR_BAD_STATE);
    CHECK_OK(llamette_state_seq_read(one, 0, seq, seq_need));
    CHECK_EQ_I(pos_max(one, 0), pos_max(two, 1));
    uint32_t cont[4];
    uint32_t t = t1;
    for (uint32_t i = 0; i < 4; i++) {
      cont[i] = t;
      LlametteBatchToken s = tok(t, (uint32_t)pos_max(one, 0) + 1, 0, true);
      CHECK_OK(llamette_decode(one, &s, 1));
      t = argmax(row(one, 0), 1024);
    }
    CHECK_IDS("sequence 1 restored as sequence 0", cont, 4, GOLDEN1_GREEDY + 8, 4);
    free(seq);
    free(saved);
    llamette_context_free(two);
    llamette_context_free(one);
    llamette_context_free(small);
  }

  /* 4. Sequence operations. */
  {
    CHECK_OK(llamette_seq_keep(c, 0));
    CHECK_EQ_I(pos_max(c, 1), -1);
    int64_t end0 = pos_max(c, 0);
    CHECK_OK(llamette_seq_cp(c, 0, 1, -1, -1));
    CHECK_EQ_I(pos_max(c, 1), end0);
    CHECK_OK(llamette_seq_rm(c, 1, 4, -1));
    CHECK_EQ_I(pos_max(c, 1), 3);
    CHECK_EQ_I(pos_max(c, 0), end0);
    /* Sequence 1 recomputes from position 4 what sequence 0 cached: the same token follows. */
    LlametteBatchToken rest[64];
    size_t nr = 0;
    for (uint32_t p = 4; p < N0; p++) rest[nr++] = tok(GOLDEN0_PROMPT[p], p, 1, p + 1 == N0);
    CHECK_OK(llamette_decode(c, rest, nr));
    CHECK_EQ_U(argmax(row(c, nr - 1), 1024), GOLDEN0_GREEDY[0]);
    /* Context shift: drop positions 1..4 of sequence 0 and move the rest back. */
    CHECK_OK(llamette_seq_rm(c, 0, 1, 5));
    CHECK_OK(llamette_seq_add(c, 0, 5, -1, -4));
    CHECK_EQ_I(pos_max(c, 0), end0 - 4);
    CHECK_EQ_I(pos_min(c, 0), 0);
    CHECK_OK(llamette_seq_div(c, 0, -1, -1, 2));
    CHECK_EQ_I(pos_max(c, 0), (end0 - 4) / 2);
    LlametteBatchToken next = tok(7, (uint32_t)pos_max(c, 0) + 1, 0, true);
    CHECK_OK(llamette_decode(c, &next, 1));
    CHECK_STATUS(llamette_seq_div(c, 0, -1, -1, 0), LLAMETTE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(llamette_seq_rm(c, 2, -1, -1), LLAMETTE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(llamette_seq_cp(c, 0, -3, -1, -1), LLAMETTE_ERR_INVALID_ARGUMENT);
    int64_t p = 99;
    CHECK_STATUS(llamette_seq_pos_max(c, 2, &p), LLAMETTE_ERR_INVALID_ARGUMENT);
    CHECK_EQ_I(p, 99);
    CHECK_OK(llamette_seq_rm(c, -1, -1, -1));
    CHECK_EQ_I(pos_max(c, 0), -1);
    CHECK_EQ_I(pos_max(c, 1), -1);

    /* Prefix reuse on sequence 0. */
    CHECK_OK(llamette_eval(c, GOLDEN0_PROMPT, N0));
    uint32_t again[8];
    memcpy(again, GOLDEN0_PROMPT, sizeof again);
    again[6] = 100;
    size_t kept = 0;
    CHECK_OK(llamette_context_reuse_prefix(c, again, 8, &kept));
    CHECK_EQ_U(kept, 6);
    CHECK_EQ_U(llamette_context_n_past(c), 6);
    CHECK_STATUS(llamette_context_reuse_prefix(c, again, 8, NULL), LLAMETTE_ERR_NULL_ARGUMENT);
  }
  llamette_context_free(c);

  llamette_model_free(m);
  free(bytes);
  return test_end();
}
