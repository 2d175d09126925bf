/* Linear layers with a fused epilogue on the CPU (spec §10).
 *
 * The GEMM z = x·wᵀ is OpenBLAS sgemm (row-major, w transposed), never a
 * hand-written loop.  f32 operands are passed in place with their row
 * strides as leading dimensions; f16/bf16 operands (and f32 ones whose row
 * stride BLAS cannot take: 0 or below K) are widened to f32 first, w whole
 * and x in row panels, so the scratch stays bounded.  z is f32: y itself
 * when y is f32 (the epilogue then works in place), else a panel of f32
 * scratch.  All scratch is one block of the context's workspace.  The
 * epilogue runs per row in f32 and rounds once into y's dtype.
 *
 * Threads: the context's thread count is OpenBLAS's for the GEMM (set
 * before the call, the previous value restored after it; OpenBLAS's
 * setting is process-wide, so two contexts with different counts used at
 * once from two threads race on it), and the widening and epilogue loops
 * run on an OpenMP team of that size.  OpenBLAS partitions the GEMM by its
 * thread count, so the last bits of z may differ between thread counts
 * (the spec's exception); at one count every run gives the same bits.
 *
 * Entry points follow the slots of src/api/linear.c. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#include "cpu.h"

typedef enum epilogue { EPI_SILU, EPI_GELU, EPI_RMSNORM } epilogue;

/* Panel scratch (x widened + z) is kept near this many floats, but a
 * panel has at least MIN_PANEL rows so that sgemm runs at full speed. */
#define PANEL_FLOATS ((int64_t)4 << 20)
#define MIN_PANEL 128

/* Small loops run on the calling thread: waking a team costs more. */
static int team_for(const zk_ctx *ctx, int64_t elements, int64_t rows) {
  int64_t team = elements < (1 << 15) ? 1 : ctx->threads;
  return (int)(team < rows ? team : rows > 0 ? rows : 1);
}

/* An f32 matrix of `rows` rows that sgemm can read in place: row stride at
 * least the row length (BLAS's lda >= K) and within blasint. */
static int blas_readable(const zk_rows *t) {
  return t->dtype == ZK_F32 && t->cols > 0 && (t->rows <= 1 || t->stride >= t->cols) && t->stride <= INT_MAX;
}

/* rows [r0, r0 + n) of t as compact f32 rows of t->cols floats in dst. */
static void widen_rows(zk_ctx *ctx, const zk_rows *t, int64_t r0, int64_t n, float *dst) {
  int64_t K = t->cols;
#pragma omp parallel for schedule(static) num_threads(team_for(ctx, n * K, n))
  for (int64_t i = 0; i < n; i++) zk_cpu_load(t, r0 + i, 0, K, dst + i * K);
}

ZK_HOT static void silu_row(float *z, const float *bias, int64_t n) {
  if (bias) {
    for (int64_t j = 0; j < n; j++) z[j] = zk_silu_f(z[j] + bias[j]);
  } else {
    for (int64_t j = 0; j < n; j++) z[j] = zk_silu_f(z[j]);
  }
}

ZK_HOT static void gelu_row(float *z, const float *bias, int64_t n) {
  if (bias) {
    for (int64_t j = 0; j < n; j++) z[j] = zk_gelu_tanh_f(z[j] + bias[j]);
  } else {
    for (int64_t j = 0; j < n; j++) z[j] = zk_gelu_tanh_f(z[j]);
  }
}

/* y_n = z_n·r·γ_n, r = (Σz²/N + eps)^-1/2 with the fixed-order f32 dot. */
ZK_HOT static void rmsnorm_row(float *z, const float *gamma, float eps, int64_t n) {
  float r = 1.0f / sqrtf(zk_cpu_dot(z, z, n) * (1.0f / (float)n) + eps);
  for (int64_t j = 0; j < n; j++) z[j] = z[j] * r * gamma[j];
}

typedef struct linear_plan {
  const zk_args *a;
  epilogue kind;
  const float *param; /* bias (NULL: none) or gamma, in f32 */
  float eps;
  int64_t M, N, K;
  const float *w;     /* f32 [N, K] with row stride ldw */
  int64_t ldw;
  float *x_panel;     /* panel scratch for widened x rows (NULL: x used in place) */
  float *z_panel;     /* panel scratch for z (NULL: z is y) */
  int64_t panel;      /* rows per panel */
} linear_plan;

/* Epilogue of rows [m0, m0 + n): z rows at z with stride ldz, into y. */
static void epilogue_rows(zk_ctx *ctx, const linear_plan *p, int64_t m0, int64_t n, float *z, int64_t ldz) {
  const zk_rows *y = &p->a->t[3];
  int64_t N = p->N;
#pragma omp parallel for schedule(static) num_threads(team_for(ctx, n * N, n))
  for (int64_t i = 0; i < n; i++) {
    float *zr = z + i * ldz;
    switch (p->kind) {
      case EPI_SILU: silu_row(zr, p->param, N); break;
      case EPI_GELU: gelu_row(zr, p->param, N); break;
      case EPI_RMSNORM: rmsnorm_row(zr, p->param, p->eps, N); break;
    }
    if (p->z_panel) zk_cpu_store(y, m0 + i, 0, N, zr);
  }
}

