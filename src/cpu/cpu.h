/* The CPU backend's shared machinery: dtype loads and stores of whole row
 * chunks, parallel drivers over elements and rows, parameter vectors in
 * f32, and fixed-partition column sums for parameter gradients.
 *
 * Kernels compute in f32 on row chunks: a chunk of an f32 tensor is used in
 * place, a chunk of an f16/bf16 tensor is converted into a buffer first (one
 * dtype switch per chunk, never per element).  Hot loops are compiled for
 * AVX-512, AVX2 and baseline x86-64 and picked at load time (ZK_HOT). */
#ifndef ZK_CPU_CPU_H
#define ZK_CPU_CPU_H

#include "../core/internal.h"
#include "../core/dtype.h"
#include "../common/zk_math.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(ZK_NO_CLONES)
#define ZK_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define ZK_HOT
#endif

/* Loops with an intrinsics version behind a run-time CPU check (F16C
 * conversions, AVX streaming stores, topk's AVX-512 candidate pass) where
 * x86-64 gcc allows.  -DZK_PORTABLE leaves them out: the sanitizer build
 * of CI sets it, so that its pass runs the portable fallbacks, which the
 * CPUs CI runs on would otherwise never take. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(ZK_PORTABLE)
#define ZK_INTRINSICS 1
#include <immintrin.h>
#else
#define ZK_INTRINSICS 0
#endif

/* Elements per chunk: a few chunks of f32 fit in L1 together. */
#define ZK_CHUNK 2048

static inline char *zk_row_ptr(const zk_rows *t, int64_t r, int64_t j) {
  return (char *)t->data + (r * t->stride + j) * (int64_t)zk_dtype_size(t->dtype);
}

/* Converts n elements of row r from column j into dst (f32). */
void zk_cpu_load(const zk_rows *t, int64_t r, int64_t j, int64_t n, float *dst);
/* Rounds n f32 values into row r from column j. */
void zk_cpu_store(const zk_rows *t, int64_t r, int64_t j, int64_t n, const float *src);
/* f32 view of n elements of row r from column j: the tensor's own memory
 * when it is f32, else buf filled by zk_cpu_load. */
const float *zk_cpu_view(const zk_rows *t, int64_t r, int64_t j, int64_t n, float *buf);
/* Where to write n f32 results for row r, column j: the tensor itself when
 * it is f32, else buf (then call zk_cpu_commit). */
float *zk_cpu_target(const zk_rows *t, int64_t r, int64_t j, float *buf);
void zk_cpu_commit(const zk_rows *t, int64_t r, int64_t j, int64_t n, const float *target);
/* Rounds k·src[i] (one f32 product each) into n elements of row r from
 * column j: a scale and zk_cpu_store without an f32 row between them for
 * bf16 and f32 (src may be the row itself); f16 scales into buf (n floats,
 * src allowed) first. */
void zk_cpu_store_scaled(const zk_rows *t, int64_t r, int64_t j, int64_t n, const float *src, float k,
                         float *buf);

/* Elementwise driver.  All views share rows × cols; fn gets f32 chunks of
 * every input and output, and flat0 = logical row-major index of the first
 * element (for dropout's counter).  fn must read element i of every input
 * before writing element i of any output (so exact aliases work). */
typedef void (*zk_map_fn)(float *const *out, const float *const *in, int64_t n, uint64_t flat0,
                          const void *params);
#define ZK_MAP_MAX 4
void zk_cpu_map(zk_ctx *ctx, int n_out, const zk_rows *out, int n_in, const zk_rows *in, zk_map_fn fn,
                const void *params);

/* Row driver: fn(r, scratch, arg) for every row r < rows, in parallel;
 * scratch is this thread's scratch_floats floats.  Fails (ZK_ERR_OOM)
 * before any row runs when scratch cannot be had. */
typedef void (*zk_row_fn)(int64_t r, float *scratch, const void *arg);
zk_status zk_cpu_for_rows(zk_ctx *ctx, const zk_call *call, int64_t rows, int64_t cols,
                          int64_t scratch_floats, zk_row_fn fn, const void *arg);

/* A [D] parameter vector converted to f32 in fresh memory (free() it);
 * NULL when out of memory.  An absent parameter gives NULL too: check
 * zk_present() first. */
float *zk_cpu_param_f32(const zk_rows *p);

/* Row-block driver for kernels that also sum over rows (dweight, dbias):
 * the row blocks depend on rows and cols only, never on the thread count,
 * and the partial sums are combined in block order.  fn(r0, r1, scratch,
 * partials, arg) handles rows [r0, r1) and adds its column sums into
 * partials (n_sums vectors of cols floats, zeroed before); afterwards each
 * sum vector k is reduced over blocks in order into sums[k] (cols floats).
 * Allocates its scratch and partials up front (ZK_ERR_OOM otherwise). */
typedef void (*zk_block_fn)(int64_t r0, int64_t r1, float *scratch, float *partials, const void *arg);
zk_status zk_cpu_for_row_blocks(zk_ctx *ctx, const zk_call *call, int64_t rows, int64_t cols,
                                int64_t scratch_floats, int n_sums, zk_block_fn fn, const void *arg,
                                float **sums);

/* A call to an op from a backend entry point (for messages). */
#define ZK_CPU_CALL(ctx, opname) \
  zk_call call_ = {ctx, "zk_" #opname}; \
  const zk_call *call = &call_

#endif

/* ------------------------------------------------ row primitives (f32)
 * Fixed-order reductions: 16 lanes, then a fixed tree; the order depends
 * on n only, so results never depend on threads. */
float zk_cpu_sum(const float *v, int64_t n);
float zk_cpu_dot(const float *a, const float *b, int64_t n);
float zk_cpu_max(const float *v, int64_t n);  /* NaN if any NaN; -Inf for n = 0 */
/* Long-row sums: f(v, n, arg) over blocks of ZK_PAIRWISE_BLOCK elements, the
 * block results added in a pairwise tree.  The order depends on n only and
 * the error grows with log n instead of n/16.  zk_cpu_sum_pairwise is
 * Σ v this way. */
#define ZK_PAIRWISE_BLOCK 1024
typedef float (*zk_block_sum_fn)(const float *v, int64_t n, const void *arg);
float zk_cpu_pairwise(zk_block_sum_fn f, const float *v, int64_t n, const void *arg);
float zk_cpu_sum_pairwise(const float *v, int64_t n);
/* The k (<= 64) best zk_rank_keys of v[0 .. n), descending, into best:
 * topk_lastdim's selection (src/cpu/reductions.c: a floor filter whose
 * candidates go to cand, room for cap keys), also the MoE gating's. */
void zk_cpu_topk_keys(const float *v, int64_t n, int64_t k, uint64_t *best, uint64_t *cand, int64_t cap);
/* v[i] = f32 -> dtype -> f32 (what storing v into dtype keeps). */
void zk_cpu_round_trip(zk_dtype t, float *v, int64_t n);
/* keep[i] = 1 when element first + i of the dropout stream is kept. */
void zk_cpu_dropout_keep(const zk_dropout_cfg *d, uint64_t first, int64_t n, uint8_t *keep);
