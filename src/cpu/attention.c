/* Attention on the CPU (spec §6).
 *
 * The row ops run one row per task through zk_cpu_for_rows, on f32 views
 * (an f32 row in place, an f16/bf16 row converted once into scratch; the
 * masked softmaxes convert a piece at a time into their scores and round
 * their outputs straight into the tensor), with the softmax family's
 * exponential sums (src/cpu/softmax.h) run chunk by chunk so that the next
 * row is prefetched meanwhile; the masked softmax grads are that family's
 * VJP with a scale.  Masked entries are replaced by -Inf with a select
 * before any arithmetic sees them, so a NaN under the mask never reaches
 * the max or the sum, and e^(-Inf - m) gives the exact zeros.
 *
 * paged_attention runs one task per sequence and group of KV heads: the
 * task reads each block's K and V rows once (in place for f32, converted
 * once for 16-bit caches), each KV head's rows serving the G query heads
 * that share them, four at a time, with an online softmax over the blocks
 * in table order (running max, rescaled sum and accumulator), so any
 * context length works and the result depends on the shapes only.  Index
 * inputs are scanned before anything is written (ZK_ERR_INDEX). */
#include <inttypes.h>
#include <math.h>
#include "softmax.h"

/* Scratch offsets stay 64-byte aligned. */
static inline int64_t padded(int64_t n) { return (n + 15) & ~(int64_t)15; }

ZK_HOT static void fill_row(float *y, int64_t n, float v) {
  for (int64_t j = 0; j < n; j++) y[j] = v;
}

ZK_HOT static void scale_into(float *y, const float *e, float k, int64_t n) {
  for (int64_t j = 0; j < n; j++) y[j] = e[j] * k;
}

/* Fixed-order 16-lane sums, folded in a fixed tree that gcc keeps in
 * vector registers. */
#define LANES 16

static inline float fold_lanes(const float *a) {
  float h[8], q[4];
  for (int l = 0; l < 8; l++) h[l] = a[l] + a[l + 8];
  for (int l = 0; l < 4; l++) q[l] = h[l] + h[l + 4];
  return (q[0] + q[2]) + (q[1] + q[3]);
}

/* ------------------------------------------------------ row exponentials
 * The row ops are bound by the exponential, not by DRAM: a row (16 KB of
 * f32 at D = 4096) stays in L1/L2 between its passes.  What the exp pass can
 * hide is the next row's DRAM traffic, so it runs in chunks and, after
 * each chunk, prefetches the same columns of the next row (as the softmax
 * family does).  Each chunk is summed in a fixed 16-lane order and the
 * chunk sums by zk_cpu_sum: a fixed order, accurate for long rows. */

#define EXP_CHUNK 512

/* Row r + 1 of up to two tensors (read and written by this row's op). */
typedef struct next_row {
  const zk_rows *in, *out; /* out may be NULL */
  int64_t r;               /* past the last row: nothing to prefetch */
} next_row;

static void prefetch_next(const next_row *next, int64_t j, int64_t k) {
#if defined(__GNUC__)
  if (next->r >= next->in->rows) return;
  int64_t elem = zk_dtype_size(next->in->dtype);
  const char *in = zk_row_ptr(next->in, next->r, j), *out = next->out ? zk_row_ptr(next->out, next->r, j) : NULL;
  for (int64_t b = 0; b < k * elem; b += 64) {
    __builtin_prefetch(in + b, 0);
    if (out) __builtin_prefetch(out + b, 1);
  }
#else
  (void)next, (void)j, (void)k;
#endif
}

/* Σ e^(x[j] - m) over n ≤ EXP_CHUNK values, without storing the terms. */
ZK_HOT static float exp_sum_chunk(const float *x, float m, int64_t n) {
  float acc[LANES] = {0};
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int l = 0; l < LANES; l++) acc[l] += zk_exp_nonpos_f(x[i + l] - m);
  for (int l = 0; i < n; i++, l++) acc[l] += zk_exp_nonpos_f(x[i] - m);
  return fold_lanes(acc);
}

/* Σ_j e^(x[j] - m) for a finite m, by chunks; e = e^(x - m) (e may be x)
 * unless e is NULL.  partial: exp_partials(n) floats (the chunk sums, then
 * zk_cpu_exp_sum's scratch for one chunk). */
