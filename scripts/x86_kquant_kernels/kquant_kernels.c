// kquant_kernels.c: run llama.cpp's real x86 K-quant matrix-product kernels (Q2_K..Q6_K weights
// against Q8_K activations) on fixed pseudo-random inputs and write
// tests/fixtures/golden/x86-kquant-kernels.bin (format: tests/fixtures/golden/README.md).
//
// Built and driven by scripts/x86_kquant_kernels/make_golden.sh (see there). Links against a ggml
// build of llama.cpp 0c1e570 for x86-64 AVX2 (GGML_NATIVE=OFF, AVX AVX2 FMA F16C BMI2, no
// AVX512, no AVX-VNNI, no AMX), by default the libggml-base.so / libggml-cpu.so installed by
// llama-cpp-python 0.3.36, which is how the logits goldens were made.
//
// Two ways llama.cpp computes such a product (ggml-cpu.c ggml_compute_forward_mul_mat):
//   * the "tiled" kernels (ggml-cpu/tiled/), taken when the activations have >= 8 rows (and the
//     env var GGML_CPU_TILED_MM is unset or nonzero; GGML_CPU_TILED_MM_FORCE=1 takes it for any
//     row count);
//   * otherwise one ggml_vec_dot_qN_K_q8_K call (ggml-cpu/arch/x86/quants.c) per output.
// Both read the activations as Q8_K made by quantize_row_q8_K (= quantize_row_q8_K_ref on x86).
//
// Every input is generated here from a fixed seed with exact float arithmetic only (no libm), so
// each run, and each of the three processes below, sees the same bytes.
//
// Usage (the env var is read once per process, hence three runs):
//   GGML_CPU_TILED_MM=0       kquant_kernels graph > notiled.raw
//   GGML_CPU_TILED_MM_FORCE=1 kquant_kernels graph > forced.raw
//   (neither set)             kquant_kernels golden notiled.raw forced.raw > golden.bin
// "graph" writes, for every type and every batch size N, the N*M outputs of a real ggml_mul_mat
// graph (1 thread), f32, back to back. "golden" recomputes that graph with the default settings,
// calls the exported ggml_vec_dot_qN_K_q8_K directly, checks (exits 1 on any mismatch):
//   1. notiled graph == direct vec_dot, for every N (the vec_dot path of mul_mat);
//   2. default graph == direct vec_dot for N < 8;
//   3. default graph for N >= 8 == the same elements of the N = 17 default graph (the tiled result
//      of one output element does not depend on the batch size or on the narrow/standard tiling);
//   4. forced graph (tiled for every N) == the same elements of the N = 17 default graph;
// and writes the golden file. It also prints how many tiled outputs differ from vec_dot.

#include "ggml.h"
#include "ggml-cpu.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Exported by libggml-cpu.so but not declared in a public header.
void quantize_row_q8_K(const float * x, void * y, int64_t k);
typedef void (*vec_dot_fn)(int n, float * s, size_t bs, const void * vx, size_t bx, const void * vy, size_t by, int nrc);
void ggml_vec_dot_q2_K_q8_K(int n, float * s, size_t bs, const void * vx, size_t bx, const void * vy, size_t by, int nrc);
void ggml_vec_dot_q3_K_q8_K(int n, float * s, size_t bs, const void * vx, size_t bx, const void * vy, size_t by, int nrc);
void ggml_vec_dot_q4_K_q8_K(int n, float * s, size_t bs, const void * vx, size_t bx, const void * vy, size_t by, int nrc);
void ggml_vec_dot_q5_K_q8_K(int n, float * s, size_t bs, const void * vx, size_t bx, const void * vy, size_t by, int nrc);
void ggml_vec_dot_q6_K_q8_K(int n, float * s, size_t bs, const void * vx, size_t bx, const void * vy, size_t by, int nrc);

#define QK 256
#define K_ELEMS (6 * QK)   // 6 blocks per row: the narrow tiled path then uses k_extent 768 (num_k = 3)
#define M_ROWS 20          // weight rows: one full 16-row microtile plus a ragged one
#define N_ACT 17           // activation rows: 17 > 16 also exercises the standard (non-narrow) tiled path
#define Q8K_SIZE 292

static const int N_CASES[] = { 1, 2, 7, 8, 9, 16, 17 };
#define N_N ((int) (sizeof(N_CASES) / sizeof(N_CASES[0])))

struct kq_type {
    enum ggml_type type;
    const char * name;
    size_t block_size;
    int d_off;     // byte offset of the f16 d in a block
    int dmin_off;  // byte offset of the f16 dmin, -1 if none
    vec_dot_fn dot;
};

