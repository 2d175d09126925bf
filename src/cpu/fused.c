/* Fused elementwise ops on the CPU (spec §9).  Every forward is one
 * elementwise map through zk_cpu_map: f32 tensors are read and written in
 * place (one read of each input, one write), f16/bf16 go through L1-sized
 * f32 chunks.  add, mul and add_bias are one f32 operation each, rounded
 * once on the store: the same bits as the CUDA backend.  The bias grads sum
 * dbias over rows through zk_cpu_for_row_blocks (a fixed row partition,
 * partials combined in block order), so dbias never depends on the thread
 * count.  The math is the shared scalar code of src/common/zk_math.h.
 *
 * Entry points follow the slots of src/api/fused.c. */
#include <stdlib.h>
#include "cpu.h"

/* `omp simd` on every loop: outputs may exactly alias inputs (y = a,
 * dx = dy, ...).  Element i of every input is read before element i of an
 * output is written and no element depends on another, so the lanes are
 * independent; without the pragma gcc guards the vector loop with an
 * overlap test that an exact alias fails, and runs the scalar loop. */

/* ------------------------------------------------ a, b -> y = EXPR(a, b) */

#define ZK_FUSED_BINARY(name, EXPR)                                                                    \
  ZK_HOT static void map_##name(float *const *out, const float *const *in, int64_t n, uint64_t flat0,  \
                                const void *params) {                                                  \
    const float *as = in[0], *bs = in[1];                                                              \
    float *y = out[0];                                                                                 \
    (void)flat0, (void)params;                                                                         \
    _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {                                              \
      float a = as[i], b = bs[i];                                                                      \
      y[i] = (EXPR);                                                                                   \
    }                                                                                                  \
  }                                                                                                    \
  zk_status zk_cpu_##name(zk_ctx *ctx, const zk_args *args) {                                          \
    zk_cpu_map(ctx, 1, &args->t[2], 2, &args->t[0], map_##name, NULL);                                 \
    return ZK_OK;                                                                                      \
  }

ZK_FUSED_BINARY(add, a + b)
ZK_FUSED_BINARY(mul, a * b)
ZK_FUSED_BINARY(silu_mul_grad, zk_silu_f(a) * b)

/* ------------------------------------------------------------ bias ops
 * v = x + bias_c in f32; y = ACT(v) and dx = dy·ACT'(v).  A map chunk never
 * spans two rows, so its first column is flat0 mod C. */

typedef struct bias_map {
  const float *bias; /* [C] in f32 */
  int64_t cols;
} bias_map;

#define ZK_IDENTITY(v) (v)

#define ZK_FUSED_BIAS_FWD(name, ACT)                                                                   \
  ZK_HOT static void map_##name(float *const *out, const float *const *in, int64_t n, uint64_t flat0,  \
                                const void *params) {                                                  \
    const bias_map *p = params;                                                                        \
    const float *xs = in[0], *bias = p->bias + flat0 % (uint64_t)p->cols;                              \
    float *y = out[0];                                                                                 \
    _Pragma("omp simd") for (int64_t i = 0; i < n; i++) y[i] = ACT(xs[i] + bias[i]);                   \
  }                                                                                                    \
  zk_status zk_cpu_##name(zk_ctx *ctx, const zk_args *args) {                                          \
    ZK_CPU_CALL(ctx, name);                                                                            \
    return bias_forward(ctx, call, args, map_##name);                                                  \
  }

static zk_status bias_forward(zk_ctx *ctx, const zk_call *call, const zk_args *a, zk_map_fn fn) {
  float *bias = zk_cpu_param_f32(&a->t[1]);
  if (!bias) return zk_fail(call, ZK_ERR_OOM, "cannot allocate the f32 bias");
  bias_map p = {bias, a->t[0].cols};
  zk_cpu_map(ctx, 1, &a->t[2], 1, &a->t[0], fn, &p);
  free(bias);
  return ZK_OK;
}

ZK_FUSED_BIAS_FWD(add_bias, ZK_IDENTITY)
ZK_FUSED_BIAS_FWD(bias_gelu_tanh, zk_gelu_tanh_f)
ZK_FUSED_BIAS_FWD(bias_silu, zk_silu_f)

/* dx [n] = dy·ACT'(x + bias) over a chunk of one row. */
typedef void (*bias_dx_fn)(float *dx, const float *x, const float *dy, const float *bias, int64_t n);

typedef struct grad_job {
  const zk_args *a;
  const float *bias;
  bias_dx_fn dx;
} grad_job;

ZK_HOT static void add_into(float *acc, const float *v, int64_t n) {
  for (int64_t i = 0; i < n; i++) acc[i] += v[i];
}

/* Rows [r0, r1) in chunks of columns: dx (into the output, or scratch when
 * dx is absent), and the f32 dx before rounding summed into the block's
 * partial dbias in row order. */