static float exp_sum_row(float *e, const float *x, float m, int64_t n, float *partial, const next_row *next) {
  int64_t c = 0;
  for (int64_t j = 0; j < n; c++, j += EXP_CHUNK) {
    int64_t k = n - j < EXP_CHUNK ? n - j : EXP_CHUNK;
    partial[c] = e ? zk_cpu_exp_sum(e + j, x + j, m, k, partial + c + 1) : exp_sum_chunk(x + j, m, k);
    prefetch_next(next, j, k);
  }
  return zk_cpu_sum(partial, c);
}

/* Scratch floats of exp_sum_row's partial sums. */
static int64_t exp_partials(int64_t n) { return (n + EXP_CHUNK - 1) / EXP_CHUNK + zk_cpu_exp_sum_partials(EXP_CHUNK); }

/* ------------------------------------------------------------- logsumexp */

typedef struct lse_job {
  const zk_rows *x, *dy, *out; /* forward: dy NULL, out = y; grad: out = dx */
} lse_job;

/* lse of row r (an f32 view x) with the edge values of §6.1 (NaN, +Inf,
 * all -Inf or empty -> -Inf), which are exactly the non-finite row maxima.
 * Leaves the row maximum in *m and, when e is not NULL and m is finite,
 * e^(x - m) in e and their sum in *s. */
static float lse_row(const lse_job *job, int64_t r, const float *x, int64_t n, float *e, float *partial, float *m,
                     float *s) {
  *m = zk_cpu_max(x, n);
  if (!(*m > -INFINITY && *m < INFINITY)) return *m;
  next_row next = {job->x, job->dy ? job->out : NULL, r + 1};
  *s = exp_sum_row(e, x, *m, n, partial, &next);
  return *m + logf(*s);
}

/* Scratch: [n] the converted row, [n] e (the grad's dx), the chunk sums. */
static int64_t lse_scratch(int64_t n) { return 2 * padded(n) + exp_partials(n); }

static void lse_forward_row(int64_t r, float *scratch, const void *arg) {
  const lse_job *job = arg;
  int64_t n = job->x->cols;
  const float *x = zk_cpu_view(job->x, r, 0, n, scratch);
  float m, s, y = lse_row(job, r, x, n, NULL, scratch + 2 * padded(n), &m, &s);
  zk_cpu_store(job->out, r, 0, 1, &y);
}

/* dx[j] = dy·e^(x[j] - lse), for a row whose max is not finite. */
ZK_HOT static void lse_vjp_row(float *dx, const float *x, float lse, float dy, int64_t n) {
  for (int64_t j = 0; j < n; j++) dx[j] = dy * zk_exp_nonpos_f(x[j] - lse);
}

/* The grad reuses the forward's terms: e^(x - lse) = e^(x - m)/s, so dx =
 * (dy/s)·e with no second exponential (within GRAD; the non-finite rows
 * keep the formula as written). */
static void lse_backward_row(int64_t r, float *scratch, const void *arg) {
  const lse_job *job = arg;
  int64_t n = job->x->cols;
  float *e = scratch + padded(n), m, s = 1.0f, dy; /* lse_row sets s wherever the row uses it */
  const float *x = zk_cpu_view(job->x, r, 0, n, scratch);
  float lse = lse_row(job, r, x, n, e, e + padded(n), &m, &s);
  zk_cpu_load(job->dy, r, 0, 1, &dy);
  if (lse > -INFINITY && m < INFINITY) { /* (dy/s)·e rounded straight into dx */
    zk_cpu_store_scaled(job->out, r, 0, n, e, dy / s, e);
    return;
  }
  float *dx = zk_cpu_target(job->out, r, 0, e); /* e itself when converting */
  if (lse == -INFINITY) fill_row(dx, n, 0.0f); /* constant forward: no gradient */
  else lse_vjp_row(dx, x, lse, dy, n);
  zk_cpu_commit(job->out, r, 0, n, dx);
}

