/* Transformer essentials on the CPU (spec §4).
 *
 * Gated MLPs (swiglu, geglu and their bias variants) are elementwise over
 * the two halves of x: gate = x[..., :D] and up = x[..., D:] are two views
 * of the same rows (up is gate shifted by D elements, same row stride), so
 * zk_cpu_map drives them like any map of two inputs.  dbias sums the f32 dx
 * of every row over the fixed row partition of zk_cpu_for_row_blocks.
 *
 * The residual + norm fusions and rms_norm_dropout are thin entry points
 * over the row engine of norms.h (h = round(x + residual) formed in f32 and
 * rounded once, the norm taken on the stored h).  Dropout is a map with the
 * §4.0 keep mask of each chunk's logical flat indices. */
#include <stdlib.h>
#include <string.h>
#include "norms.h"

/* ------------------------------------------------------------ gated MLPs */

/* silu(a), and silu'(a) from the same sigmoid. */
static inline float silu_and_deriv(float a, float *d) {
  float s = zk_sigmoid_f(a);
  *d = s * (1.0f + a * (1.0f - s));
  return a * s;
}

/* gelu_tanh(a) = a·σ(2u) (as zk_gelu_tanh_f) and its derivative from the same
 * σ: with t = tanh u = 2σ(2u) - 1, 1 - t² = 4σ(1 - σ), so
 * gelu' = ½(1 + t) + ½a(1 - t²)u' = σ + 2a·σ(1 - σ)·u'.  This vectorizes;
 * tanhf, a scalar library call, would not. */
static inline float gelu_and_deriv(float a, float *d) {
  float u = ZK_GELU_C0 * (a + ZK_GELU_C1 * a * a * a);
  float s = zk_sigmoid_f(2.0f * u);
  *d = s + 2.0f * a * s * (1.0f - s) * ZK_GELU_C0 * (1.0f + 3.0f * ZK_GELU_C1 * a * a);
  return a * s;
}

/* One gated-MLP kernel pair over n columns of f32 chunks.  fwd: ba, bb are
 * the bias of the gate and up columns, or NULL.  bwd takes a and b with any
 * bias already added (seven pointers would exceed the runtime alias checks
 * gcc versions a loop for, leaving it scalar), and may run in place (da = a,
 * db = b): each element is read before it is written. */
typedef void (*glu_fwd_fn)(float *y, const float *a, const float *b, const float *ba, const float *bb, int64_t n);
typedef void (*glu_bwd_fn)(float *da, float *db, const float *a, const float *b, const float *dy, int64_t n);

#define GLU_KERNELS(NAME, ACT, ACT_AND_DERIV)                                                                  \
  ZK_HOT static void NAME##_fwd(float *y, const float *a, const float *b, const float *ba, const float *bb,     \
                                int64_t n) {                                                                   \
    if (ba) {                                                                                                  \
      for (int64_t i = 0; i < n; i++) y[i] = ACT(a[i] + ba[i]) * (b[i] + bb[i]);                               \
    } else {                                                                                                   \
      for (int64_t i = 0; i < n; i++) y[i] = ACT(a[i]) * b[i];                                                 \
    }                                                                                                          \
  }                                                                                                            \
  ZK_HOT static void NAME##_bwd(float *da, float *db, const float *a, const float *b, const float *dy,          \
                                int64_t n) {                                                                   \
    for (int64_t i = 0; i < n; i++) {                                                                          \
      float av = a[i], bv = b[i], g = dy[i], d, v = ACT_AND_DERIV(av, &d);                                     \
      da[i] = g * bv * d;                                                                                      \
      db[i] = g * v;                                                                                           \
    }                                                                                                          \
  }

GLU_KERNELS(swiglu, zk_silu_f, silu_and_deriv)
GLU_KERNELS(geglu, zk_gelu_tanh_f, gelu_and_deriv)

typedef struct glu_kind {
  glu_fwd_fn fwd;
  glu_bwd_fn bwd;
} glu_kind;

static const glu_kind SWIGLU = {swiglu_fwd, swiglu_bwd};
static const glu_kind GEGLU = {geglu_fwd, geglu_bwd};

/* t [..., 2D] as its two halves [..., :D] and [..., D:]: views of the same
 * rows.  An absent tensor gives two absent halves. */
static void split_halves(const zk_rows *t, zk_rows half[2]) {
  half[0] = *t;
  half[0].cols = t->cols / 2;
  half[1] = half[0];
  if (zk_present(t)) half[1].data = zk_row_ptr(t, 0, half[0].cols);
}