static const struct kq_type TYPES[] = {
    { GGML_TYPE_Q2_K, "Q2_K",  84,  80,  82, ggml_vec_dot_q2_K_q8_K },
    { GGML_TYPE_Q3_K, "Q3_K", 110, 108,  -1, ggml_vec_dot_q3_K_q8_K },
    { GGML_TYPE_Q4_K, "Q4_K", 144,   0,   2, ggml_vec_dot_q4_K_q8_K },
    { GGML_TYPE_Q5_K, "Q5_K", 176,   0,   2, ggml_vec_dot_q5_K_q8_K },
    { GGML_TYPE_Q6_K, "Q6_K", 210, 208,  -1, ggml_vec_dot_q6_K_q8_K },
};
#define N_TYPES ((int) (sizeof(TYPES) / sizeof(TYPES[0])))

// ---------------------------------------------------------------------------------------------
// Deterministic inputs

static uint64_t rng_state;

static uint64_t rng_u64(void) { // splitmix64
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// uniform in [0, 1), exactly k * 2^-24
static float rng_unit(void) { return (float) (rng_u64() >> 40) * (1.0f / 16777216.0f); }

// roughly normal (Irwin-Hall of 4), mean 0, in (-2, 2)
static float rng_bell(void) { return rng_unit() + rng_unit() + rng_unit() + rng_unit() - 2.0f; }

// activation row r, element i
static void make_activations(float * x) {
    static const float row_scale[N_ACT] = {
        1.0f, 0.01f, 100.0f, 3.0f, 0.5f, 0.037f, 12.5f, 1.0f, 0.2f,
        7.0f, 0.003f, 1.5f, 40.0f, 0.8f, 2.0f, 0.06f, 5.0f,
    };
    for (int r = 0; r < N_ACT; r++) {
        for (int i = 0; i < K_ELEMS; i++) {
            float v = rng_bell() * row_scale[r];
            if (rng_u64() % 61 == 0) {
                v *= 9.0f; // a few outliers
            }
            x[r * K_ELEMS + i] = v;
        }
    }
}

// a nonzero scale: +-(1 + u) * 2^-e, e in [4, 13]
static float rng_scale(int allow_negative) {
    static const float pow2[] = { 1.0f / 16, 1.0f / 32, 1.0f / 64, 1.0f / 128, 1.0f / 256, 1.0f / 512,
                                  1.0f / 1024, 1.0f / 2048, 1.0f / 4096, 1.0f / 8192 };
    float v = (1.0f + rng_unit()) * pow2[rng_u64() % 10];
    if (allow_negative && rng_u64() % 5 == 0) {
        v = -v;
    }
    return v;
}

static void put_f16(uint8_t * p, float v) {
    const ggml_fp16_t h = ggml_fp32_to_fp16(v);
    memcpy(p, &h, 2);
}

// weight rows of type t: even rows are random bytes (every bit pattern of scales/quants, e.g.
// Q6_K scale -128) with a random f16 d (and dmin); odd rows come from ggml's own quantizer
// (ggml_quantize_chunk, no imatrix) applied to bell-shaped floats.
static void make_weights(const struct kq_type * t, uint8_t * w) {
    const int nb = K_ELEMS / QK;
    const size_t row_bytes = nb * t->block_size;
    float * f = malloc(K_ELEMS * sizeof(float));
    for (int m = 0; m < M_ROWS; m++) {
        uint8_t * row = w + m * row_bytes;
        if (m % 2 == 0) {
            for (size_t i = 0; i < row_bytes; i++) {
                row[i] = (uint8_t) (rng_u64() >> 56);
            }
            for (int b = 0; b < nb; b++) {
                uint8_t * blk = row + b * t->block_size;
                put_f16(blk + t->d_off, rng_scale(1));
                if (t->dmin_off >= 0) {
                    put_f16(blk + t->dmin_off, rng_scale(1));
                }
            }
        } else {
            const float s = rng_scale(0) * 64.0f;
            for (int i = 0; i < K_ELEMS; i++) {
                f[i] = rng_bell() * s;
            }
            ggml_quantize_chunk(t->type, f, row, 0, 1, K_ELEMS, NULL);
        }
    }
    free(f);
}

// ---------------------------------------------------------------------------------------------
// ggml_mul_mat through the public graph API, 1 thread: out[n * M_ROWS + m]

static void run_graph(const struct kq_type * t, const uint8_t * w, const float * act, int n_act, float * out) {
    struct ggml_init_params ip = { /*.mem_size =*/ 64u << 20, /*.mem_buffer =*/ NULL, /*.no_alloc =*/ false };
    struct ggml_context * ctx = ggml_init(ip);
    struct ggml_tensor * a = ggml_new_tensor_2d(ctx, t->type, K_ELEMS, M_ROWS);
    struct ggml_tensor * b = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, K_ELEMS, n_act);
    memcpy(a->data, w, ggml_nbytes(a));
    memcpy(b->data, act, ggml_nbytes(b));
    struct ggml_tensor * c = ggml_mul_mat(ctx, a, b);
    struct ggml_cgraph * gf = ggml_new_graph(ctx);
    ggml_build_forward_expand(gf, c);
    if (ggml_graph_compute_with_ctx(ctx, gf, 1) != GGML_STATUS_SUCCESS) {
        fprintf(stderr, "graph compute failed\n");
        exit(1);
    }
    if (c->ne[0] != M_ROWS || c->ne[1] != n_act || c->nb[1] != M_ROWS * sizeof(float)) {
        fprintf(stderr, "unexpected dst shape\n");
        exit(1);
    }
    memcpy(out, c->data, (size_t) M_ROWS * n_act * sizeof(float));
    ggml_free(ctx);
}