zk_status zk_cpu_logsumexp_lastdim(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, logsumexp_lastdim);
  lse_job job = {&a->t[0], NULL, &a->t[1]};
  int64_t n = a->t[0].cols;
  return zk_cpu_for_rows(ctx, call, a->t[0].rows, n, lse_scratch(n), lse_forward_row, &job);
}

zk_status zk_cpu_logsumexp_lastdim_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, logsumexp_lastdim_grad);
  lse_job job = {&a->t[0], &a->t[1], &a->t[2]};
  int64_t n = a->t[0].cols;
  return zk_cpu_for_rows(ctx, call, a->t[0].rows, n, lse_scratch(n), lse_backward_row, &job);
}

/* ------------------------------------------------------ masked softmaxes */

/* z[j] = scale·x[j] where kept, -Inf where masked.  The product is formed
 * before the select: gcc leaves a conditional product scalar (it might
 * trap), which made the masked rows twice as slow as the unmasked ones. */
ZK_HOT static void masked_scores(float *z, const float *x, const uint8_t *keep, float scale, int64_t n) {
  for (int64_t j = 0; j < n; j++) {
    float v = scale * x[j];
    z[j] = keep[j] ? v : -INFINITY;
  }
}

ZK_HOT static void scaled_scores(float *z, const float *x, float scale, int64_t n) {
  for (int64_t j = 0; j < n; j++) z[j] = scale * x[j];
}

/* Elements of a 16-bit row converted and scored at a time (2 KB of f32). */
#define SCORE_PIECE 512

/* z for row r of x: scale·x where kept (keep NULL: everywhere), -Inf where
 * masked.  A 16-bit row is converted a piece at a time into z and scored
 * there while the piece is in L1, with no converted copy of the row. */
static void row_scores(float *z, const zk_rows *x, int64_t r, const uint8_t *keep, float scale, int64_t n) {
  for (int64_t j = 0; j < n; j += SCORE_PIECE) {
    int64_t k = n - j < SCORE_PIECE ? n - j : SCORE_PIECE;
    const float *xj = zk_cpu_view(x, r, j, k, z + j);
    if (keep) masked_scores(z + j, xj, keep + j, scale, k);
    else scaled_scores(z + j, xj, scale, k);
  }
}

/* max z for the edge rules: +Inf when z holds a NaN or +Inf (either row
 * takes nan_row), else the max (-Inf when every entry is), in one
 * vectorised pass: zk_cpu_max reports a NaN but not a +Inf apart from the
 * max, and the rule treats the two alike. */
ZK_HOT static float score_max(const float *z, int64_t n) {
  float acc[LANES], bad[LANES];
  for (int l = 0; l < LANES; l++) acc[l] = -INFINITY, bad[l] = 0.0f;
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES)
#pragma omp simd
    for (int l = 0; l < LANES; l++) {
      float v = z[i + l];
      acc[l] = v > acc[l] ? v : acc[l];
      bad[l] += v < INFINITY ? 0.0f : 1.0f;
    }
  for (int l = 0; i < n; i++, l++) {
    acc[l] = z[i] > acc[l] ? z[i] : acc[l];
    bad[l] += z[i] < INFINITY ? 0.0f : 1.0f;
  }
  float m = -INFINITY, nonfinite = 0.0f;
  for (int l = 0; l < LANES; l++) {
    m = acc[l] > m ? acc[l] : m;
    nonfinite += bad[l];
  }
  return nonfinite > 0.0f ? INFINITY : m;
}

/* A kept NaN or +Inf: NaN at every kept entry, 0 at the masked ones. */
ZK_HOT static void nan_row(float *y, const uint8_t *keep, int64_t n) {
  for (int64_t j = 0; j < n; j++) y[j] = keep && !keep[j] ? 0.0f : NAN;
}

typedef struct masked_job {
  const zk_rows *x, *mask, *y; /* mask absent: keep all */
  float scale;
} masked_job;

/* Scratch: [n] y (an edge row; f16: the scaled row), [n] z, the chunk sums. */
static int64_t masked_scratch(int64_t n) { return 2 * padded(n) + exp_partials(n); }