static void grad_rows(int64_t r0, int64_t r1, float *scratch, float *partial, const void *arg) {
  const grad_job *job = arg;
  const zk_rows *x = &job->a->t[0], *dy = &job->a->t[2], *dx = &job->a->t[3];
  int has_dx = zk_present(dx);
  float *xbuf = scratch, *dybuf = scratch + ZK_CHUNK, *dxbuf = scratch + 2 * ZK_CHUNK;
  for (int64_t r = r0; r < r1; r++)
    for (int64_t j = 0; j < x->cols; j += ZK_CHUNK) {
      int64_t n = x->cols - j < ZK_CHUNK ? x->cols - j : ZK_CHUNK;
      const float *xv = zk_cpu_view(x, r, j, n, xbuf), *dyv = zk_cpu_view(dy, r, j, n, dybuf);
      float *g = has_dx ? zk_cpu_target(dx, r, j, dxbuf) : dxbuf;
      job->dx(g, xv, dyv, job->bias + j, n);
      add_into(partial + j, g, n);
      if (has_dx) zk_cpu_commit(dx, r, j, n, g);
    }
}

/* dx alone is a plain map over (x, dy); with dbias, row blocks. */
static zk_status bias_grad(zk_ctx *ctx, const zk_call *call, const zk_args *a, bias_dx_fn dx, zk_map_fn map) {
  const zk_rows *dbias = &a->t[4];
  int64_t C = a->t[0].cols;
  float *bias = zk_cpu_param_f32(&a->t[1]);
  float *sum = zk_present(dbias) ? malloc((size_t)C * sizeof(float)) : NULL;
  zk_status s = ZK_OK;
  if (!bias || (zk_present(dbias) && !sum)) {
    s = zk_fail(call, ZK_ERR_OOM, "cannot allocate the f32 bias and dbias");
  } else if (!zk_present(dbias)) {
    const zk_rows in[2] = {a->t[0], a->t[2]};
    bias_map p = {bias, C};
    zk_cpu_map(ctx, 1, &a->t[3], 2, in, map, &p);
  } else {
    grad_job job = {a, bias, dx};
    s = zk_cpu_for_row_blocks(ctx, call, a->t[0].rows, C, 3 * ZK_CHUNK, 1, grad_rows, &job, &sum);
    if (s == ZK_OK) zk_cpu_store(dbias, 0, 0, C, sum);
  }
  free(bias);
  free(sum);
  return s;
}

#define ZK_FUSED_BIAS_GRAD(name, DERIV)                                                                \
  ZK_HOT static void dx_##name(float *dx, const float *x, const float *dy, const float *bias, int64_t n) { \
    _Pragma("omp simd") for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * DERIV(x[i] + bias[i]);         \
  }                                                                                                    \
  static void map_##name##_grad(float *const *out, const float *const *in, int64_t n, uint64_t flat0,  \
                                const void *params) {                                                  \
    const bias_map *p = params;                                                                        \
    dx_##name(out[0], in[0], in[1], p->bias + flat0 % (uint64_t)p->cols, n);                           \
  }                                                                                                    \
  zk_status zk_cpu_##name##_grad(zk_ctx *ctx, const zk_args *args) {                                   \
    ZK_CPU_CALL(ctx, name##_grad);                                                                     \
    return bias_grad(ctx, call, args, dx_##name, map_##name##_grad);                                   \
  }

ZK_FUSED_BIAS_GRAD(bias_gelu_tanh, zk_gelu_tanh_deriv_f)
ZK_FUSED_BIAS_GRAD(bias_silu, zk_silu_deriv_f)

/* ------------------------------------------------ silu·mul's VJP
 * da = dy·b·silu'(a), db = dy·silu(a).  Absent outputs are left out of the
 * map; when both are wanted one loop writes both, so either may alias dy. */

typedef struct silu_mul_want {
  int da, db;
} silu_mul_want;

ZK_HOT static void map_silu_mul_grad_grad(float *const *out, const float *const *in, int64_t n, uint64_t flat0,
                                          const void *params) {
  const silu_mul_want *w = params;
  const float *as = in[0], *bs = in[1], *dys = in[2];
  (void)flat0;
  if (w->da && w->db) {
    float *da = out[0], *db = out[1];
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
      float a = as[i], b = bs[i], dy = dys[i];
      da[i] = dy * b * zk_silu_deriv_f(a);
      db[i] = dy * zk_silu_f(a);
    }
  } else if (w->da) {
    float *da = out[0];
#pragma omp simd
    for (int64_t i = 0; i < n; i++) da[i] = dys[i] * bs[i] * zk_silu_deriv_f(as[i]);
  } else {
    float *db = out[0];
#pragma omp simd
    for (int64_t i = 0; i < n; i++) db[i] = dys[i] * zk_silu_f(as[i]);
  }
}

zk_status zk_cpu_silu_mul_grad_grad(zk_ctx *ctx, const zk_args *args) {
  silu_mul_want w = {zk_present(&args->t[3]), zk_present(&args->t[4])};
  zk_rows out[2];
  int n_out = 0;
  if (w.da) out[n_out++] = args->t[3];
  if (w.db) out[n_out++] = args->t[4];
  zk_cpu_map(ctx, n_out, out, 3, &args->t[0], map_silu_mul_grad_grad, &w);
  return ZK_OK;
}
