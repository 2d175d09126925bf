/* Norms on the CPU (spec §3), through the row engine of norms.h that the
 * transformer family's residual and dropout fusions use too.
 *
 * Per row: load to f32 (forming h = round(x + x2) first where asked), one
 * fixed-order pass for the statistics (RMS: Σx²; LayerNorm: shifted mean,
 * then Σ(x-μ)², never E[x²]-μ²), then the scaled output.  The row stays in
 * L1/L2 between passes, so DRAM sees one read and one write. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "norms.h"

typedef struct row_stats {
  float mean;  /* 0 for RMS */
  float rstd;  /* r or rstd */
} row_stats;

static row_stats stats_of(zk_norm_kind kind, const float *v, int64_t n, float eps, float *tmp) {
  row_stats s = {0.0f, 0.0f};
  if (kind == ZK_NORM_RMS) {
    s.rstd = 1.0f / sqrtf(zk_cpu_dot(v, v, n) / (float)n + eps);
    return s;
  }
  /* Shifted mean: a constant row gives x - μ = 0 exactly. */
  float x0 = v[0];
  for (int64_t j = 0; j < n; j++) tmp[j] = v[j] - x0;
  s.mean = x0 + zk_cpu_sum(tmp, n) / (float)n;
  for (int64_t j = 0; j < n; j++) tmp[j] = v[j] - s.mean;
  float var = zk_cpu_dot(tmp, tmp, n) / (float)n;
  s.rstd = 1.0f / sqrtf((var > 0.0f ? var : 0.0f) + eps);
  return s;
}

/* Loads row r of x (or of h = round(x + x2)) as f32 into v. */
static void load_input(const zk_rows *x, const zk_rows *x2, int64_t r, float *v, float *tmp) {
  int64_t n = x->cols;
  zk_cpu_load(x, r, 0, n, v);
  if (!x2) return;
  zk_cpu_load(x2, r, 0, n, tmp);
  for (int64_t j = 0; j < n; j++) v[j] += tmp[j];
  zk_cpu_round_trip(x->dtype, v, n);
}

typedef struct fwd_job {
  const zk_norm_fwd *f;
  const float *w, *b;
} fwd_job;

ZK_HOT static void scale_row(float *out, const float *v, int64_t n, row_stats s, const float *w, const float *b) {
  if (w && b) {
    for (int64_t j = 0; j < n; j++) out[j] = (v[j] - s.mean) * s.rstd * w[j] + b[j];
  } else if (w) {
    for (int64_t j = 0; j < n; j++) out[j] = (v[j] - s.mean) * s.rstd * w[j];
  } else if (b) {
    for (int64_t j = 0; j < n; j++) out[j] = (v[j] - s.mean) * s.rstd + b[j];
  } else {
    for (int64_t j = 0; j < n; j++) out[j] = (v[j] - s.mean) * s.rstd;
  }
}

ZK_HOT static void drop_row(float *out, int64_t n, const uint8_t *keep, float scale) {
  for (int64_t j = 0; j < n; j++) out[j] = keep[j] ? out[j] * scale : 0.0f;
}

static void forward_row(int64_t r, float *scratch, const void *arg) {
  const fwd_job *job = arg;
  const zk_norm_fwd *f = job->f;
  int64_t n = f->x->cols;
  float *v = scratch, *tmp = scratch + n, *out = scratch + 2 * n;
  load_input(f->x, f->x2, r, v, tmp);
  if (f->h) zk_cpu_store(f->h, r, 0, n, v);
  row_stats s = stats_of(f->kind, v, n, f->eps, tmp);
  scale_row(out, v, n, s, job->w, job->b);
  if (f->drop) {
    uint8_t *keep = (uint8_t *)(scratch + 3 * n);
    zk_cpu_dropout_keep(f->drop, (uint64_t)(r * n), n, keep);
    drop_row(out, n, keep, f->drop->scale);
  }
  zk_cpu_store(f->y, r, 0, n, out);
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
    fwd_job job = {f, w, b};
    s = zk_cpu_for_rows(ctx, call, f->x->rows, n, 4 * n + 16, forward_row, &job);
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
} bwd_job;