static void masked_row(int64_t r, float *scratch, const void *arg) {
  const masked_job *job = arg;
  int64_t n = job->x->cols;
  float *z = scratch + padded(n), *partial = z + padded(n);
  const uint8_t *keep = zk_present(job->mask) ? (const uint8_t *)zk_row_ptr(job->mask, r % job->mask->rows, 0) : NULL;
  row_scores(z, job->x, r, keep, job->scale, n);
  /* x is fully read: y (which may be x) is written from here on. */
  float m = score_max(z, n);
  if (m < INFINITY && m > -INFINITY) {
    next_row next = {job->x, job->y, r + 1};
    float s = exp_sum_row(z, z, m, n, partial, &next); /* >= 1 */
    zk_cpu_store_scaled(job->y, r, 0, n, z, 1.0f / s, scratch);
    return;
  }
  float *y = zk_cpu_target(job->y, r, 0, scratch);
  if (m == -INFINITY) fill_row(y, n, 0.0f); /* nothing kept, or all kept -Inf */
  else nan_row(y, keep, n);
  zk_cpu_commit(job->y, r, 0, n, y);
}

static zk_status masked_forward(zk_ctx *ctx, const zk_call *call, const zk_args *a) {
  masked_job job = {&a->t[0], &a->t[1], &a->t[2], a->f[0]};
  int64_t n = a->t[0].cols;
  return zk_cpu_for_rows(ctx, call, a->t[0].rows, n, masked_scratch(n), masked_row, &job);
}

zk_status zk_cpu_masked_softmax(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, masked_softmax);
  return masked_forward(ctx, call, a);
}

zk_status zk_cpu_scale_mask_softmax(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, scale_mask_softmax);
  return masked_forward(ctx, call, a);
}

zk_status zk_cpu_masked_softmax_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, masked_softmax_grad);
  return zk_cpu_softmax_vjp(ctx, call, a, 1.0f);
}

zk_status zk_cpu_scale_mask_softmax_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, scale_mask_softmax_grad);
  return zk_cpu_softmax_vjp(ctx, call, a, a->f[0]);
}

/* ------------------------------------------------------- paged attention */

typedef struct paged_job {
  const zk_rows *q, *kc, *vc, *tables, *lens, *out;
  int64_t G, HKV, D, BS;
  int64_t per_task; /* KV heads a task serves (a divisor of HKV) */
  float scale;
} paged_job;

static int32_t i32_at(const zk_rows *t, int64_t r, int64_t j) { return ((const int32_t *)t->data)[r * t->stride + j]; }

/* Every length and every block id the call will read, before anything is written. */
static zk_status check_indices(const zk_call *call, const paged_job *j, int64_t B) {
  int64_t MB = j->tables->cols, NB = j->BS ? j->kc->rows / j->BS : 0;
  for (int64_t b = 0; b < B; b++) {
    int64_t L = i32_at(j->lens, 0, b);
    if (L < 0 || L > MB * j->BS)
      return zk_fail(call, ZK_ERR_INDEX, "context_lens[%" PRId64 "] = %" PRId64 " is outside [0, MB·BS = %" PRId64 "]",
                     b, L, MB * j->BS);
    for (int64_t kb = 0; kb * j->BS < L; kb++) {
      int64_t blk = i32_at(j->tables, b, kb);
      if (blk < 0 || blk >= NB)
        return zk_fail(call, ZK_ERR_INDEX, "block_tables[%" PRId64 ", %" PRId64 "] = %" PRId64 " is outside [0, %" PRId64 ")",
                       b, kb, blk, NB);
    }
  }
  return ZK_OK;
}

/* The K or V rows of one block for one KV head: cnt rows of D, `stride`
 * floats apart.  An f32 cache is read in place (rows HKV·D apart); a
 * 16-bit one is converted into scratch (rows D apart). */
typedef struct kv_rows {
  const float *row0;
  int64_t stride;
} kv_rows;

static kv_rows block_rows(const zk_rows *cache, int64_t slot0, int64_t col, int64_t cnt, int64_t D, float *buf) {
  if (cache->dtype == ZK_F32) return (kv_rows){(const float *)zk_row_ptr(cache, slot0, col), cache->stride};
  for (int64_t t = 0; t < cnt; t++) zk_cpu_load(cache, slot0 + t, col, D, buf + t * D);
  return (kv_rows){buf, D};
}