/* z for rows [m0, m0 + n): sgemm on OpenBLAS's threads, or zeros (K = 0). */
static void gemm_rows(zk_ctx *ctx, const linear_plan *p, int64_t m0, int64_t n, float *z, int64_t ldz) {
  const zk_rows *x = &p->a->t[0];
  if (p->K == 0) {
    for (int64_t i = 0; i < n; i++) memset(z + i * ldz, 0, (size_t)p->N * sizeof(float));
    return;
  }
  const float *xs;
  int64_t ldx;
  if (p->x_panel) {
    widen_rows(ctx, x, m0, n, p->x_panel);
    xs = p->x_panel, ldx = p->K;
  } else {
    xs = (const float *)zk_row_ptr(x, m0, 0), ldx = x->rows <= 1 ? p->K : x->stride;
  }
  int saved = openblas_get_num_threads();
  if (saved != ctx->threads) openblas_set_num_threads(ctx->threads);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)n, (blasint)p->N, (blasint)p->K, 1.0f, xs,
              (blasint)ldx, p->w, (blasint)p->ldw, 0.0f, z, (blasint)ldz);
  if (saved != ctx->threads) openblas_set_num_threads(saved);
}

static size_t floats_aligned(int64_t n) { return ((size_t)n + 15) & ~(size_t)15; }

static zk_status linear(zk_ctx *ctx, const zk_call *call, const zk_args *a, epilogue kind) {
  const zk_rows *x = &a->t[0], *w = &a->t[1], *param = &a->t[2], *y = &a->t[3];
  linear_plan p = {a, kind, NULL, a->f[0], y->rows, y->cols, x->cols, NULL, 0, NULL, NULL, 0};
  if (p.N > INT_MAX || p.K > INT_MAX)
    return zk_fail(call, ZK_ERR_UNSUPPORTED, "N = %lld, K = %lld: BLAS takes at most %d", (long long)p.N,
                   (long long)p.K, INT_MAX);
  int widen_w = p.K > 0 && !blas_readable(w), widen_x = p.K > 0 && !blas_readable(x);
  int z_in_y = y->dtype == ZK_F32 && y->stride <= INT_MAX;
  /* Panels only where there is panel scratch; else one GEMM for all rows. */
  p.panel = p.M;
  if (widen_x || !z_in_y) {
    int64_t per_row = (widen_x ? p.K : 0) + (z_in_y ? 0 : p.N);
    p.panel = PANEL_FLOATS / per_row;
    if (p.panel < MIN_PANEL) p.panel = MIN_PANEL;
    if (p.panel > p.M) p.panel = p.M;
    if (p.panel > INT_MAX) p.panel = INT_MAX;
  }
  size_t w_floats = widen_w ? floats_aligned(p.N * p.K) : 0;
  size_t x_floats = widen_x ? floats_aligned(p.panel * p.K) : 0;
  size_t z_floats = z_in_y ? 0 : floats_aligned(p.panel * p.N);
  float *scratch = NULL;
  if (w_floats + x_floats + z_floats) {
    scratch = zk_workspace(ctx, (w_floats + x_floats + z_floats) * sizeof(float));
    if (!scratch)
      return zk_fail(call, ZK_ERR_OOM, "cannot allocate %zu bytes of scratch",
                     (w_floats + x_floats + z_floats) * sizeof(float));
  }
  float *param_f32 = zk_present(param) ? zk_cpu_param_f32(param) : NULL;
  if (zk_present(param) && !param_f32) return zk_fail(call, ZK_ERR_OOM, "cannot allocate the f32 %s",
                                                      kind == EPI_RMSNORM ? "gamma" : "bias");
  p.param = param_f32;
  if (widen_w) {
    widen_rows(ctx, w, 0, p.N, scratch);
    p.w = scratch, p.ldw = p.K;
  } else if (p.K > 0) {
    p.w = (const float *)w->data, p.ldw = w->rows <= 1 ? p.K : w->stride;
  }
  p.x_panel = widen_x ? scratch + w_floats : NULL;
  p.z_panel = z_in_y ? NULL : scratch + w_floats + x_floats;
  for (int64_t m0 = 0; m0 < p.M; m0 += p.panel) {
    int64_t n = p.M - m0 < p.panel ? p.M - m0 : p.panel;
    float *z = p.z_panel ? p.z_panel : (float *)zk_row_ptr(y, m0, 0);
    int64_t ldz = p.z_panel || y->rows <= 1 ? p.N : y->stride;
    gemm_rows(ctx, &p, m0, n, z, ldz);
    epilogue_rows(ctx, &p, m0, n, z, ldz);
  }
  free(param_f32);
  return ZK_OK;
}

zk_status zk_cpu_fused_linear_bias_silu(zk_ctx *ctx, const zk_args *args) {
  ZK_CPU_CALL(ctx, fused_linear_bias_silu);
  return linear(ctx, call, args, EPI_SILU);
}

zk_status zk_cpu_fused_linear_bias_gelu(zk_ctx *ctx, const zk_args *args) {
  ZK_CPU_CALL(ctx, fused_linear_bias_gelu);
  return linear(ctx, call, args, EPI_GELU);
}

zk_status zk_cpu_fused_linear_rmsnorm(zk_ctx *ctx, const zk_args *args) {
  ZK_CPU_CALL(ctx, fused_linear_rmsnorm);
  return linear(ctx, call, args, EPI_RMSNORM);
}
