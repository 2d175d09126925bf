/* The vlsp family on the CPU (spec §5).
 *
 * silu_mul_residual, the depth gate and their grads are elementwise maps
 * (zk_cpu_map: f32 tensors in place, f16/bf16 through L1-sized chunks).
 * fused_recurrent_step and grpo_advantage_norm are row kernels
 * (zk_cpu_for_rows): a row is read once for its statistic, stays in cache,
 * and is read again for the output.  The recurrent step's VJP sums dw_norm
 * over rows through zk_cpu_for_row_blocks (a fixed row partition, partials
 * combined in block order), so nothing depends on the thread count.  The
 * scalar math is that of src/common/zk_math.h.
 *
 * `omp simd` on the elementwise loops: outputs may exactly alias inputs and
 * element i of every input is read before element i of an output is
 * written; without it gcc guards the vector loop with an overlap test that
 * an exact alias fails.  Entry points follow the slots of src/api/vlsp.c. */
#include <math.h>
#include <stdlib.h>
#include "cpu.h"

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* ------------------------------------------------ silu·mul + residual */

ZK_HOT static void map_silu_mul_residual(float *const *out, const float *const *in, int64_t n, uint64_t flat0,
                                         const void *params) {
  const float *g = in[0], *u = in[1], *res = in[2];
  float *y = out[0];
  (void)flat0, (void)params;
#pragma omp simd
  for (int64_t i = 0; i < n; i++) y[i] = zk_silu_f(g[i]) * u[i] + res[i];
}

zk_status zk_cpu_silu_mul_residual(zk_ctx *ctx, const zk_args *args) {
  zk_cpu_map(ctx, 1, &args->t[3], 3, &args->t[0], map_silu_mul_residual, NULL);
  return ZK_OK;
}

/* The outputs present, in slot order (dgate, dup, dresidual). */
typedef struct silu_residual_want {
  int dgate, dup, dresidual;
} silu_residual_want;

/* One loop per combination, each output written only after the element's
 * inputs are read, so whichever output aliases dy is safe. */
ZK_HOT static void map_silu_mul_residual_grad(float *const *out, const float *const *in, int64_t n, uint64_t flat0,
                                              const void *params) {
  const silu_residual_want *w = params;
  const float *g = in[0], *u = in[1], *dy = in[2];
  float *dg = w->dgate ? out[0] : NULL;
  float *du = w->dup ? out[w->dgate] : NULL;
  float *dr = w->dresidual ? out[w->dgate + w->dup] : NULL;
  (void)flat0;
  if (dg && du) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
      float gi = g[i], ui = u[i], d = dy[i];
      dg[i] = d * ui * zk_silu_deriv_f(gi);
      du[i] = d * zk_silu_f(gi);
      if (dr) dr[i] = d;
    }
  } else if (dg) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
      float d = dy[i];
      dg[i] = d * u[i] * zk_silu_deriv_f(g[i]);
      if (dr) dr[i] = d;
    }
  } else if (du) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
      float d = dy[i];
      du[i] = d * zk_silu_f(g[i]);
      if (dr) dr[i] = d;
    }
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) dr[i] = dy[i];
  }
}

zk_status zk_cpu_silu_mul_residual_grad(zk_ctx *ctx, const zk_args *args) {
  silu_residual_want w = {zk_present(&args->t[3]), zk_present(&args->t[4]), zk_present(&args->t[5])};
  zk_rows out[3];
  int n_out = 0;
  for (int k = 3; k < 6; k++)
    if (zk_present(&args->t[k])) out[n_out++] = args->t[k];
  zk_cpu_map(ctx, n_out, out, 3, &args->t[0], map_silu_mul_residual_grad, &w);
  return ZK_OK;
}

/* ------------------------------------------------------------ depth gate */

typedef struct depth_gate {
  float k;
  int ste;
} depth_gate;