typedef struct glu_job {
  const glu_kind *kind;
  const float *bias;     /* [2D] in f32, NULL = none */
  int64_t d;             /* D */
  /* Row-block gradients only: */
  zk_rows x[2], dx[2];   /* halves of x and of dx (dx absent: not stored) */
  const zk_rows *dy;
  int want_dbias;
} glu_job;

/* in: gate, up; out: y.  zk_cpu_map chunks never cross a row, so the
 * chunk's first column (for the bias) is its flat index mod D. */
static void glu_fwd_map(float *const *out, const float *const *in, int64_t n, uint64_t flat0, const void *params) {
  const glu_job *job = params;
  int64_t j = (int64_t)(flat0 % (uint64_t)job->d);
  const float *ba = job->bias ? job->bias + j : NULL, *bb = job->bias ? job->bias + job->d + j : NULL;
  job->kind->fwd(out[0], in[0], in[1], ba, bb, n);
}

/* Without bias.  in: gate, up, dy; out: dgate, dup. */
static void glu_bwd_map(float *const *out, const float *const *in, int64_t n, uint64_t flat0, const void *params) {
  (void)flat0;
  const glu_job *job = params;
  job->kind->bwd(out[0], out[1], in[0], in[1], in[2], n);
}

/* A [2D] bias in f32, or NULL with *s untouched when there is none. */
static float *bias_f32(const zk_call *call, const zk_rows *bias, zk_status *s) {
  if (!bias || !zk_present(bias)) return NULL;
  float *b = zk_cpu_param_f32(bias);
  if (!b) *s = zk_fail(call, ZK_ERR_OOM, "cannot allocate the f32 bias");
  return b;
}

static zk_status glu_forward(zk_ctx *ctx, const zk_call *call, const glu_kind *kind, const zk_rows *x,
                             const zk_rows *bias, const zk_rows *y) {
  zk_status s = ZK_OK;
  glu_job job = {.kind = kind, .bias = bias_f32(call, bias, &s), .d = y->cols};
  if (s != ZK_OK) return s;
  zk_rows in[2];
  split_halves(x, in);
  zk_cpu_map(ctx, 1, y, 2, in, glu_fwd_map, &job);
  free((void *)job.bias);
  return ZK_OK;
}

ZK_HOT static void add_into(float *acc, const float *v, int64_t n) {
  for (int64_t i = 0; i < n; i++) acc[i] += v[i];
}

ZK_HOT static void add_to(float *dst, const float *v, const float *w, int64_t n) {
  for (int64_t i = 0; i < n; i++) dst[i] = v[i] + w[i];
}

/* Columns per step of a bias gradient: its five buffers and the partial
 * sums' columns stay in L1 through the step's passes. */
#define GLU_STEP 512

/* Rows [r0, r1) of a bias gradient: dx step by step, and its sum into the
 * block's partial dbias (partials[k], k < 2D) when asked. */
static void glu_bwd_rows(int64_t r0, int64_t r1, float *scratch, float *partials, const void *arg) {
  const glu_job *job = arg;
  int64_t d = job->d;
  float *buf[5];
  for (int k = 0; k < 5; k++) buf[k] = scratch + k * GLU_STEP;
  for (int64_t r = r0; r < r1; r++)
    for (int64_t j = 0; j < d; j += GLU_STEP) {
      int64_t n = d - j < GLU_STEP ? d - j : GLU_STEP;
      const float *a = zk_cpu_view(&job->x[0], r, j, n, buf[0]);
      const float *b = zk_cpu_view(&job->x[1], r, j, n, buf[1]);
      const float *dy = zk_cpu_view(job->dy, r, j, n, buf[2]);
      int store = zk_present(&job->dx[0]);
      float *da = store ? zk_cpu_target(&job->dx[0], r, j, buf[3]) : buf[3];
      float *db = store ? zk_cpu_target(&job->dx[1], r, j, buf[4]) : buf[4];
      if (job->bias) { /* a + bias, b + bias in the chunk buffers (a view may already sit there) */
        add_to(buf[0], a, job->bias + j, n);
        add_to(buf[1], b, job->bias + d + j, n);
        a = buf[0], b = buf[1];
      }
      job->kind->bwd(da, db, a, b, dy, n);
      if (job->want_dbias) {
        add_into(partials + j, da, n);
        add_into(partials + d + j, db, n);
      }
      if (store) {
        zk_cpu_commit(&job->dx[0], r, j, n, da);
        zk_cpu_commit(&job->dx[1], r, j, n, db);
      }
    }
}

