// ggml_quant_ref.c: run llama.cpp's (ggml's) reference quantizers / dequantizers on raw data.
//
// Built and driven by scripts/make_quant_goldens.sh (see there); links against
// ggml/src/ggml-quants.c of llama.cpp 0c1e570 compiled with plain gcc (no ggml library build).
// When compiled with -DWITH_GGML_CPU_X86 (plus -mavx2 -mfma -mf16c and the object of
// ggml/src/ggml-cpu/arch/x86/quants.c) it can also run ggml-cpu's x86 SIMD quantizers, the ones
// the CPU backend really uses for activations.
//
// Usage:
//   ggml_quant_ref quant [ref|cpu] [FILL] < rows.bin > out.bin
//       rows.bin: u32 n_rows, then per row: u32 n (multiple of 256), f32[n]   (little-endian)
//       out.bin:  per row, concatenated: q8_0 blocks (n/32 * 34 bytes), q8_1 blocks
//                 (n/32 * 36 bytes), q8_K blocks (n/256 * 292 bytes)
//       "ref" (default) calls quantize_row_q8_0_ref / _q8_1_ref / _q8_K_ref (ggml-quants.c);
//       "cpu" calls ggml-cpu's quantize_row_q8_0 / _q8_1 / _q8_K (arch/x86/quants.c).
//       FILL (default 170 = 0xAA): byte the output buffers hold before the call; bytes the
//       quantizer leaves unwritten keep it (q8_K leaves bsums unwritten for an all-zero block).
//   ggml_quant_ref dequant TYPE N < blocks.bin > out.f32
//       TYPE one of F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K Q4_K Q5_K Q6_K;
//       N elements; reads the raw tensor bytes, writes N little-endian f32 from ggml's
//       dequantize_row_* (ggml-quants.c) / GGML_FP16_TO_FP32 / GGML_BF16_TO_FP32.

#include "ggml-quants.h"
#include "ggml-impl.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(block_q8_0) == 34, "q8_0 block");
_Static_assert(sizeof(block_q8_1) == 36, "q8_1 block");
_Static_assert(sizeof(block_q8_K) == 292, "q8_K block");

// ggml-quants.c references these ggml.c functions (only from paths we never call).
void ggml_abort(const char * file, int line, const char * fmt, ...) {
    fprintf(stderr, "ggml_abort at %s:%d (%s)\n", file, line, fmt);
    abort();
}
size_t ggml_row_size(enum ggml_type type, int64_t ne) { (void) type; (void) ne; abort(); }
const char * ggml_type_name(enum ggml_type type) { (void) type; abort(); }
size_t ggml_type_size(enum ggml_type type) { (void) type; abort(); }

#ifdef WITH_GGML_CPU_X86
// Defined in ggml-cpu.c; referenced (but not used by the q8 quantizers) in arch/x86/quants.c.
float ggml_table_f32_f16[1 << 16];
float ggml_table_f32_e8m0_half[1 << 8];
float ggml_table_f32_ue4m3[1 << 8];
void quantize_row_q8_0(const float * GGML_RESTRICT x, void * GGML_RESTRICT y, int64_t k);
void quantize_row_q8_1(const float * GGML_RESTRICT x, void * GGML_RESTRICT y, int64_t k);
void quantize_row_q8_K(const float * GGML_RESTRICT x, void * GGML_RESTRICT y, int64_t k);
#endif

static void read_exact(void * p, size_t n) {
    if (fread(p, 1, n, stdin) != n) { fprintf(stderr, "short read\n"); exit(1); }
}

static void write_exact(const void * p, size_t n) {
    if (fwrite(p, 1, n, stdout) != n) { fprintf(stderr, "short write\n"); exit(1); }
}

static int do_quant(int use_cpu, int fill) {
#ifndef WITH_GGML_CPU_X86
    if (use_cpu) { fprintf(stderr, "built without WITH_GGML_CPU_X86\n"); return 2; }
#endif
    uint32_t n_rows;
    read_exact(&n_rows, 4);
    for (uint32_t r = 0; r < n_rows; r++) {
        uint32_t n;
        read_exact(&n, 4);
        if (n == 0 || n % QK_K != 0) { fprintf(stderr, "row %u: n=%u not a multiple of 256\n", r, n); return 1; }
        float * x = malloc((size_t) n * sizeof(float));
        block_q8_0 * y0 = malloc((size_t) n / QK8_0 * sizeof(block_q8_0));
        block_q8_1 * y1 = malloc((size_t) n / QK8_1 * sizeof(block_q8_1));
        block_q8_K * yk = malloc((size_t) n / QK_K * sizeof(block_q8_K));
        read_exact(x, (size_t) n * sizeof(float));
        memset(y0, fill, (size_t) n / QK8_0 * sizeof(block_q8_0));
        memset(y1, fill, (size_t) n / QK8_1 * sizeof(block_q8_1));
        memset(yk, fill, (size_t) n / QK_K * sizeof(block_q8_K));
        if (!use_cpu) {
            quantize_row_q8_0_ref(x, y0, n);
            quantize_row_q8_1_ref(x, y1, n);
            quantize_row_q8_K_ref(x, yk, n);
        }
#ifdef WITH_GGML_CPU_X86
        else {
            quantize_row_q8_0(x, y0, n);
            quantize_row_q8_1(x, y1, n);
            quantize_row_q8_K(x, yk, n);
        }
#endif
        write_exact(y0, (size_t) n / QK8_0 * sizeof(block_q8_0));
        write_exact(y1, (size_t) n / QK8_1 * sizeof(block_q8_1));
        write_exact(yk, (size_t) n / QK_K * sizeof(block_q8_K));
        free(x); free(y0); free(y1); free(yk);
    }
    return 0;
}