ZK_HOT static void map_depth_gate(float *const *out, const float *const *in, int64_t n, uint64_t flat0,
                                  const void *params) {
  const depth_gate *p = params;
  const float *x = in[0];
  float *y = out[0], k = p->k;
  (void)flat0;
  if (p->ste) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) y[i] = zk_depth_gate_f(x[i], k, 1);
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) y[i] = zk_depth_gate_f(x[i], k, 0);
  }
}

zk_status zk_cpu_depth_gate_sigmoid(zk_ctx *ctx, const zk_args *args) {
  depth_gate p = {(float)args->i[0], args->i[1] != 0};
  zk_cpu_map(ctx, 1, &args->t[1], 1, &args->t[0], map_depth_gate, &p);
  return ZK_OK;
}

/* dx = dy·k·σ'(x), for both modes. */
ZK_HOT static void map_depth_gate_grad(float *const *out, const float *const *in, int64_t n, uint64_t flat0,
                                       const void *params) {
  const float *x = in[0], *dy = in[1], k = ((const depth_gate *)params)->k;
  float *dx = out[0];
  (void)flat0;
#pragma omp simd
  for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * k * zk_sigmoid_deriv_f(x[i]);
}

zk_status zk_cpu_depth_gate_sigmoid_grad(zk_ctx *ctx, const zk_args *args) {
  depth_gate p = {(float)args->i[0], 0};
  zk_cpu_map(ctx, 1, &args->t[2], 2, &args->t[0], map_depth_gate_grad, &p);
  return ZK_OK;
}

/* ------------------------------------------------ GRPO advantages
 * Two passes over the group on the shifted data d = r - r0 (exact for
 * nearby values): m = Σd/G, then Σ(d - m)²; A = (d - m)/denominator.  A
 * constant group has d - m = 0 exactly, hence A = 0, even with eps = 0
 * (where 0/0 is taken as 0).  Both sums are fixed-order pairwise sums. */

#define LANES 16

typedef struct shifted {
  float r0, m;
} shifted;

static float fold_lanes(float *acc) {
  for (int w = LANES / 2; w; w >>= 1)
    for (int l = 0; l < w; l++) acc[l] += acc[l + w];
  return acc[0];
}

ZK_HOT static float block_sum_shifted(const float *v, int64_t n, const void *arg) {
  const float r0 = ((const shifted *)arg)->r0;
  float acc[LANES] = {0};
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int l = 0; l < LANES; l++) acc[l] += v[i + l] - r0;
  for (int l = 0; i < n; i++, l++) acc[l] += v[i] - r0;
  return fold_lanes(acc);
}

ZK_HOT static float block_sum_squares(const float *v, int64_t n, const void *arg) {
  const float r0 = ((const shifted *)arg)->r0, m = ((const shifted *)arg)->m;
  float acc[LANES] = {0};
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int l = 0; l < LANES; l++) {
      float d = (v[i + l] - r0) - m;
      acc[l] += d * d;
    }
  for (int l = 0; i < n; i++, l++) {
    float d = (v[i] - r0) - m;
    acc[l] += d * d;
  }
  return fold_lanes(acc);
}

ZK_HOT static void advantages(float *a, const float *v, int64_t n, shifted s, float denom) {
#pragma omp simd
  for (int64_t j = 0; j < n; j++) {
    float d = (v[j] - s.r0) - s.m;
    a[j] = d == 0.0f && denom == 0.0f ? 0.0f : d / denom;
  }
}

typedef struct grpo_job {
  const zk_args *a;
  float eps;
  int ddof, add_to_std;
} grpo_job;

static void grpo_row(int64_t r, float *scratch, const void *arg) {
  const grpo_job *job = arg;
  const zk_rows *x = &job->a->t[0], *adv = &job->a->t[1];
  int64_t n = x->cols;
  const float *v = zk_cpu_view(x, r, 0, n, scratch);
  shifted s = {v[0], 0.0f};
  s.m = zk_cpu_pairwise(block_sum_shifted, v, n, &s) / (float)n;
  float var = n - job->ddof > 0 ? zk_cpu_pairwise(block_sum_squares, v, n, &s) / (float)(n - job->ddof) : 0.0f;
  float denom = job->add_to_std ? sqrtf(var) + job->eps : sqrtf(var + job->eps);
  float *out = zk_cpu_target(adv, r, 0, scratch + n);
  advantages(out, v, n, s, denom);
  zk_cpu_commit(adv, r, 0, n, out);
}