/* Asks for cnt rows of n elements from column col of a block ahead of
 * use: blocks lie where the table says, so the hardware prefetchers cannot
 * know the next one (without this the task runs about 1.8x slower). */
static void prefetch_block(const zk_rows *cache, int64_t slot0, int64_t col, int64_t cnt, int64_t n) {
#if defined(__GNUC__)
  int64_t bytes = n * (int64_t)zk_dtype_size(cache->dtype);
  for (int64_t t = 0; t < cnt; t++) {
    const char *row = zk_row_ptr(cache, slot0 + t, col);
    for (int64_t b = 0; b < bytes; b += 64) __builtin_prefetch(row + b, 0);
  }
#else
  (void)cache, (void)slot0, (void)col, (void)cnt, (void)n;
#endif
}

/* Heads of a group are served four at a time: each K or V element loaded
 * feeds four FMAs, and the four heads' partial sums (named arrays of 16
 * lanes, one vector register each) stay in registers across the loop.
 * Leftover heads (G not a multiple of 4) go one at a time. */
#define HEADS 4

/* s[h·BS] = scale·⟨q_h, k⟩ for the four heads q_h = q + h·D. */
static inline void four_dots(float *s, int64_t BS, const float *q, const float *k, int64_t D, float scale) {
  float a0[LANES] = {0}, a1[LANES] = {0}, a2[LANES] = {0}, a3[LANES] = {0};
  int64_t d0 = 0;
  for (; d0 + LANES <= D; d0 += LANES)
    for (int l = 0; l < LANES; l++) {
      float kv = k[d0 + l];
      a0[l] += q[d0 + l] * kv;
      a1[l] += q[D + d0 + l] * kv;
      a2[l] += q[2 * D + d0 + l] * kv;
      a3[l] += q[3 * D + d0 + l] * kv;
    }
  float dot[HEADS] = {fold_lanes(a0), fold_lanes(a1), fold_lanes(a2), fold_lanes(a3)};
  for (int h = 0; h < HEADS; h++) {
    for (int64_t d = d0; d < D; d++) dot[h] += q[h * D + d] * k[d];
    s[h * BS] = scale * dot[h];
  }
}

/* s[g·BS + t] = scale·⟨q_g, k_t⟩ for the G heads and the block's cnt rows. */
ZK_HOT static void group_scores(float *s, const float *q, kv_rows k, int64_t G, int64_t D, int64_t BS, int64_t cnt,
                                float scale) {
  for (int64_t t = 0; t < cnt; t++) {
    const float *kt = k.row0 + t * k.stride;
    int64_t g = 0;
    for (; g + HEADS <= G; g += HEADS) four_dots(s + g * BS + t, BS, q + g * D, kt, D, scale);
    for (; g < G; g++) s[g * BS + t] = scale * zk_cpu_dot(q + g * D, kt, D);
  }
}

/* acc_h = acc_h·alpha[h] + Σ_t p_h[t]·v_t for four heads (acc_h = acc + h·D,
 * p_h = p + h·BS), 16 columns at a time. */
static inline void four_accumulate(float *acc, const float *alpha, const float *p, int64_t BS, kv_rows v, int64_t cnt,
                                   int64_t D) {
  int64_t d0 = 0;
  for (; d0 + LANES <= D; d0 += LANES) {
    float a0[LANES], a1[LANES], a2[LANES], a3[LANES];
    for (int l = 0; l < LANES; l++) {
      a0[l] = acc[d0 + l] * alpha[0];
      a1[l] = acc[D + d0 + l] * alpha[1];
      a2[l] = acc[2 * D + d0 + l] * alpha[2];
      a3[l] = acc[3 * D + d0 + l] * alpha[3];
    }
    for (int64_t t = 0; t < cnt; t++) {
      const float *vt = v.row0 + t * v.stride + d0;
      float p0 = p[t], p1 = p[BS + t], p2 = p[2 * BS + t], p3 = p[3 * BS + t];
      for (int l = 0; l < LANES; l++) {
        float vv = vt[l];
        a0[l] += p0 * vv;
        a1[l] += p1 * vv;
        a2[l] += p2 * vv;
        a3[l] += p3 * vv;
      }
    }
    for (int l = 0; l < LANES; l++) {
      acc[d0 + l] = a0[l];
      acc[D + d0 + l] = a1[l];
      acc[2 * D + d0 + l] = a2[l];
      acc[3 * D + d0 + l] = a3[l];
    }
  }
  for (; d0 < D; d0++)
    for (int h = 0; h < HEADS; h++) {
      float a = acc[h * D + d0] * alpha[h];
      for (int64_t t = 0; t < cnt; t++) a += p[h * BS + t] * v.row0[t * v.stride + d0];
      acc[h * D + d0] = a;
    }
}