/* x [R, 2D], bias?, dy [R, D] -> dx? [R, 2D], dbias? [2D]. */
static zk_status glu_backward(zk_ctx *ctx, const zk_call *call, const glu_kind *kind, const zk_rows *x,
                              const zk_rows *bias, const zk_rows *dy, const zk_rows *dx, const zk_rows *dbias) {
  zk_status s = ZK_OK;
  glu_job job = {.kind = kind, .bias = bias_f32(call, bias, &s), .d = dy->cols, .dy = dy};
  if (s != ZK_OK) return s;
  zk_rows in[3], out[2];
  split_halves(x, in);
  split_halves(dx, out);
  if (!job.bias) { /* no bias, no dbias: a map */
    in[2] = *dy;
    zk_cpu_map(ctx, 2, out, 3, in, glu_bwd_map, &job);
  } else {
    /* Fixed row blocks: dbias = Σ_rows dx from the f32 values, before dx
     * is rounded. */
    memcpy(job.x, in, sizeof job.x);
    memcpy(job.dx, out, sizeof job.dx);
    job.want_dbias = dbias && zk_present(dbias);
    float *sum = malloc((size_t)(2 * job.d + 1) * sizeof(float));
    if (!sum) {
      s = zk_fail(call, ZK_ERR_OOM, "cannot allocate the dbias sums");
    } else {
      s = zk_cpu_for_row_blocks(ctx, call, x->rows, x->cols, 5 * GLU_STEP, job.want_dbias, glu_bwd_rows, &job, &sum);
      if (s == ZK_OK && job.want_dbias) zk_cpu_store(dbias, 0, 0, 2 * job.d, sum);
    }
    free(sum);
  }
  free((void *)job.bias);
  return s;
}

zk_status zk_cpu_swiglu(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, swiglu);
  return glu_forward(ctx, call, &SWIGLU, &a->t[0], NULL, &a->t[1]);
}

zk_status zk_cpu_geglu(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, geglu);
  return glu_forward(ctx, call, &GEGLU, &a->t[0], NULL, &a->t[1]);
}

zk_status zk_cpu_bias_swiglu(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, bias_swiglu);
  return glu_forward(ctx, call, &SWIGLU, &a->t[0], &a->t[1], &a->t[2]);
}

zk_status zk_cpu_bias_geglu(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, bias_geglu);
  return glu_forward(ctx, call, &GEGLU, &a->t[0], &a->t[1], &a->t[2]);
}

zk_status zk_cpu_swiglu_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, swiglu_grad);
  return glu_backward(ctx, call, &SWIGLU, &a->t[0], NULL, &a->t[1], &a->t[2], NULL);
}

zk_status zk_cpu_geglu_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, geglu_grad);
  return glu_backward(ctx, call, &GEGLU, &a->t[0], NULL, &a->t[1], &a->t[2], NULL);
}

zk_status zk_cpu_bias_swiglu_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, bias_swiglu_grad);
  return glu_backward(ctx, call, &SWIGLU, &a->t[0], &a->t[1], &a->t[2], &a->t[3], &a->t[4]);
}

zk_status zk_cpu_bias_geglu_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, bias_geglu_grad);
  return glu_backward(ctx, call, &GEGLU, &a->t[0], &a->t[1], &a->t[2], &a->t[3], &a->t[4]);
}

/* ------------------------------------------------ residual + norm fusions
 * Slots follow the public signatures (see src/api/transformer.c). */

zk_status zk_cpu_rmsnorm_residual(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, rmsnorm_residual);
  zk_norm_fwd f = {.kind = ZK_NORM_RMS, .x = &a->t[0], .x2 = &a->t[1], .weight = &a->t[2], .y = &a->t[3],
                   .h = &a->t[4], .eps = a->f[0]};
  return zk_cpu_norm_forward(ctx, call, &f);
}

zk_status zk_cpu_rmsnorm_residual_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, rmsnorm_residual_grad);
  zk_norm_bwd b = {.kind = ZK_NORM_RMS, .x = &a->t[0], .weight = &a->t[1], .dy = &a->t[2], .dh = &a->t[3],
                   .dx = &a->t[4], .dweight = &a->t[5], .eps = a->f[0]};
  return zk_cpu_norm_backward(ctx, call, &b);
}

zk_status zk_cpu_layernorm_residual(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, layernorm_residual);
  zk_norm_fwd f = {.kind = ZK_NORM_LAYER, .x = &a->t[0], .x2 = &a->t[1], .weight = &a->t[2], .bias = &a->t[3],
                   .y = &a->t[4], .h = &a->t[5], .eps = a->f[0]};
  return zk_cpu_norm_forward(ctx, call, &f);
}

