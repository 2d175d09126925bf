/* Dequantisation on the CPU (spec §12).  The work is split into tasks of
 * one row chunk (ZK_CHUNK logical values) each, run through
 * zk_cpu_for_rows; every element is computed on its own, so the result
 * never depends on the thread count.  A chunk first expands its scales
 * (and zero points) to one f32 per value, which keeps the hot loops
 * branch-free and vectorizable whatever the grouping mode; the f32
 * operations are exactly the spec's (one product, or one difference then
 * one product), rounded once into y's dtype on the store.
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

/* dst[0..n) = the f32 scale (or zero point) of logical values j..j+n-1 of
 * row r.  s is a flat row of all its elements; the count says the mode. */
static void expand(const zk_rows *s, int64_t r, int64_t j, int64_t n, int64_t D, int64_t g, float *tmp, float *dst) {
  if (s->cols == 1 || g == 0) {
    float v;
    zk_cpu_load(s, 0, s->cols == 1 ? 0 : r, 1, &v);
    for (int64_t i = 0; i < n; i++) dst[i] = v;
    return;
  }
  int64_t first = j / g, last = (j + n - 1) / g, base = r * (D / g);
  zk_cpu_load(s, 0, base + first, last - first + 1, tmp);
  for (int64_t i = 0; i < n; i++) dst[i] = tmp[(j + i) / g - first];
}

ZK_HOT static void int8_chunk(float *restrict y, const int8_t *restrict q, const float *restrict s, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = (float)q[i] * s[i];
}

ZK_HOT static void int8_silu_chunk(float *restrict y, const int8_t *restrict q, const float *restrict s, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) y[i] = zk_silu_f((float)q[i] * s[i]);
}

/* Byte p holds values 2p (low nibble) and 2p + 1 (high nibble); n is even:
 * chunks start at even values and rows hold 2·Dp values.  Branch-free, so
 * the loop vectorizes. */
ZK_HOT static void int4_chunk(float *restrict y, const uint8_t *restrict b, const float *restrict s,
                              const float *restrict z, int64_t n, int is_signed) {
  float bias = is_signed ? 16.0f : 0.0f; /* signed: q = nibble - 16 for nibbles >= 8 */
#pragma omp simd
  for (int64_t p = 0; p < n / 2; p++) {
    int lo = b[p] & 15, hi = b[p] >> 4;
    float qlo = (float)lo - bias * (float)(lo >> 3), qhi = (float)hi - bias * (float)(hi >> 3); /* exact */
    y[2 * p] = (qlo - z[2 * p]) * s[2 * p];
    y[2 * p + 1] = (qhi - z[2 * p + 1]) * s[2 * p + 1];
  }
}

/* Scratch: y buffer, expanded scales, expanded zero points, group values. */
#define QUANT_SCRATCH (4 * ZK_CHUNK)

static void quant_task(int64_t task, float *scratch, const void *arg) {
  const quant_job *q = arg;
  int64_t r = task / q->per_row, j = (task % q->per_row) * ZK_CHUNK;
  int64_t n = q->D - j < ZK_CHUNK ? q->D - j : ZK_CHUNK;
  float *buf = scratch, *s = scratch + ZK_CHUNK, *z = scratch + 2 * ZK_CHUNK, *tmp = scratch + 3 * ZK_CHUNK;
  expand(q->scale, r, j, n, q->D, q->g, tmp, s);
  float *y = zk_cpu_target(q->y, r, j, buf);
  if (q->x->dtype == ZK_I8) {
    const int8_t *codes = (const int8_t *)zk_row_ptr(q->x, r, j);
    (q->silu ? int8_silu_chunk : int8_chunk)(y, codes, s, n);
  } else {
    if (q->zp) {
      expand(q->zp, r, j, n, q->D, q->g, tmp, z);
    } else {
      for (int64_t i = 0; i < n; i++) z[i] = 0.0f;
    }
    int4_chunk(y, (const uint8_t *)zk_row_ptr(q->x, r, j / 2), s, z, n, q->is_signed);
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
