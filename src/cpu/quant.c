/* Dequantisation on the CPU (spec §12).  The work is split into tasks of
 * one row chunk (ZK_CHUNK logical values) each, run through
 * zk_cpu_for_rows; every element is computed on its own, so the result
 * never depends on the thread count.  A chunk is walked in runs of values
 * that share a scale and zero point (a group, or the whole chunk), with
 * both as loop constants; the f32 operations are exactly the spec's (one
 * product, or one difference then one product), rounded once into y's
 * dtype on the store.
 *
 * Entry points follow the slots of src/api/quant.c. */
#include <stdint.h>
#include "cpu.h"

typedef struct quant_job {
  const zk_rows *x, *scale, *zp, *y; /* zp: NULL when absent */
  int64_t D;                         /* logical values per row */
  int64_t per_row;                   /* chunks per row */
  int64_t g;                         /* group_size */
  int is_signed, silu;
} quant_job;

/* The f32 scales (or zero points) of a chunk: one value for the whole
 * chunk (per tensor, per row, or a constant zero point), or one per group
 * the chunk touches. */
typedef struct chunk_param {
  const float *v;
  int per_group;
} chunk_param;

/* The values of s for logical values j..j+n-1 of row r, into dst.  s is a
 * flat row of all its elements; the count says the mode. */
static chunk_param load_param(const zk_rows *s, int64_t r, int64_t j, int64_t n, const quant_job *q, float *dst) {
  if (s->cols == 1 || q->g == 0) {
    zk_cpu_load(s, 0, s->cols == 1 ? 0 : r, 1, dst);
    return (chunk_param){dst, 0};
  }
  int64_t first = j / q->g, last = (j + n - 1) / q->g;
  zk_cpu_load(s, 0, r * (q->D / q->g) + first, last - first + 1, dst);
  return (chunk_param){dst, 1};
}

ZK_HOT static void int8_run(float *restrict y, const int8_t *restrict c, float s, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = (float)c[i] * s;
}

ZK_HOT static void int8_silu_run(float *restrict y, const int8_t *restrict c, float s, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) y[i] = zk_silu_f((float)c[i] * s);
}

/* Byte p holds values 2p (low nibble) and 2p + 1 (high nibble); n is even:
 * chunks start at even values and rows hold 2·Dp values.  Branch-free, so
 * the loop vectorizes. */
ZK_HOT static void int4_decode(float *restrict q, const uint8_t *restrict b, int64_t n, int is_signed) {
  float bias = is_signed ? 16.0f : 0.0f; /* signed: q = nibble - 16 for nibbles >= 8 */
#pragma omp simd
  for (int64_t p = 0; p < n / 2; p++) {
    int lo = b[p] & 15, hi = b[p] >> 4;
    q[2 * p] = (float)lo - bias * (float)(lo >> 3); /* exact */
    q[2 * p + 1] = (float)hi - bias * (float)(hi >> 3);
  }
}

ZK_HOT static void int4_run(float *restrict y, const float *restrict q, float s, float z, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = (q[i] - z) * s;
}

/* Scratch: y buffer, decoded int4 values, the chunk's scales and zero points. */
#define QUANT_SCRATCH (4 * ZK_CHUNK)

/* A chunk is walked in runs of values that share their scale and zero
 * point (groups, or the whole chunk), each run a loop with both as
 * constants: no per-value lookups. */
static void quant_task(int64_t task, float *scratch, const void *arg) {
  const quant_job *q = arg;
  int64_t r = task / q->per_row, j = (task % q->per_row) * ZK_CHUNK;
  int64_t n = q->D - j < ZK_CHUNK ? q->D - j : ZK_CHUNK;
  float *buf = scratch, *codes = scratch + ZK_CHUNK;
  chunk_param scale = load_param(q->scale, r, j, n, q, scratch + 2 * ZK_CHUNK);
  static const float no_zero_point = 0.0f;
  chunk_param zp = q->zp ? load_param(q->zp, r, j, n, q, scratch + 3 * ZK_CHUNK) : (chunk_param){&no_zero_point, 0};
  float *y = zk_cpu_target(q->y, r, j, buf);
  int is_int8 = q->x->dtype == ZK_I8;
  const int8_t *c8 = is_int8 ? (const int8_t *)zk_row_ptr(q->x, r, j) : NULL;
  if (!is_int8) int4_decode(codes, (const uint8_t *)zk_row_ptr(q->x, r, j / 2), n, q->is_signed);
  int grouped = scale.per_group || zp.per_group;
  for (int64_t at = 0, k = 0; at < n; k++) {
    int64_t end = grouped ? (j / q->g + k + 1) * q->g - j : n;
    if (end > n) end = n;
    float s = scale.v[scale.per_group ? k : 0], z = zp.v[zp.per_group ? k : 0];
    if (!is_int8) {
      int4_run(y + at, codes + at, s, z, end - at);
    } else {
      (q->silu ? int8_silu_run : int8_run)(y + at, c8 + at, s, end - at);
    }
    at = end;
  }
  zk_cpu_commit(q->y, r, j, n, y);
}

static zk_status run(zk_ctx *ctx, const zk_call *call, quant_job *q) {
  q->per_row = (q->D + ZK_CHUNK - 1) / ZK_CHUNK;
  int64_t width = q->D < ZK_CHUNK ? q->D : ZK_CHUNK;
  return zk_cpu_for_rows(ctx, call, q->x->rows * q->per_row, width, QUANT_SCRATCH, quant_task, q);
}

zk_status zk_cpu_dequantize_int8(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, dequantize_int8);
  quant_job q = {&a->t[0], &a->t[1], NULL, &a->t[2], a->t[0].cols, 0, a->i[0], 0, 0};
  return run(ctx, call, &q);
}

zk_status zk_cpu_dequantize_silu_int8(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, dequantize_silu_int8);
  quant_job q = {&a->t[0], &a->t[1], NULL, &a->t[2], a->t[0].cols, 0, a->i[0], 0, 1};
  return run(ctx, call, &q);
}

zk_status zk_cpu_dequantize_int4(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, dequantize_int4);
  quant_job q = {&a->t[0], &a->t[1], zk_present(&a->t[2]) ? &a->t[2] : NULL, &a->t[3], 2 * a->t[0].cols, 0, a->i[0],
                 (int)a->i[1], 0};
  return run(ctx, call, &q);
}