zk_status zk_cpu_layernorm_residual_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, layernorm_residual_grad);
  zk_norm_bwd b = {.kind = ZK_NORM_LAYER, .x = &a->t[0], .weight = &a->t[1], .dy = &a->t[2], .dh = &a->t[3],
                   .dx = &a->t[4], .dweight = &a->t[5], .dbias = &a->t[6], .eps = a->f[0]};
  return zk_cpu_norm_backward(ctx, call, &b);
}

zk_status zk_cpu_fused_add_rmsnorm(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, fused_add_rmsnorm);
  zk_norm_fwd f = {.kind = ZK_NORM_RMS, .x = &a->t[0], .x2 = &a->t[1], .weight = &a->t[2], .y = &a->t[3],
                   .eps = a->f[0]};
  return zk_cpu_norm_forward(ctx, call, &f);
}

zk_status zk_cpu_fused_add_rmsnorm_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, fused_add_rmsnorm_grad);
  zk_norm_bwd b = {.kind = ZK_NORM_RMS, .x = &a->t[0], .x2 = &a->t[1], .weight = &a->t[2], .dy = &a->t[3],
                   .dx = &a->t[4], .dweight = &a->t[5], .eps = a->f[0]};
  return zk_cpu_norm_backward(ctx, call, &b);
}

zk_status zk_cpu_fused_add_layernorm(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, fused_add_layernorm);
  zk_norm_fwd f = {.kind = ZK_NORM_LAYER, .x = &a->t[0], .x2 = &a->t[1], .weight = &a->t[2], .bias = &a->t[3],
                   .y = &a->t[4], .eps = a->f[0]};
  return zk_cpu_norm_forward(ctx, call, &f);
}

zk_status zk_cpu_fused_add_layernorm_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, fused_add_layernorm_grad);
  zk_norm_bwd b = {.kind = ZK_NORM_LAYER, .x = &a->t[0], .x2 = &a->t[1], .weight = &a->t[2], .dy = &a->t[3],
                   .dx = &a->t[4], .dweight = &a->t[5], .dbias = &a->t[6], .eps = a->f[0]};
  return zk_cpu_norm_backward(ctx, call, &b);
}

zk_status zk_cpu_rms_norm_dropout(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, rms_norm_dropout);
  zk_norm_fwd f = {.kind = ZK_NORM_RMS, .x = &a->t[0], .weight = &a->t[1], .y = &a->t[2], .eps = a->f[0],
                   .drop = &a->drop};
  return zk_cpu_norm_forward(ctx, call, &f);
}

zk_status zk_cpu_rms_norm_dropout_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, rms_norm_dropout_grad);
  zk_norm_bwd b = {.kind = ZK_NORM_RMS, .x = &a->t[0], .weight = &a->t[1], .dy = &a->t[2], .dx = &a->t[3],
                   .dweight = &a->t[4], .eps = a->f[0], .drop = &a->drop};
  return zk_cpu_norm_backward(ctx, call, &b);
}

/* ---------------------------------------------------------------- dropout */

ZK_HOT static void scale_kept(float *y, const float *x, const uint8_t *keep, float s, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = keep[i] ? x[i] * s : 0.0f;
}

/* in: x; out: y.  flat0 is the logical row-major index of the chunk. */
static void dropout_map(float *const *out, const float *const *in, int64_t n, uint64_t flat0, const void *params) {
  const zk_dropout_cfg *d = params;
  uint8_t keep[ZK_CHUNK];
  zk_cpu_dropout_keep(d, flat0, n, keep);
  scale_kept(out[0], in[0], keep, d->scale, n);
}

/* p = 0 is the identity bit for bit (even NaN payloads): a plain copy. */
static void copy_rows(const zk_rows *x, const zk_rows *y) {
  size_t bytes = (size_t)x->cols * (size_t)zk_dtype_size(x->dtype);
  for (int64_t r = 0; r < x->rows; r++) {
    const char *src = zk_row_ptr(x, r, 0);
    char *dst = zk_row_ptr(y, r, 0);
    if (dst != src) memmove(dst, src, bytes);
  }
}

static zk_status dropout(zk_ctx *ctx, const zk_args *a) {
  if (a->drop.p == 0.0f) {
    copy_rows(&a->t[0], &a->t[1]);
  } else {
    zk_cpu_map(ctx, 1, &a->t[1], 1, &a->t[0], dropout_map, &a->drop);
  }
  return ZK_OK;
}

zk_status zk_cpu_dropout(zk_ctx *ctx, const zk_args *a) { return dropout(ctx, a); }

/* Bitwise zk_dropout(dy): the same map on dy. */
zk_status zk_cpu_dropout_grad(zk_ctx *ctx, const zk_args *a) { return dropout(ctx, a); }