// all inputs, in generation order
static float act[N_ACT * K_ELEMS];
static uint8_t * weights[N_TYPES];

static void make_inputs(void) {
    rng_state = 0x6c6c616d65747465ULL; // "llamette"
    make_activations(act);
    for (int ti = 0; ti < N_TYPES; ti++) {
        weights[ti] = malloc((size_t) M_ROWS * (K_ELEMS / QK) * TYPES[ti].block_size);
        make_weights(&TYPES[ti], weights[ti]);
    }
}

static size_t graph_floats(void) {
    size_t n = 0;
    for (int c = 0; c < N_N; c++) {
        n += (size_t) N_CASES[c] * M_ROWS;
    }
    return n * N_TYPES;
}

// all graph outputs: per type, per N, N*M floats
static void run_all_graphs(float * out) {
    for (int ti = 0; ti < N_TYPES; ti++) {
        for (int c = 0; c < N_N; c++) {
            run_graph(&TYPES[ti], weights[ti], act, N_CASES[c], out);
            out += (size_t) N_CASES[c] * M_ROWS;
        }
    }
}

static void write_exact(const void * p, size_t n) {
    if (fwrite(p, 1, n, stdout) != n) { fprintf(stderr, "short write\n"); exit(1); }
}

static void write_u32(uint32_t v) { write_exact(&v, 4); }

static float * read_raw(const char * path, size_t n) {
    FILE * f = fopen(path, "rb");
    if (!f) { perror(path); exit(1); }
    float * p = malloc(n * sizeof(float));
    if (fread(p, sizeof(float), n, f) != n || fgetc(f) != EOF) {
        fprintf(stderr, "%s: wrong size\n", path);
        exit(1);
    }
    fclose(f);
    return p;
}

static int same_bits(float a, float b) { return memcmp(&a, &b, 4) == 0; }