zk_status zk_cpu_grpo_advantage_norm(zk_ctx *ctx, const zk_args *args) {
  ZK_CPU_CALL(ctx, grpo_advantage_norm);
  grpo_job job = {args, args->f[0], (int)args->i[0], args->i[1] == 1};
  return zk_cpu_for_rows(ctx, call, args->t[0].rows, args->t[0].cols, 2 * args->t[0].cols, grpo_row, &job);
}

/* ------------------------------------------------ fused recurrent step
 * r = (Σh²/D + eps)^-1/2 from a fixed-order dot (as RMSNorm's), then
 * out = h + α·silu(h·r·w)·gate in column chunks. */

static float rms_factor(const float *h, int64_t n, float eps) {
  return 1.0f / sqrtf(zk_cpu_dot(h, h, n) * (1.0f / (float)n) + eps);
}

/* out may be h's own memory (alias h): element j is read before it is written. */
ZK_HOT static void recurrent_chunk(float *out, const float *h, const float *gate, const float *w, int64_t n, float rf,
                                   float alpha) {
#pragma omp simd
  for (int64_t j = 0; j < n; j++) out[j] = h[j] + alpha * zk_silu_f(h[j] * rf * w[j]) * gate[j];
}

typedef struct recurrent_job {
  const zk_args *a;
  const float *w;
} recurrent_job;

static void recurrent_row(int64_t r, float *scratch, const void *arg) {
  const recurrent_job *job = arg;
  const zk_rows *h = &job->a->t[0], *gate = &job->a->t[2], *out = &job->a->t[3];
  int64_t n = h->cols;
  float alpha = job->a->f[0];
  float *gbuf = scratch + n, *obuf = scratch + n + ZK_CHUNK;
  const float *hv = zk_cpu_view(h, r, 0, n, scratch);
  float rf = rms_factor(hv, n, job->a->f[1]);
  for (int64_t j = 0; j < n; j += ZK_CHUNK) {
    int64_t m = min64(n - j, ZK_CHUNK);
    const float *gv = zk_cpu_view(gate, r, j, m, gbuf);
    float *o = zk_cpu_target(out, r, j, obuf);
    recurrent_chunk(o, hv + j, gv, job->w + j, m, rf, alpha);
    zk_cpu_commit(out, r, j, m, o);
  }
}

zk_status zk_cpu_fused_recurrent_step(zk_ctx *ctx, const zk_args *args) {
  ZK_CPU_CALL(ctx, fused_recurrent_step);
  float *w = zk_cpu_param_f32(&args->t[1]);
  if (!w) return zk_fail(call, ZK_ERR_OOM, "cannot allocate the f32 w_norm");
  recurrent_job job = {args, w};
  int64_t n = args->t[0].cols;
  zk_status s = zk_cpu_for_rows(ctx, call, args->t[0].rows, n, n + 2 * ZK_CHUNK, recurrent_row, &job);
  free(w);
  return s;
}

/* The VJP, row by row: ĥ = h·r, n = ĥ·w, dn = dout·α·gate·silu'(n);
 * dgate = dout·α·silu(n); g = dn·w, c = Σ g·ĥ / D, dh = dout + r·(g -
 * ĥ·c); the block's partial dw_norm += dn·ĥ. */
ZK_HOT static void recurrent_grad_terms(float *xh, float *dn, float *g, float *dgate, const float *h,
                                        const float *gate, const float *dout, const float *w, int64_t n, float rf,
                                        float alpha) {
#pragma omp simd
  for (int64_t j = 0; j < n; j++) {
    float hat = h[j] * rf, nn = hat * w[j], da = dout[j] * alpha;
    float d = da * gate[j] * zk_silu_deriv_f(nn);
    xh[j] = hat;
    dn[j] = d;
    g[j] = d * w[j];
    dgate[j] = da * zk_silu_f(nn);
  }
}