/* One head: acc = acc·alpha + Σ_t p[t]·v_t, row by row. */
static inline void one_accumulate(float *acc, float alpha, const float *p, kv_rows v, int64_t cnt, int64_t D) {
  for (int64_t d = 0; d < D; d++) acc[d] *= alpha;
  for (int64_t t = 0; t < cnt; t++)
    for (int64_t d = 0; d < D; d++) acc[d] += p[t] * v.row0[t * v.stride + d];
}

/* The block's weighted V rows into the G accumulators (alpha: G rescales,
 * p: G rows of BS weights). */
ZK_HOT static void group_accumulate(float *acc, const float *alpha, const float *p, kv_rows v, int64_t G, int64_t D,
                                    int64_t BS, int64_t cnt) {
  int64_t g = 0;
  for (; g + HEADS <= G; g += HEADS) four_accumulate(acc + g * D, alpha + g, p + g * BS, BS, v, cnt, D);
  for (; g < G; g++) one_accumulate(acc + g * D, alpha[g], p + g * BS, v, cnt, D);
}

/* p[t] = e^(s[t] - m). */
ZK_HOT static void exp_shift(float *p, const float *s, float m, int64_t n) {
  for (int64_t t = 0; t < n; t++) p[t] = zk_exp_nonpos_f(s[t] - m);
}

/* Scratch of a task with P = per_task KV heads: P·G·D q, P·G·D acc,
 * BS·D k, BS·D v (16-bit caches), G·BS scores, 3·P·G (max, sum, rescale). */
static int64_t paged_scratch(const paged_job *j) {
  int64_t heads = j->per_task * j->G;
  return 2 * padded(heads * j->D) + 2 * padded(j->BS * j->D) + padded(j->G * j->BS) + padded(3 * heads);
}

/* The online-softmax step of one KV head's G query heads over one block:
 * scores, new running max, rescale alpha, weights in s, running sum. */
static void softmax_step(float *s, float *m, float *l, float *alpha, int64_t G, int64_t BS, int64_t cnt) {
  for (int64_t g = 0; g < G; g++) {
    float *sg = s + g * BS;
    float bm = zk_cpu_max(sg, cnt), mn = bm > m[g] ? bm : m[g];
    /* The first block: m = -Inf, alpha = e^(-Inf) = 0 on an empty accumulator. */
    alpha[g] = zk_exp_nonpos_f(m[g] - mn);
    exp_shift(sg, sg, mn, cnt);
    l[g] = l[g] * alpha[g] + zk_cpu_sum(sg, cnt);
    m[g] = mn;
  }
}

/* Task (b, c): KV heads c·P .. c·P + P - 1 of sequence b (P = per_task)
 * and their query heads.  Block by block, each KV head's rows of the
 * block serve its G query heads (scores, online-softmax update, V
 * accumulation).  Serving several KV heads a task makes a block's reads
 * one contiguous P·D span a token instead of D elements every HKV·D,
 * which the hardware prefetchers follow. */