int main(int argc, char ** argv) {
    if (sizeof(float) != 4 || ggml_type_size(GGML_TYPE_Q8_K) != Q8K_SIZE) {
        fprintf(stderr, "unexpected type sizes\n");
        return 1;
    }
    for (int ti = 0; ti < N_TYPES; ti++) {
        if (ggml_type_size(TYPES[ti].type) != TYPES[ti].block_size) {
            fprintf(stderr, "%s: block size mismatch\n", TYPES[ti].name);
            return 1;
        }
    }
    ggml_cpu_init();
    make_inputs();
    const size_t n_graph = graph_floats();

    if (argc == 2 && strcmp(argv[1], "graph") == 0) {
        float * out = malloc(n_graph * sizeof(float));
        run_all_graphs(out);
        write_exact(out, n_graph * sizeof(float));
        return 0;
    }
    if (!(argc == 4 && strcmp(argv[1], "golden") == 0)) {
        fprintf(stderr, "usage: %s graph | golden NOTILED.raw FORCED.raw\n", argv[0]);
        return 2;
    }
    if (getenv("GGML_CPU_TILED_MM") || getenv("GGML_CPU_TILED_MM_FORCE")) {
        fprintf(stderr, "golden: run with GGML_CPU_TILED_MM and GGML_CPU_TILED_MM_FORCE unset\n");
        return 2;
    }
    const float * notiled = read_raw(argv[2], n_graph);
    const float * forced = read_raw(argv[3], n_graph);
    float * deflt = malloc(n_graph * sizeof(float));
    run_all_graphs(deflt);

    const int nb = K_ELEMS / QK;
    uint8_t * q8 = malloc((size_t) N_ACT * nb * Q8K_SIZE);
    for (int r = 0; r < N_ACT; r++) {
        quantize_row_q8_K(act + r * K_ELEMS, q8 + (size_t) r * nb * Q8K_SIZE, K_ELEMS);
    }

    int bad = 0;
    float * vec = malloc((size_t) N_TYPES * N_ACT * M_ROWS * sizeof(float));
    size_t off = 0;
    for (int ti = 0; ti < N_TYPES; ti++) {
        const struct kq_type * t = &TYPES[ti];
        float * v = vec + (size_t) ti * N_ACT * M_ROWS;
        for (int n = 0; n < N_ACT; n++) {
            for (int m = 0; m < M_ROWS; m++) {
                t->dot(K_ELEMS, &v[n * M_ROWS + m], 0, weights[ti] + (size_t) m * nb * t->block_size, 0,
                       q8 + (size_t) n * nb * Q8K_SIZE, 0, 1);
            }
        }
        // the N = 17 default graph (tiled) is the last case of this type
        size_t off17 = off;
        for (int c = 0; c < N_N - 1; c++) {
            off17 += (size_t) N_CASES[c] * M_ROWS;
        }
        int n_diff = 0;
        for (int c = 0; c < N_N; c++) {
            const int N = N_CASES[c];
            for (int i = 0; i < N * M_ROWS; i++) {
                const float tiled = deflt[off17 + i];
                if (!same_bits(notiled[off + i], v[i])) {
                    fprintf(stderr, "%s N=%d i=%d: GGML_CPU_TILED_MM=0 graph %a != vec_dot %a\n", t->name, N, i, notiled[off + i], v[i]);
                    bad = 1;
                }
                if (N < 8 && !same_bits(deflt[off + i], v[i])) {
                    fprintf(stderr, "%s N=%d i=%d: default graph %a != vec_dot %a\n", t->name, N, i, deflt[off + i], v[i]);
                    bad = 1;
                }
                if (N >= 8 && !same_bits(deflt[off + i], tiled)) {
                    fprintf(stderr, "%s N=%d i=%d: default graph %a != N=17 graph %a\n", t->name, N, i, deflt[off + i], tiled);
                    bad = 1;
                }
                if (!same_bits(forced[off + i], tiled)) {
                    fprintf(stderr, "%s N=%d i=%d: forced-tiled graph %a != N=17 graph %a\n", t->name, N, i, forced[off + i], tiled);
                    bad = 1;
                }
            }
            off += (size_t) N * M_ROWS;
        }
        for (int i = 0; i < N_ACT * M_ROWS; i++) {
            n_diff += !same_bits(deflt[off17 + i], v[i]);
        }
        fprintf(stderr, "%s: tiled differs from vec_dot in %d of %d outputs\n", t->name, n_diff, N_ACT * M_ROWS);
    }
    if (bad) {
        fprintf(stderr, "checks FAILED, nothing written\n");
        return 1;
    }

    // golden file
    write_exact("LMKQX861", 8);
    write_u32(1);        // version
    write_u32(K_ELEMS);
    write_u32(M_ROWS);
    write_u32(N_ACT);
    write_u32(N_TYPES);
    write_u32(N_N);
    for (int c = 0; c < N_N; c++) {
        write_u32((uint32_t) N_CASES[c]);
    }
    write_exact(act, sizeof(act));
    write_exact(q8, (size_t) N_ACT * nb * Q8K_SIZE);
    off = 0;
    for (int ti = 0; ti < N_TYPES; ti++) {
        const struct kq_type * t = &TYPES[ti];
        write_u32((uint32_t) t->type);
        write_u32((uint32_t) t->block_size);
        write_exact(weights[ti], (size_t) M_ROWS * nb * t->block_size);
        write_exact(vec + (size_t) ti * N_ACT * M_ROWS, (size_t) N_ACT * M_ROWS * sizeof(float));
        for (int c = 0; c < N_N; c++) {
            write_exact(deflt + off, (size_t) N_CASES[c] * M_ROWS * sizeof(float));
            off += (size_t) N_CASES[c] * M_ROWS;
        }
    }
    fprintf(stderr, "all checks passed\n");
    return 0;
}
