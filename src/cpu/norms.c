/* Norms on the CPU (spec §3), through the row engine of norms.h that the
 * transformer family's residual and dropout fusions use too.
 *
 * Per row: an f32 view of x (the tensor itself when it is f32; h = round(x +
 * x2) is formed in scratch first where asked), fixed-order passes for the
 * statistics (RMS: Σx²; LayerNorm: shifted mean, then Σ(x-μ)², never
 * E[x²]-μ²), then the scaled output, written straight into y when y is f32
 * (outputs larger than the caches: staged, then written with streaming
 * stores).  The row stays in L1/L2 between passes, so DRAM sees one read and
 * one write. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "norms.h"

/* x̂_j = (c[j] - mean)·rstd.  RMS: c is the row itself and mean 0.
 * LayerNorm: c_j = (x_j - x_0) - m1 with m1 = Σ(x_j - x_0)/D (the spec's
 * shifted mean), and mean = Σc/D, the residual left by m1's rounding.  A
 * constant row gives c = 0 exactly; a row of mean 1e4 keeps the low bits
 * that subtracting an f32 μ ≈ 1e4 would lose; and the second pass corrects
 * the shifted sum's rounding, which grows with D·|x_0|. */
typedef struct row_stats {
  const float *c;
  float mean;
  float rstd;
} row_stats;

ZK_HOT static void shift_row(float *dst, const float *v, float by, int64_t n) {
  for (int64_t j = 0; j < n; j++) dst[j] = v[j] - by;
}

/* tmp: n floats (LayerNorm's c). */
static row_stats stats_of(zk_norm_kind kind, const float *v, int64_t n, float eps, float *tmp) {
  float inv_n = 1.0f / (float)n;
  row_stats s = {v, 0.0f, 0.0f};
  float var;
  if (kind == ZK_NORM_RMS) {
    var = zk_cpu_dot(v, v, n) * inv_n;
  } else {
    shift_row(tmp, v, v[0], n);
    shift_row(tmp, tmp, zk_cpu_sum(tmp, n) * inv_n, n);
    s.c = tmp;
    s.mean = zk_cpu_sum(tmp, n) * inv_n;
    /* Σ(c-mean)² = Σc² - D·mean² (corrected two-pass); mean is tiny next to
     * the spread, so nothing cancels. */
    var = zk_cpu_dot(tmp, tmp, n) * inv_n - s.mean * s.mean;
  }
  /* Clamped at 0, written so that a NaN stays NaN. */
  s.rstd = 1.0f / sqrtf((var < 0.0f ? 0.0f : var) + eps);
  return s;
}

/* Row r of x, or of h = round(x + x2) (built in buf), as f32. */
static const float *input_row(const zk_rows *x, const zk_rows *x2, int64_t r, float *buf, float *tmp) {
  int64_t n = x->cols;
  if (!x2) return zk_cpu_view(x, r, 0, n, buf);
  zk_cpu_load(x, r, 0, n, buf);
  const float *b = zk_cpu_view(x2, r, 0, n, tmp);
  for (int64_t j = 0; j < n; j++) buf[j] += b[j];
  zk_cpu_round_trip(x->dtype, buf, n);
  return buf;
}

/* ------------------------------------------------------ output rows
 * A row is read, worked on in L1/L2, then written.  Written with ordinary
 * stores, each output line is first read from DRAM (read for ownership) and
 * the write phase stalls on it.  Outputs larger than the caches are
 * therefore written with streaming (non-temporal) stores, as a large memcpy
 * is (f32 8192x4096 on a 2-core AMD EPYC, one thread: RMSNorm from ~70% to
 * ~94% of memcpy bandwidth, LayerNorm from ~43% to ~50%); smaller ones keep
 * ordinary stores, so that the next kernel finds them in cache. */
#define STREAM_MIN_BYTES ((int64_t)16 << 20)

static int streams(const zk_rows *t) {
  return t->rows * t->cols * zk_dtype_size(t->dtype) >= STREAM_MIN_BYTES;
}

#if ZK_INTRINSICS
/* 32-byte streaming stores (AVX; the caller checks the CPU has it). */
__attribute__((target("avx"))) static void stream_avx(char *d, const char *s, size_t n) {
  for (size_t i = 0; i + 32 <= n; i += 32)
    _mm256_stream_si256((__m256i *)(d + i), _mm256_loadu_si256((const __m256i *)(s + i)));
}
#endif