static void paged_task(int64_t task, float *scratch, const void *arg) {
  const paged_job *j = arg;
  int64_t P = j->per_task, chunks = j->HKV / P, G = j->G, D = j->D, BS = j->BS;
  int64_t b = task / chunks, h0 = task % chunks * P, heads = P * G;
  float *q = scratch, *acc = q + padded(heads * D), *kbuf = acc + padded(heads * D), *vbuf = kbuf + padded(BS * D);
  float *s = vbuf + padded(BS * D), *m = s + padded(G * BS), *l = m + heads, *alpha = l + heads;
  zk_cpu_load(j->q, b, h0 * G * D, heads * D, q);
  fill_row(acc, heads * D, 0.0f);
  fill_row(m, heads, -INFINITY);
  fill_row(l, heads, 0.0f);
  int64_t L = i32_at(j->lens, 0, b);
  for (int64_t t0 = 0; t0 < L; t0 += BS) {
    int64_t cnt = L - t0 < BS ? L - t0 : BS, slot0 = (int64_t)i32_at(j->tables, b, t0 / BS) * BS;
    int64_t next = t0 + BS;
    if (next < L) {
      int64_t next_slot0 = (int64_t)i32_at(j->tables, b, next / BS) * BS, next_cnt = L - next < BS ? L - next : BS;
      prefetch_block(j->kc, next_slot0, h0 * D, next_cnt, P * D);
      prefetch_block(j->vc, next_slot0, h0 * D, next_cnt, P * D);
    }
    for (int64_t h = 0; h < P; h++) {
      int64_t col = (h0 + h) * D, first = h * G;
      kv_rows k = block_rows(j->kc, slot0, col, cnt, D, kbuf);
      kv_rows v = block_rows(j->vc, slot0, col, cnt, D, vbuf);
      group_scores(s, q + first * D, k, G, D, BS, cnt, j->scale);
      softmax_step(s, m + first, l + first, alpha + first, G, BS, cnt);
      group_accumulate(acc + first * D, alpha + first, s, v, G, D, BS, cnt);
    }
  }
  /* L = 0 leaves acc = 0 (l = 0 is never divided by). */
  for (int64_t g = 0; g < heads; g++)
    if (L > 0) scale_into(acc + g * D, acc + g * D, 1.0f / l[g], D);
  zk_cpu_store(j->out, b, h0 * G * D, heads * D, acc);
}

/* KV heads a task serves: the most that still leave about four tasks a
 * thread (results do not depend on it: each head's arithmetic is the same
 * whichever task runs it). */
static int64_t kv_heads_per_task(int64_t B, int64_t HKV, int threads) {
  int64_t per = HKV;
  while (per > 1 && B * (HKV / per) < 4 * (int64_t)threads) {
    do per--;
    while (HKV % per);
  }
  return per;
}

zk_status zk_cpu_paged_attention(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, paged_attention);
  int64_t H = a->i[0], HKV = a->i[1], D = a->i[2], B = a->t[0].rows;
  paged_job job = {&a->t[0], &a->t[1], &a->t[2], &a->t[3], &a->t[4], &a->t[5], H / HKV, HKV, D, a->i[3],
                   kv_heads_per_task(B, HKV, ctx->threads), a->f[0]};
  zk_status st = check_indices(call, &job, B);
  if (st != ZK_OK) return st;
  /* The team size follows the work: about MB·BS·D per head. */
  int64_t work = H * D * (a->t[3].cols * job.BS > 1 ? a->t[3].cols * job.BS : 1), tasks = B * (HKV / job.per_task);
  return zk_cpu_for_rows(ctx, call, tasks, B * work / tasks, paged_scratch(&job), paged_task, &job);
}

/* ---------------------------------------------------------- score tile */

typedef struct tile_job {
  const zk_rows *q, *k, *s;
} tile_job;

/* Row r of s: q[r] against all 16 rows of k.  Scratch: q's row, then k. */
static void tile_row(int64_t r, float *scratch, const void *arg) {
  const tile_job *j = arg;
  int64_t D = j->q->cols;
  float *k = scratch + padded(D), out[16];
  zk_cpu_load(j->q, r, 0, D, scratch);
  for (int64_t c = 0; c < 16; c++) {
    zk_cpu_load(j->k, c, 0, D, k + c * D);
    out[c] = zk_cpu_dot(scratch, k + c * D, D);
  }
  zk_cpu_store(j->s, r, 0, 16, out);
}

zk_status zk_cpu_attention_tile_proto(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, attention_tile_proto);
  tile_job job = {&a->t[0], &a->t[1], &a->t[2]};
  int64_t D = a->t[0].cols;
  /* Team size by the row length: a tile below D = 2048 runs on the calling
   * thread, where waking a team would cost more than the 256 dots. */
  return zk_cpu_for_rows(ctx, call, 16, D, padded(D) + 16 * D, tile_row, &job);
}