ZK_HOT static void recurrent_dh(float *dh, const float *dout, const float *g, const float *xh, int64_t n, float rf,
                                float c) {
#pragma omp simd
  for (int64_t j = 0; j < n; j++) dh[j] = dout[j] + rf * (g[j] - xh[j] * c);
}

ZK_HOT static void add_product(float *acc, const float *a, const float *b, int64_t n) {
  for (int64_t j = 0; j < n; j++) acc[j] += a[j] * b[j];
}

/* Scratch per thread: 9 rows (h, gate, dout views; ĥ, dn, g; dgate and dh
 * outputs; spare). */
#define GRAD_SCRATCH(n) (9 * (n))

static void recurrent_grad_rows(int64_t r0, int64_t r1, float *scratch, float *partial, const void *arg) {
  const recurrent_job *job = arg;
  const zk_args *a = job->a;
  const zk_rows *h = &a->t[0], *gate = &a->t[2], *dout = &a->t[3], *dh = &a->t[4], *dw = &a->t[5], *dg = &a->t[6];
  int64_t n = h->cols;
  float alpha = a->f[0], eps = a->f[1];
  float *hb = scratch, *gb = scratch + n, *db = scratch + 2 * n, *xh = scratch + 3 * n, *dn = scratch + 4 * n,
        *g = scratch + 5 * n, *dgb = scratch + 6 * n, *dhb = scratch + 7 * n;
  for (int64_t r = r0; r < r1; r++) {
    const float *hv = zk_cpu_view(h, r, 0, n, hb), *gv = zk_cpu_view(gate, r, 0, n, gb);
    const float *dv = zk_cpu_view(dout, r, 0, n, db);
    float rf = rms_factor(hv, n, eps);
    float *dgate = zk_present(dg) ? zk_cpu_target(dg, r, 0, dgb) : dgb;
    recurrent_grad_terms(xh, dn, g, dgate, hv, gv, dv, job->w, n, rf, alpha);
    if (zk_present(dg)) zk_cpu_commit(dg, r, 0, n, dgate);
    if (zk_present(dw)) add_product(partial, dn, xh, n);
    if (!zk_present(dh)) continue;
    float c = zk_cpu_dot(g, xh, n) * (1.0f / (float)n);
    if (n == 1 && isfinite(xh[0])) {
      /* One element: g - ĥ·c = g·(1 - ĥ²) = g·eps·r² exactly; the general
       * form gets there by cancellation (as RMSNorm's VJP). */
      g[0] *= eps * rf * rf;
      c = 0.0f;
    }
    float *out = zk_cpu_target(dh, r, 0, dhb);
    recurrent_dh(out, dv, g, xh, n, rf, c);
    zk_cpu_commit(dh, r, 0, n, out);
  }
}

zk_status zk_cpu_fused_recurrent_step_grad(zk_ctx *ctx, const zk_args *args) {
  ZK_CPU_CALL(ctx, fused_recurrent_step_grad);
  const zk_rows *dw = &args->t[5];
  int64_t n = args->t[0].cols;
  float *w = zk_cpu_param_f32(&args->t[1]);
  float *sum = zk_present(dw) ? malloc((size_t)n * sizeof(float)) : NULL;
  zk_status s = ZK_OK;
  if (!w || (zk_present(dw) && !sum)) {
    s = zk_fail(call, ZK_ERR_OOM, "cannot allocate the f32 w_norm and dw_norm");
  } else {
    recurrent_job job = {args, w};
    s = zk_cpu_for_row_blocks(ctx, call, args->t[0].rows, n, GRAD_SCRATCH(n), 1, recurrent_grad_rows, &job, &sum);
    if (s == ZK_OK && zk_present(dw)) zk_cpu_store(dw, 0, 0, n, sum);
  }
  free(w);
  free(sum);
  return s;
}