/* memcpy with streaming stores for the 32-byte-aligned body of dst. */
static void stream_copy(void *dst, const void *src, size_t bytes) {
#if ZK_INTRINSICS
  if (__builtin_cpu_supports("avx")) {
    char *d = dst;
    const char *s = src;
    size_t head = (32 - ((uintptr_t)d & 31)) & 31;
    if (head > bytes) head = bytes;
    memcpy(d, s, head);
    size_t body = (bytes - head) & ~(size_t)31;
    stream_avx(d + head, s + head, body);
    memcpy(d + head + body, s + head + body, bytes - head - body);
    _mm_sfence(); /* streaming stores are weakly ordered: make them visible before the call returns */
    return;
  }
#endif
  memcpy(dst, src, bytes);
}

/* Where to compute row r of output t: t itself when f32 and not streamed, else buf. */
static float *out_row(const zk_rows *t, int64_t r, float *buf, int stream) {
  return stream ? buf : zk_cpu_target(t, r, 0, buf);
}

/* Writes row r of t from out (as out_row gave it); stage: n floats of scratch. */
static void put_row(const zk_rows *t, int64_t r, const float *out, float *stage, int stream) {
  int64_t n = t->cols;
  if (!stream) {
    zk_cpu_commit(t, r, 0, n, out);
    return;
  }
  const void *src = out;
  if (t->dtype != ZK_F32) {
    zk_rows row = {stage, 1, n, n, t->dtype};
    zk_cpu_store(&row, 0, 0, n, out);
    src = stage;
  }
  stream_copy(zk_row_ptr(t, r, 0), src, (size_t)(n * zk_dtype_size(t->dtype)));
}

typedef struct fwd_job {
  const zk_norm_fwd *f;
  const float *w, *b;
  int stream;  /* y streamed */
} fwd_job;

/* out may be the row of c itself (y aliasing x): element j is read before
 * it is written. */
ZK_HOT static void scale_row(float *out, row_stats s, int64_t n, const float *w, const float *b) {
  const float *c = s.c;
  if (w && b) {
    for (int64_t j = 0; j < n; j++) out[j] = (c[j] - s.mean) * s.rstd * w[j] + b[j];
  } else if (w) {
    for (int64_t j = 0; j < n; j++) out[j] = (c[j] - s.mean) * s.rstd * w[j];
  } else if (b) {
    for (int64_t j = 0; j < n; j++) out[j] = (c[j] - s.mean) * s.rstd + b[j];
  } else {
    for (int64_t j = 0; j < n; j++) out[j] = (c[j] - s.mean) * s.rstd;
  }
}

/* dst = v·scale where kept, +0 where dropped (whatever v is). */
ZK_HOT static void drop_row(float *dst, const float *v, int64_t n, const uint8_t *keep, float scale) {
  for (int64_t j = 0; j < n; j++) dst[j] = keep[j] ? v[j] * scale : 0.0f;
}

/* Scratch per thread: 3 rows of floats and a row of keep bytes. */
#define FWD_SCRATCH(n) (3 * (n) + (n) / 4 + 16)

static void forward_row(int64_t r, float *scratch, const void *arg) {
  const fwd_job *job = arg;
  const zk_norm_fwd *f = job->f;
  int64_t n = f->x->cols;
  float *buf = scratch, *tmp = scratch + n, *obuf = scratch + 2 * n;
  const float *v = input_row(f->x, f->x2, r, buf, tmp);
  if (f->h) { /* the stored sum is as large an output as y: streamed alike */
    if (streams(f->h)) put_row(f->h, r, v, obuf, 1);
    else zk_cpu_store(f->h, r, 0, n, v);
  }
  row_stats s = stats_of(f->kind, v, n, f->eps, tmp);
  float *out = out_row(f->y, r, obuf, job->stream);
  scale_row(out, s, n, job->w, job->b);
  if (f->drop) {
    uint8_t *keep = (uint8_t *)(scratch + 3 * n);
    zk_cpu_dropout_keep(f->drop, (uint64_t)(r * n), n, keep);
    drop_row(out, out, n, keep, f->drop->scale);
  }
  put_row(f->y, r, out, buf, job->stream); /* buf is free once the row is scaled */
}

static const zk_rows *present_or_null(const zk_rows *t) { return t && zk_present(t) ? t : NULL; }