static int do_dequant(const char * type, int64_t n) {
    struct { const char * name; int blck; size_t size; void (*fn)(const void *, float *, int64_t); } T[] = {
        {"Q4_0", QK4_0, sizeof(block_q4_0), (void (*)(const void *, float *, int64_t)) dequantize_row_q4_0},
        {"Q4_1", QK4_1, sizeof(block_q4_1), (void (*)(const void *, float *, int64_t)) dequantize_row_q4_1},
        {"Q5_0", QK5_0, sizeof(block_q5_0), (void (*)(const void *, float *, int64_t)) dequantize_row_q5_0},
        {"Q5_1", QK5_1, sizeof(block_q5_1), (void (*)(const void *, float *, int64_t)) dequantize_row_q5_1},
        {"Q8_0", QK8_0, sizeof(block_q8_0), (void (*)(const void *, float *, int64_t)) dequantize_row_q8_0},
        {"Q2_K", QK_K,  sizeof(block_q2_K), (void (*)(const void *, float *, int64_t)) dequantize_row_q2_K},
        {"Q3_K", QK_K,  sizeof(block_q3_K), (void (*)(const void *, float *, int64_t)) dequantize_row_q3_K},
        {"Q4_K", QK_K,  sizeof(block_q4_K), (void (*)(const void *, float *, int64_t)) dequantize_row_q4_K},
        {"Q5_K", QK_K,  sizeof(block_q5_K), (void (*)(const void *, float *, int64_t)) dequantize_row_q5_K},
        {"Q6_K", QK_K,  sizeof(block_q6_K), (void (*)(const void *, float *, int64_t)) dequantize_row_q6_K},
        {"F32", 1, 4, NULL}, {"F16", 1, 2, NULL}, {"BF16", 1, 2, NULL},
    };
    for (size_t t = 0; t < sizeof(T) / sizeof(T[0]); t++) {
        if (strcmp(type, T[t].name) != 0) continue;
        if (n <= 0 || n % T[t].blck != 0) { fprintf(stderr, "bad n\n"); return 1; }
        size_t nbytes = (size_t) (n / T[t].blck) * T[t].size;
        uint8_t * src = malloc(nbytes);
        float * dst = malloc((size_t) n * sizeof(float));
        read_exact(src, nbytes);
        if (T[t].fn) {
            T[t].fn(src, dst, n);
        } else if (!strcmp(type, "F32")) {
            memcpy(dst, src, nbytes);
        } else if (!strcmp(type, "F16")) {
            for (int64_t i = 0; i < n; i++) { ggml_fp16_t h; memcpy(&h, src + 2 * i, 2); dst[i] = GGML_FP16_TO_FP32(h); }
        } else {
            for (int64_t i = 0; i < n; i++) { ggml_bf16_t h; memcpy(&h.bits, src + 2 * i, 2); dst[i] = GGML_BF16_TO_FP32(h); }
        }
        write_exact(dst, (size_t) n * sizeof(float));
        free(src); free(dst);
        return 0;
    }
    fprintf(stderr, "unsupported type %s\n", type);
    return 1;
}

int main(int argc, char ** argv) {
    if (argc >= 2 && !strcmp(argv[1], "quant")) {
        int use_cpu = argc >= 3 && !strcmp(argv[2], "cpu");
        int fill = argc >= 4 ? atoi(argv[3]) & 0xFF : 0xAA;
        return do_quant(use_cpu, fill);
    }
    if (argc == 4 && !strcmp(argv[1], "dequant")) {
        return do_dequant(argv[2], strtoll(argv[3], NULL, 10));
    }
    fprintf(stderr, "usage: %s quant [ref|cpu] [FILL] < rows.bin > out.bin\n"
                    "       %s dequant TYPE N < blocks.bin > out.f32\n", argv[0], argv[0]);
    return 2;
}