/* Rows [r0, r1): dx per row, and the block's partial Σ dy·x̂ and Σ dy. */
static void backward_rows(int64_t r0, int64_t r1, float *scratch, float *partials, const void *arg) {
  const bwd_job *job = arg;
  const zk_norm_bwd *b = job->b;
  int64_t n = b->x->cols;
  float *v = scratch, *tmp = scratch + n, *g = scratch + 2 * n, *dy = scratch + 3 * n;
  float *dw = partials, *db = partials + n;
  uint8_t *keep = (uint8_t *)(scratch + 4 * n);
  for (int64_t r = r0; r < r1; r++) {
    load_input(b->x, b->x2, r, v, tmp);
    row_stats s = stats_of(b->kind, v, n, b->eps, tmp);
    for (int64_t j = 0; j < n; j++) v[j] = (v[j] - s.mean) * s.rstd; /* x̂ */
    zk_cpu_load(b->dy, r, 0, n, dy);
    if (b->drop) {
      zk_cpu_dropout_keep(b->drop, (uint64_t)(r * n), n, keep);
      drop_row(dy, n, keep, b->drop->scale);
    }
    if (job->want_dw)
      for (int64_t j = 0; j < n; j++) dw[j] += dy[j] * v[j];
    if (job->want_db)
      for (int64_t j = 0; j < n; j++) db[j] += dy[j];
    if (!b->dx) continue;
    if (job->w) {
      for (int64_t j = 0; j < n; j++) g[j] = dy[j] * job->w[j];
    } else {
      memcpy(g, dy, (size_t)n * sizeof(float));
    }
    float inv_n = 1.0f / (float)n;
    float c_xhat = zk_cpu_dot(g, v, n) * inv_n;
    float c_mean = b->kind == ZK_NORM_LAYER ? zk_cpu_sum(g, n) * inv_n : 0.0f;
    for (int64_t j = 0; j < n; j++) g[j] = s.rstd * (g[j] - c_mean - v[j] * c_xhat);
    if (b->dh) {
      zk_cpu_load(b->dh, r, 0, n, tmp);
      for (int64_t j = 0; j < n; j++) g[j] += tmp[j];
    }
    zk_cpu_store(b->dx, r, 0, n, g);
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
    bwd_job job = {&local, w, dwt != NULL, dbt != NULL};
    float *out[2] = {dwt ? sums : NULL, dbt ? sums + n : NULL};
    s = zk_cpu_for_row_blocks(ctx, call, b->x->rows, n, 5 * n + 16, 2, backward_rows, &job, out);
    if (s == ZK_OK && dwt) zk_cpu_store(dwt, 0, 0, n, sums);
    if (s == ZK_OK && dbt) zk_cpu_store(dbt, 0, 0, n, sums + n);
  }
  free(w);
  free(sums);
  return s;
}

/* ------------------------------------------------------- entry points
 * Slots follow the public signatures in include/zkern/norms.h. */

zk_status zk_cpu_rmsnorm(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, rmsnorm);
  zk_norm_fwd f = {ZK_NORM_RMS, &a->t[0], NULL, &a->t[2], NULL, &a->t[1], NULL, a->f[0], NULL};
  return zk_cpu_norm_forward(ctx, call, &f);
}

zk_status zk_cpu_rmsnorm_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, rmsnorm_grad);
  zk_norm_bwd b = {ZK_NORM_RMS, &a->t[0], NULL, &a->t[2], NULL, &a->t[3], &a->t[1], &a->t[4], NULL, a->f[0], NULL};
  return zk_cpu_norm_backward(ctx, call, &b);
}

zk_status zk_cpu_rms_norm_no_weight(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, rms_norm_no_weight);
  zk_norm_fwd f = {ZK_NORM_RMS, &a->t[0], NULL, &a->t[1], NULL, NULL, NULL, a->f[0], NULL};
  return zk_cpu_norm_forward(ctx, call, &f);
}

zk_status zk_cpu_rms_norm_no_weight_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, rms_norm_no_weight_grad);
  zk_norm_bwd b = {ZK_NORM_RMS, &a->t[0], NULL, &a->t[1], NULL, &a->t[2], NULL, NULL, NULL, a->f[0], NULL};
  return zk_cpu_norm_backward(ctx, call, &b);
}

zk_status zk_cpu_layernorm(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, layernorm);
  zk_norm_fwd f = {ZK_NORM_LAYER, &a->t[0], NULL, &a->t[3], NULL, &a->t[1], &a->t[2], a->f[0], NULL};
  return zk_cpu_norm_forward(ctx, call, &f);
}

zk_status zk_cpu_layernorm_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, layernorm_grad);
  zk_norm_bwd b = {ZK_NORM_LAYER, &a->t[0], NULL, &a->t[2], NULL, &a->t[3], &a->t[1], &a->t[4], &a->t[5], a->f[0], NULL};
  return zk_cpu_norm_backward(ctx, call, &b);
}

zk_status zk_cpu_layer_norm_no_weight(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, layer_norm_no_weight);
  zk_norm_fwd f = {ZK_NORM_LAYER, &a->t[0], NULL, &a->t[1], NULL, NULL, NULL, a->f[0], NULL};
  return zk_cpu_norm_forward(ctx, call, &f);
}

zk_status zk_cpu_layer_norm_no_weight_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, layer_norm_no_weight_grad);
  zk_norm_bwd b = {ZK_NORM_LAYER, &a->t[0], NULL, &a->t[1], NULL, &a->t[2], NULL, NULL, NULL, a->f[0], NULL};
  return zk_cpu_norm_backward(ctx, call, &b);
}

zk_status zk_cpu_layer_norm_dropout(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, layer_norm_dropout);
  zk_norm_fwd f = {ZK_NORM_LAYER, &a->t[0], NULL, &a->t[3], NULL, &a->t[1], &a->t[2], a->f[0], &a->drop};
  return zk_cpu_norm_forward(ctx, call, &f);
}

zk_status zk_cpu_layer_norm_dropout_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, layer_norm_dropout_grad);
  zk_norm_bwd b = {ZK_NORM_LAYER, &a->t[0], NULL, &a->t[2], NULL, &a->t[3], &a->t[1], &a->t[4], &a->t[5], a->f[0], &a->drop};
  return zk_cpu_norm_backward(ctx, call, &b);
}