zk_status zk_cpu_norm_forward(zk_ctx *ctx, const zk_call *call, const zk_norm_fwd *f) {
  int64_t n = f->x->cols;
  const zk_rows *wt = present_or_null(f->weight), *bt = present_or_null(f->bias);
  float *w = wt ? zk_cpu_param_f32(wt) : NULL, *b = bt ? zk_cpu_param_f32(bt) : NULL;
  zk_status s = ZK_OK;
  if ((wt && !w) || (bt && !b)) {
    s = zk_fail(call, ZK_ERR_OOM, "cannot allocate the f32 parameters");
  } else {
    fwd_job job = {f, w, b, streams(f->y)};
    s = zk_cpu_for_rows(ctx, call, f->x->rows, n, FWD_SCRATCH(n), forward_row, &job);
  }
  free(w);
  free(b);
  return s;
}

/* ------------------------------------------------------------- backward */

typedef struct bwd_job {
  const zk_norm_bwd *b;
  const float *w;
  int want_dw, want_db;
  int stream;  /* dx streamed */
} bwd_job;

ZK_HOT static void xhat_row(float *xh, row_stats s, int64_t n) {
  for (int64_t j = 0; j < n; j++) xh[j] = (s.c[j] - s.mean) * s.rstd;
}

ZK_HOT static void mul_row(float *dst, const float *a, const float *b, int64_t n) {
  for (int64_t j = 0; j < n; j++) dst[j] = a[j] * b[j];
}

ZK_HOT static void add_row(float *acc, const float *v, int64_t n) {
  for (int64_t j = 0; j < n; j++) acc[j] += v[j];
}

ZK_HOT static void add_product(float *acc, const float *a, const float *b, int64_t n) {
  for (int64_t j = 0; j < n; j++) acc[j] += a[j] * b[j];
}

/* dx = rstd·(g - c_mean - x̂·c_xhat) (+ dh).  dx may be the row of g (dx
 * aliasing dy): element j is read before it is written. */
ZK_HOT static void dx_row(float *dx, const float *g, const float *xh, int64_t n, float rstd, float c_mean,
                          float c_xhat, const float *dh) {
  if (dh) {
    for (int64_t j = 0; j < n; j++) dx[j] = rstd * (g[j] - c_mean - xh[j] * c_xhat) + dh[j];
  } else {
    for (int64_t j = 0; j < n; j++) dx[j] = rstd * (g[j] - c_mean - xh[j] * c_xhat);
  }
}

/* Scratch per thread: 5 rows of floats and a row of keep bytes. */
#define BWD_SCRATCH(n) (5 * (n) + (n) / 4 + 16)

/* Rows [r0, r1): dx per row, and the block's partial Σ dy·x̂ and Σ dy. */
static void backward_rows(int64_t r0, int64_t r1, float *scratch, float *partials, const void *arg) {
  const bwd_job *job = arg;
  const zk_norm_bwd *b = job->b;
  int64_t n = b->x->cols;
  float *buf = scratch, *tmp = scratch + n, *xh = scratch + 2 * n, *gbuf = scratch + 3 * n, *obuf = scratch + 4 * n;
  float *dw = partials, *db = partials + n;
  uint8_t *keep = (uint8_t *)(scratch + 5 * n);
  float inv_n = 1.0f / (float)n;
  for (int64_t r = r0; r < r1; r++) {
    row_stats s = stats_of(b->kind, input_row(b->x, b->x2, r, buf, tmp), n, b->eps, tmp);
    xhat_row(xh, s, n);
    /* dy' = dy·keep·s (dropout), then g = dy'·w. */
    const float *dy = zk_cpu_view(b->dy, r, 0, n, gbuf);
    if (b->drop) {
      zk_cpu_dropout_keep(b->drop, (uint64_t)(r * n), n, keep);
      drop_row(gbuf, dy, n, keep, b->drop->scale);
      dy = gbuf;
    }
    if (job->want_dw) add_product(dw, dy, xh, n);
    if (job->want_db) add_row(db, dy, n);
    if (!b->dx) continue;
    const float *g = dy;
    if (job->w) {
      mul_row(gbuf, dy, job->w, n);
      g = gbuf;
    }
    float c_xhat = zk_cpu_dot(g, xh, n) * inv_n;
    float c_mean = b->kind == ZK_NORM_LAYER ? zk_cpu_sum(g, n) * inv_n : 0.0f;
    if (n == 1 && b->kind == ZK_NORM_RMS && isfinite(xh[0])) {
      /* One-element RMS row: g - x̂·c = g·(1 - x̂²) = g·eps·r² exactly; the
       * general form gets there by cancellation, up to 5% off in f32. */
      gbuf[0] = g[0] * (b->eps * s.rstd * s.rstd);
      g = gbuf;
      c_xhat = 0.0f;
    }
    const float *dh = b->dh ? zk_cpu_view(b->dh, r, 0, n, buf) : NULL;
    float *out = out_row(b->dx, r, obuf, job->stream);
    dx_row(out, g, xh, n, s.rstd, c_mean, c_xhat, dh);
    put_row(b->dx, r, out, tmp, job->stream); /* tmp is free once x̂ is formed */
  }
}

zk_status zk_cpu_norm_backward(zk_ctx *ctx, const zk_call *call, const zk_norm_bwd *b) {
  int64_t n = b->x->cols;
  zk_norm_bwd local = *b;
  local.dx = present_or_null(b->dx);
  local.dh = present_or_null(b->dh);
  const zk_rows *wt = present_or_null(b->weight);
  const zk_rows *dwt = present_or_null(b->dweight), *dbt = present_or_null(b->dbias);
  float *w = wt ? zk_cpu_param_f32(wt) : NULL;
  float *sums = malloc((size_t)(2 * n + 1) * sizeof(float));
  zk_status s = ZK_OK;
  if ((wt && !w) || !sums) {
    s = zk_fail(call, ZK_ERR_OOM, "cannot allocate the f32 parameters");
  } else {
    bwd_job job = {&local, w, dwt != NULL, dbt != NULL, local.dx && streams(local.dx)};
    float *out[2] = {dwt ? sums : NULL, dbt ? sums + n : NULL};
    s = zk_cpu_for_row_blocks(ctx, call, b->x->rows, n, BWD_SCRATCH(n), 2, backward_rows, &job, out);
    if (s == ZK_OK && dwt) zk_cpu_store(dwt, 0, 0, n, sums);
    if (s == ZK_OK && dbt) zk_cpu_store(dbt, 0, 0, n, sums + n);
  }
  free(w);
  free(sums);
  return s;
}

/* ------------------------------------------------------- entry points
 * Slots follow the public signatures in include/zkern/norms.h. */

#define NORM_FWD(name, kind, x, w, b, y, drop)                     \
  zk_status zk_cpu_##name(zk_ctx *ctx, const zk_args *a) {         \
    ZK_CPU_CALL(ctx, name);                                        \
    zk_norm_fwd f = {kind, x, NULL, y, NULL, w, b, a->f[0], drop}; \
    return zk_cpu_norm_forward(ctx, call, &f);                     \
  }
#define NORM_BWD(name, kind, x, w, dy, dx, dw, db, drop)                     \
  zk_status zk_cpu_##name(zk_ctx *ctx, const zk_args *a) {                   \
    ZK_CPU_CALL(ctx, name);                                                  \
    zk_norm_bwd g = {kind, x, NULL, dy, NULL, dx, w, dw, db, a->f[0], drop}; \
    return zk_cpu_norm_backward(ctx, call, &g);                              \
  }

NORM_FWD(rmsnorm, ZK_NORM_RMS, &a->t[0], &a->t[1], NULL, &a->t[2], NULL)
NORM_BWD(rmsnorm_grad, ZK_NORM_RMS, &a->t[0], &a->t[1], &a->t[2], &a->t[3], &a->t[4], NULL, NULL)
NORM_FWD(rms_norm_no_weight, ZK_NORM_RMS, &a->t[0], NULL, NULL, &a->t[1], NULL)
NORM_BWD(rms_norm_no_weight_grad, ZK_NORM_RMS, &a->t[0], NULL, &a->t[1], &a->t[2], NULL, NULL, NULL)
NORM_FWD(layernorm, ZK_NORM_LAYER, &a->t[0], &a->t[1], &a->t[2], &a->t[3], NULL)
NORM_BWD(layernorm_grad, ZK_NORM_LAYER, &a->t[0], &a->t[1], &a->t[2], &a->t[3], &a->t[4], &a->t[5], NULL)
NORM_FWD(layer_norm_no_weight, ZK_NORM_LAYER, &a->t[0], NULL, NULL, &a->t[1], NULL)
NORM_BWD(layer_norm_no_weight_grad, ZK_NORM_LAYER, &a->t[0], NULL, &a->t[1], &a->t[2], NULL, NULL, NULL)
NORM_FWD(layer_norm_dropout, ZK_NORM_LAYER, &a->t[0], &a->t[1], &a->t[2], &a->t[3], &a->drop)
NORM_BWD(layer_norm_dropout_grad, ZK_NORM_LAYER, &a->t[0], &a->t[1], &a->t[2], &a->t[3], &a->t[4], &a->t[5], &a->drop)
