/* Test descriptors and extras of the transformer family (spec §4).
 *
 * The sweep covers every op against float64: EW for the gated MLPs, EXACT
 * for h = round_T(x + residual) and for dropout, ROW for normalised
 * outputs, GRAD / GRAD+ACC for gradients (central differences of every
 * reference VJP), the exact aliases the spec allows, every optional tensor
 * absent, and the bad inputs.  The extras cover the "Tests must check"
 * items the sweep cannot: the §4.0 known answers (reference Philox and
 * kernels), dropout statistics over 10^6 elements, p = 0 and p = 1, offset
 * composition, the norm fusions against their unfused forms, both residual
 * aliases at once, LayerNorm's hard rows, special values of the gated MLPs
 * and x as a slice of a fused projection. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "../src/common/zk_math.h"
#include "../src/core/dtype.h"
#include "../src/ref/norms.h"
#include "../src/ref/transformer.h"
#include "harness/checks.h"
#include "harness/harness.h"

/* ------------------------------------------------------------ input values
 * Inputs are N(0, 1) (params U(0.5, 1.5), biases U(-1, 1)) unless an extra
 * runs a copy of a descriptor whose tensors come from the fill hook, in
 * the mode held by scalar slot 3 (no op of this family uses it). */

enum fill_mode {
  FILL_SPECIALS,  /* the specials list, cycled, then N(0, 1) */
  FILL_MEAN_1E4,  /* first addend 1e4 + N(0, 1), the others N(0, 1) */
  FILL_CONSTANT,  /* every row constant */
  FILL_ONES,      /* 1.0 */
};
#define MODE_SLOT 3

static const double specials[] = {-INFINITY, INFINITY, NAN, 0.0, -0.0, 88.0, -88.0, 100.0, -100.0,
                                  1e4, -1e4, 1e30, -1e30, 1.0, -1.0, 0.5, -12.0, 12.0};
#define NSPECIALS ((int64_t)(sizeof specials / sizeof specials[0]))

static void fill_values(zk_case *c, int k, double *v, int64_t n) {
  uint64_t rng = c->seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(k + 1));
  int64_t cols = c->cols[k];
  for (int64_t i = 0; i < n; i++) {
    switch ((enum fill_mode)c->s[MODE_SLOT]) {
      case FILL_SPECIALS:
        /* Offset by k so gate and up (and bias) see different pairings. */
        v[i] = (i + 3 * k) % (2 * NSPECIALS) < NSPECIALS ? specials[(i + 3 * k) % NSPECIALS] : zk_rand_normal(&rng);
        break;
      case FILL_MEAN_1E4: v[i] = (k == 0 ? 1e4 : 0.0) + zk_rand_normal(&rng); break;
      case FILL_CONSTANT: v[i] = 0.75 + (k ? 0.25 : 0.375) * (double)(i / cols); break;
      case FILL_ONES: v[i] = 1.0; break;
    }
  }
}

/* ------------------------------------------------------------ descriptors */

#define ROWS_IN(name, opt) {name, ZK_IN, ZK_SHAPE_ROWS, ZK_DT_CASE, opt, 0, ZK_DIST_NORMAL, 0, 0}
#define GATED_IN {"x", ZK_IN, ZK_SHAPE_ROWS2, ZK_DT_CASE, 0, 0, ZK_DIST_NORMAL, 0, 0}
#define BIAS_IN {"bias", ZK_IN, ZK_SHAPE_VEC2, ZK_DT_PARAM, 0, 0, ZK_DIST_UNIFORM, -1.0, 1.0}
#define PARAM_IN(name, opt) {name, ZK_IN, ZK_SHAPE_VEC, ZK_DT_PARAM, opt, 0, ZK_DIST_UNIFORM, 0.5, 1.5}
#define ROWS_OUT(name, opt, tol) {name, ZK_OUT, ZK_SHAPE_ROWS, ZK_DT_CASE, opt, tol, 0, 0, 0}
#define GATED_OUT(name, opt) {name, ZK_OUT, ZK_SHAPE_ROWS2, ZK_DT_CASE, opt, ZK_TOL_GRAD, 0, 0, 0}
#define PARAM_OUT(name) {name, ZK_OUT, ZK_SHAPE_VEC, ZK_DT_PARAM, 1, ZK_TOL_GRAD_ACC, 0, 0, 0}
#define BIAS_OUT {"dbias", ZK_OUT, ZK_SHAPE_VEC2, ZK_DT_PARAM, 1, ZK_TOL_GRAD_ACC, 0, 0, 0}

#define BAD_EPS {{0, -1.0, ZK_ERR_ARG}, {0, NAN, ZK_ERR_ARG}, {0, INFINITY, ZK_ERR_ARG}}, 3
#define BAD_P {{0, -0.25, ZK_ERR_ARG}, {0, 1.5, ZK_ERR_ARG}, {0, NAN, ZK_ERR_ARG}}, 3
/* rms_norm_dropout: p in slot 0, eps in slot 1. */
#define BAD_P_EPS                                                                                 \
  {{0, -0.25, ZK_ERR_ARG}, {0, 1.5, ZK_ERR_ARG}, {0, NAN, ZK_ERR_ARG}, {1, -1.0, ZK_ERR_ARG},     \
   {1, NAN, ZK_ERR_ARG}, {1, INFINITY, ZK_ERR_ARG}},                                              \
      6

/* Default dropout settings: a seed with both words set, an offset that is
 * not a multiple of 4 (a Philox block boundary inside the first row). */
#define DROP_P 0.3
#define DROP_SEEDS {0x243F6A8885A308D3ull, 5}

static zk_ref_dropout drop_of(const zk_case *c) {
  zk_ref_dropout d = {(float)c->s[0], c->u[0], c->u[1]};
  return d;
}

/* ---- gated MLPs: x (gate | up), bias, dy in slot order */

#define GLU_OPS(name, gate)                                                                                       \
  static zk_status call_##name(zk_ctx *ctx, zk_case *c) { return zk_##name(ctx, ZT(c, 0), ZT(c, 1)); }           \
  static void ref_##name(zk_case *c) { zk_ref_glu(gate, c->val[0], NULL, c->ref[1], c->R, c->D); }               \
  static zk_status call_##name##_grad(zk_ctx *ctx, zk_case *c) {                                                 \
    return zk_##name##_grad(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2));                                                 \
  }                                                                                                              \
  static void ref_##name##_grad(zk_case *c) {                                                                    \
    zk_ref_glu_grad(gate, c->val[0], NULL, c->val[1], c->ref[2], NULL, NULL, c->R, c->D);                        \
  }                                                                                                              \
  static zk_status call_bias_##name(zk_ctx *ctx, zk_case *c) {                                                   \
    return zk_bias_##name(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2));                                                   \
  }                                                                                                              \
  static void ref_bias_##name(zk_case *c) { zk_ref_glu(gate, c->val[0], c->val[1], c->ref[2], c->R, c->D); }     \
  static zk_status call_bias_##name##_grad(zk_ctx *ctx, zk_case *c) {                                            \
    return zk_bias_##name##_grad(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), ZT(c, 4));                        \
  }                                                                                                              \
  static void ref_bias_##name##_grad(zk_case *c) {                                                               \
    zk_ref_glu_grad(gate, c->val[0], c->val[1], c->val[2], c->ref[3], c->ref[4], c->refabs[4], c->R, c->D);      \
  }

GLU_OPS(swiglu, ZK_REF_SILU)
GLU_OPS(geglu, ZK_REF_GELU_TANH)

/* ---- residual + norm fusions */

static zk_status call_rmsnorm_residual(zk_ctx *ctx, zk_case *c) {
  return zk_rmsnorm_residual(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), ZT(c, 4), (float)c->s[0]);
}
static void ref_rmsnorm_residual(zk_case *c) {
  zk_ref_rmsnorm_residual(c->val[0], c->val[1], c->val[2], c->ref[3], c->ref[4], c->R, c->D, c->s[0], c->dtype);
}

static zk_status call_rmsnorm_residual_grad(zk_ctx *ctx, zk_case *c) {
  return zk_rmsnorm_residual_grad(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), ZT(c, 4), ZT(c, 5), (float)c->s[0]);
}
static void ref_rmsnorm_residual_grad(zk_case *c) {
  zk_ref_rmsnorm_residual_grad(c->val[0], c->val[1], c->val[2], c->val[3], c->ref[4], c->ref[5], c->refabs[5], c->R,
                               c->D, c->s[0]);
}

static zk_status call_layernorm_residual(zk_ctx *ctx, zk_case *c) {
  return zk_layernorm_residual(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), ZT(c, 4), ZT(c, 5), (float)c->s[0]);
}
static void ref_layernorm_residual(zk_case *c) {
  zk_ref_layernorm_residual(c->val[0], c->val[1], c->val[2], c->val[3], c->ref[4], c->ref[5], c->R, c->D, c->s[0],
                            c->dtype);
}

static zk_status call_layernorm_residual_grad(zk_ctx *ctx, zk_case *c) {
  return zk_layernorm_residual_grad(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), ZT(c, 4), ZT(c, 5), ZT(c, 6),
                                    (float)c->s[0]);
}
static void ref_layernorm_residual_grad(zk_case *c) {
  zk_ref_layernorm_residual_grad(c->val[0], c->val[1], c->val[2], c->val[3], c->ref[4], c->ref[5], c->refabs[5],
                                 c->ref[6], c->refabs[6], c->R, c->D, c->s[0]);
}

static zk_status call_fused_add_rmsnorm(zk_ctx *ctx, zk_case *c) {
  return zk_fused_add_rmsnorm(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), (float)c->s[0]);
}
static void ref_fused_add_rmsnorm(zk_case *c) {
  zk_ref_fused_add_rmsnorm(c->val[0], c->val[1], c->val[2], c->ref[3], c->R, c->D, c->s[0], c->dtype);
}

static zk_status call_fused_add_rmsnorm_grad(zk_ctx *ctx, zk_case *c) {
  return zk_fused_add_rmsnorm_grad(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), ZT(c, 4), ZT(c, 5), (float)c->s[0]);
}
static void ref_fused_add_rmsnorm_grad(zk_case *c) {
  zk_ref_fused_add_rmsnorm_grad(c->val[0], c->val[1], c->val[2], c->val[3], c->ref[4], c->ref[5], c->refabs[5], c->R,
                                c->D, c->s[0], c->dtype);
}

static zk_status call_fused_add_layernorm(zk_ctx *ctx, zk_case *c) {
  return zk_fused_add_layernorm(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), ZT(c, 4), (float)c->s[0]);
}
static void ref_fused_add_layernorm(zk_case *c) {
  zk_ref_fused_add_layernorm(c->val[0], c->val[1], c->val[2], c->val[3], c->ref[4], c->R, c->D, c->s[0], c->dtype);
}

static zk_status call_fused_add_layernorm_grad(zk_ctx *ctx, zk_case *c) {
  return zk_fused_add_layernorm_grad(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), ZT(c, 4), ZT(c, 5), ZT(c, 6),
                                     (float)c->s[0]);
}
static void ref_fused_add_layernorm_grad(zk_case *c) {
  zk_ref_fused_add_layernorm_grad(c->val[0], c->val[1], c->val[2], c->val[3], c->ref[4], c->ref[5], c->refabs[5],
                                  c->ref[6], c->refabs[6], c->R, c->D, c->s[0], c->dtype);
}

/* ---- dropout: p in slot 0 (rms_norm_dropout: eps in slot 1), seed and offset in u[] */

static zk_rms_norm_dropout_params rms_dropout_params(const zk_case *c) {
  zk_rms_norm_dropout_params p = {(float)c->s[0], c->u[0], c->u[1], (float)c->s[1]};
  return p;
}

static zk_status call_rms_norm_dropout(zk_ctx *ctx, zk_case *c) {
  zk_rms_norm_dropout_params p = rms_dropout_params(c);
  return zk_rms_norm_dropout(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), &p);
}
static void ref_rms_norm_dropout(zk_case *c) {
  zk_ref_dropout d = drop_of(c);
  zk_ref_norm(ZK_REF_RMS, c->val[0], c->val[1], NULL, c->ref[2], c->R, c->D, c->s[1], &d);
}

static zk_status call_rms_norm_dropout_grad(zk_ctx *ctx, zk_case *c) {
  zk_rms_norm_dropout_params p = rms_dropout_params(c);
  return zk_rms_norm_dropout_grad(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), ZT(c, 4), &p);
}
static void ref_rms_norm_dropout_grad(zk_case *c) {
  zk_ref_dropout d = drop_of(c);
  zk_ref_norm_grad(ZK_REF_RMS, c->val[0], c->val[1], c->val[2], c->ref[3], c->ref[4], c->refabs[4], NULL, NULL, c->R,
                   c->D, c->s[1], &d);
}

static zk_status call_dropout(zk_ctx *ctx, zk_case *c) {
  return zk_dropout(ctx, ZT(c, 0), ZT(c, 1), (float)c->s[0], c->u[0], c->u[1]);
}
static zk_status call_dropout_grad(zk_ctx *ctx, zk_case *c) {
  return zk_dropout_grad(ctx, ZT(c, 0), ZT(c, 1), (float)c->s[0], c->u[0], c->u[1]);
}
/* dropout_grad is the same map on dy. */
static void ref_dropout(zk_case *c) {
  zk_ref_dropout d = drop_of(c);
  zk_ref_plain_dropout(c->val[0], c->ref[1], c->R * c->D, &d);
}

/* -------------------------------------------------- central differences
 * Each reference VJP against central differences of its reference
 * forward, evaluated exactly (h = x1 + x2 unrounded, dropout's f32 scale
 * applied in float64) so that it is differentiable. */

enum fd_forward { FD_GLU, FD_RESIDUAL, FD_FUSED_ADD, FD_NORM_DROPOUT, FD_DROPOUT };

#define FD_R 3
#define FD_D 7
#define FD_N (FD_R * FD_D)

typedef struct fd_env {
  enum fd_forward fwd;
  zk_ref_gate gate;       /* FD_GLU */
  zk_ref_norm_kind kind;  /* FD_RESIDUAL, FD_FUSED_ADD */
  double eps;
  zk_ref_dropout drop;    /* FD_NORM_DROPOUT, FD_DROPOUT */
  const double *in[4];    /* the inputs at the base point, in slot order */
  int wrt;                /* the input that varies */
} fd_env;

static void fd_forward(const double *v, double *y, const void *ctx) {
  const fd_env *e = ctx;
  const double *in[4];
  memcpy(in, e->in, sizeof in);
  in[e->wrt] = v;
  double h[FD_N];
  switch (e->fwd) {
    case FD_GLU: /* x, bias? -> y */
      zk_ref_glu(e->gate, in[0], in[1], y, FD_R, FD_D);
      break;
    case FD_RESIDUAL: /* h, w, beta? -> (normed, h): the cotangent is (dnormed, dh) */
      zk_ref_norm(e->kind, in[0], in[1], in[2], y, FD_R, FD_D, e->eps, NULL);
      memcpy(y + FD_N, in[0], sizeof h);
      break;
    case FD_FUSED_ADD: /* x1, x2, w, beta? -> normed */
      for (int i = 0; i < FD_N; i++) h[i] = in[0][i] + in[1][i];
      zk_ref_norm(e->kind, h, in[2], in[3], y, FD_R, FD_D, e->eps, NULL);
      break;
    case FD_NORM_DROPOUT: /* x, w -> y */
      zk_ref_norm(ZK_REF_RMS, in[0], in[1], NULL, y, FD_R, FD_D, e->eps, &e->drop);
      break;
    case FD_DROPOUT: /* x -> y */
      for (int i = 0; i < FD_N; i++)
        y[i] = zk_ref_dropout_keep(e->drop.p, e->drop.seed, e->drop.offset, (uint64_t)i)
                   ? in[0][i] * (double)zk_ref_dropout_scale(e->drop.p)
                   : 0.0;
      break;
  }
}

/* Max error of the VJP `grad` w.r.t. input `wrt` (n values) for cotangent dy (m values). */
static double fd_err(fd_env *e, int wrt, int64_t n, int64_t m, const double *dy, const double *grad) {
  e->wrt = wrt;
  return zk_fd_vjp_error(fd_forward, e, e->in[wrt], n, m, dy, grad);
}

static void fd_normal(uint64_t *rng, double *v, int n) {
  for (int i = 0; i < n; i++) v[i] = zk_rand_normal(rng);
}
static void fd_uniform(uint64_t *rng, double *v, int n) {
  for (int i = 0; i < n; i++) v[i] = zk_rand_uniform(rng, 0.5, 1.5);
}

static double fd_glu(zk_ref_gate gate, int with_bias, uint64_t seed) {
  double x[2 * FD_N], bias[2 * FD_D], dy[FD_N], dx[2 * FD_N], dbias[2 * FD_D];
  fd_normal(&seed, x, 2 * FD_N), fd_normal(&seed, bias, 2 * FD_D), fd_normal(&seed, dy, FD_N);
  zk_ref_glu_grad(gate, x, with_bias ? bias : NULL, dy, dx, dbias, NULL, FD_R, FD_D);
  fd_env e = {.fwd = FD_GLU, .gate = gate, .in = {x, with_bias ? bias : NULL}};
  double err = fd_err(&e, 0, 2 * FD_N, FD_N, dy, dx);
  if (with_bias) err = fmax(err, fd_err(&e, 1, 2 * FD_D, FD_N, dy, dbias));
  return err;
}
static double fd_swiglu_grad(uint64_t s) { return fd_glu(ZK_REF_SILU, 0, s); }
static double fd_geglu_grad(uint64_t s) { return fd_glu(ZK_REF_GELU_TANH, 0, s); }
static double fd_bias_swiglu_grad(uint64_t s) { return fd_glu(ZK_REF_SILU, 1, s); }
static double fd_bias_geglu_grad(uint64_t s) { return fd_glu(ZK_REF_GELU_TANH, 1, s); }

/* (normed, h) of h: dx = the norm's VJP + dh; dweight/dgamma; dbeta. */
static double fd_residual(zk_ref_norm_kind kind, uint64_t seed) {
  double h[FD_N], w[FD_D], beta[FD_D], cot[2 * FD_N], dx[FD_N], dw[FD_D], db[FD_D];
  int layer = kind == ZK_REF_LAYER;
  double eps = layer ? 1e-5 : 1e-6;
  fd_normal(&seed, h, FD_N), fd_uniform(&seed, w, FD_D), fd_normal(&seed, beta, FD_D), fd_normal(&seed, cot, 2 * FD_N);
  if (layer) zk_ref_layernorm_residual_grad(h, w, cot, cot + FD_N, dx, dw, NULL, db, NULL, FD_R, FD_D, eps);
  else zk_ref_rmsnorm_residual_grad(h, w, cot, cot + FD_N, dx, dw, NULL, FD_R, FD_D, eps);
  fd_env e = {.fwd = FD_RESIDUAL, .kind = kind, .eps = eps, .in = {h, w, layer ? beta : NULL}};
  double err = fmax(fd_err(&e, 0, FD_N, 2 * FD_N, cot, dx), fd_err(&e, 1, FD_D, 2 * FD_N, cot, dw));
  if (layer) err = fmax(err, fd_err(&e, 2, FD_D, 2 * FD_N, cot, db));
  return err;
}
static double fd_rmsnorm_residual_grad(uint64_t s) { return fd_residual(ZK_REF_RMS, s); }
static double fd_layernorm_residual_grad(uint64_t s) { return fd_residual(ZK_REF_LAYER, s); }

/* normed of (x1, x2): dx w.r.t. both addends; dweight/dgamma; dbeta. */
static double fd_fused_add(zk_ref_norm_kind kind, uint64_t seed) {
  double x1[FD_N], x2[FD_N], w[FD_D], beta[FD_D], dn[FD_N], dx[FD_N], dw[FD_D], db[FD_D];
  int layer = kind == ZK_REF_LAYER;
  double eps = layer ? 1e-5 : 1e-6;
  fd_normal(&seed, x1, FD_N), fd_normal(&seed, x2, FD_N), fd_uniform(&seed, w, FD_D), fd_normal(&seed, beta, FD_D);
  fd_normal(&seed, dn, FD_N);
  /* ZK_DTYPE_INVALID: h = x1 + x2 exactly, as the forward below. */
  if (layer) zk_ref_fused_add_layernorm_grad(x1, x2, w, dn, dx, dw, NULL, db, NULL, FD_R, FD_D, eps, ZK_DTYPE_INVALID);
  else zk_ref_fused_add_rmsnorm_grad(x1, x2, w, dn, dx, dw, NULL, FD_R, FD_D, eps, ZK_DTYPE_INVALID);
  fd_env e = {.fwd = FD_FUSED_ADD, .kind = kind, .eps = eps, .in = {x1, x2, w, layer ? beta : NULL}};
  double err = fmax(fd_err(&e, 0, FD_N, FD_N, dn, dx), fd_err(&e, 1, FD_N, FD_N, dn, dx));
  err = fmax(err, fd_err(&e, 2, FD_D, FD_N, dn, dw));
  if (layer) err = fmax(err, fd_err(&e, 3, FD_D, FD_N, dn, db));
  return err;
}
static double fd_fused_add_rmsnorm_grad(uint64_t s) { return fd_fused_add(ZK_REF_RMS, s); }
static double fd_fused_add_layernorm_grad(uint64_t s) { return fd_fused_add(ZK_REF_LAYER, s); }

static double fd_rms_norm_dropout_grad(uint64_t seed) {
  double x[FD_N], w[FD_D], dy[FD_N], dx[FD_N], dw[FD_D];
  fd_normal(&seed, x, FD_N), fd_uniform(&seed, w, FD_D), fd_normal(&seed, dy, FD_N);
  zk_ref_dropout d = {0.3f, seed, 3};
  zk_ref_norm_grad(ZK_REF_RMS, x, w, dy, dx, dw, NULL, NULL, NULL, FD_R, FD_D, 1e-6, &d);
  fd_env e = {.fwd = FD_NORM_DROPOUT, .eps = 1e-6, .drop = d, .in = {x, w}};
  return fmax(fd_err(&e, 0, FD_N, FD_N, dy, dx), fd_err(&e, 1, FD_D, FD_N, dy, dw));
}

/* dropout_grad's reference is zk_ref_plain_dropout of dy: its f32 product
 * is exact to 2^-24 for dy exact in f32. */
static double fd_dropout_grad(uint64_t seed) {
  double x[FD_N], dy[FD_N], dx[FD_N];
  fd_normal(&seed, x, FD_N), fd_normal(&seed, dy, FD_N);
  for (int i = 0; i < FD_N; i++) dy[i] = (float)dy[i];
  zk_ref_dropout d = {0.3f, seed, 1};
  zk_ref_plain_dropout(dy, dx, FD_N, &d);
  fd_env e = {.fwd = FD_DROPOUT, .drop = d, .in = {x}};
  return fd_err(&e, 0, FD_N, FD_N, dy, dx);
}

/* ------------------------------------------------------------------ table */

static const zk_op_test transformer_tests[] = {
    {.op = "swiglu", .t = {GATED_IN, ROWS_OUT("y", 0, ZK_TOL_EW)}, .nt = 2, .call = call_swiglu, .ref = ref_swiglu,
     .fill = fill_values},
    {.op = "geglu", .t = {GATED_IN, ROWS_OUT("y", 0, ZK_TOL_EW)}, .nt = 2, .call = call_geglu, .ref = ref_geglu,
     .fill = fill_values},
    {.op = "rmsnorm_residual",
     .t = {ROWS_IN("x", 0), ROWS_IN("residual", 0), PARAM_IN("weight", 0), ROWS_OUT("normed", 0, ZK_TOL_ROW),
           ROWS_OUT("h", 0, ZK_TOL_EXACT)},
     .nt = 5,
     .scalars = {1e-6},
     .call = call_rmsnorm_residual,
     .ref = ref_rmsnorm_residual,
     .fill = fill_values,
     .alias_of = {[3] = 1, [4] = 2},
     .bad = BAD_EPS},
    {.op = "layernorm_residual",
     .t = {ROWS_IN("x", 0), ROWS_IN("residual", 0), PARAM_IN("gamma", 0), PARAM_IN("beta", 1),
           ROWS_OUT("normed", 0, ZK_TOL_ROW), ROWS_OUT("h", 0, ZK_TOL_EXACT)},
     .nt = 6,
     .scalars = {1e-5},
     .call = call_layernorm_residual,
     .ref = ref_layernorm_residual,
     .fill = fill_values,
     .alias_of = {[4] = 1, [5] = 2},
     .bad = BAD_EPS},
    {.op = "fused_add_rmsnorm",
     .t = {ROWS_IN("x1", 0), ROWS_IN("x2", 0), PARAM_IN("weight", 0), ROWS_OUT("normed", 0, ZK_TOL_ROW)},
     .nt = 4,
     .scalars = {1e-6},
     .call = call_fused_add_rmsnorm,
     .ref = ref_fused_add_rmsnorm,
     .fill = fill_values,
     .alias_of = {[3] = 1},  /* normed -> x2: an extra */
     .bad = BAD_EPS},
    {.op = "fused_add_layernorm",
     .t = {ROWS_IN("x1", 0), ROWS_IN("x2", 0), PARAM_IN("gamma", 0), PARAM_IN("beta", 1),
           ROWS_OUT("normed", 0, ZK_TOL_ROW)},
     .nt = 5,
     .scalars = {1e-5},
     .call = call_fused_add_layernorm,
     .ref = ref_fused_add_layernorm,
     .fill = fill_values,
     .alias_of = {[4] = 1},
     .bad = BAD_EPS},
    {.op = "rms_norm_dropout",
     .t = {ROWS_IN("x", 0), PARAM_IN("weight", 0), ROWS_OUT("y", 0, ZK_TOL_ROW)},
     .nt = 3,
     .scalars = {DROP_P, 1e-6},
     .seeds = DROP_SEEDS,
     .call = call_rms_norm_dropout,
     .ref = ref_rms_norm_dropout,
     .fill = fill_values,
     .alias_of = {[2] = 1},
     .bad = BAD_P_EPS},
    {.op = "dropout",
     .t = {ROWS_IN("x", 0), ROWS_OUT("y", 0, ZK_TOL_EXACT)},
     .nt = 2,
     .scalars = {DROP_P},
     .seeds = DROP_SEEDS,
     .call = call_dropout,
     .ref = ref_dropout,
     .fill = fill_values,
     .alias_of = {[1] = 1},
     .bad = BAD_P},
    {.op = "bias_swiglu", .t = {GATED_IN, BIAS_IN, ROWS_OUT("y", 0, ZK_TOL_EW)}, .nt = 3, .call = call_bias_swiglu,
     .ref = ref_bias_swiglu, .fill = fill_values},
    {.op = "bias_geglu", .t = {GATED_IN, BIAS_IN, ROWS_OUT("y", 0, ZK_TOL_EW)}, .nt = 3, .call = call_bias_geglu,
     .ref = ref_bias_geglu, .fill = fill_values},
    {.op = "swiglu_grad",
     .t = {GATED_IN, ROWS_IN("dy", 0), GATED_OUT("dx", 0)},
     .nt = 3,
     .call = call_swiglu_grad,
     .ref = ref_swiglu_grad,
     .fill = fill_values,
     .fd_check = fd_swiglu_grad,
     .alias_of = {[2] = 1}},
    {.op = "geglu_grad",
     .t = {GATED_IN, ROWS_IN("dy", 0), GATED_OUT("dx", 0)},
     .nt = 3,
     .call = call_geglu_grad,
     .ref = ref_geglu_grad,
     .fill = fill_values,
     .fd_check = fd_geglu_grad,
     .alias_of = {[2] = 1}},
    {.op = "rmsnorm_residual_grad",
     .t = {ROWS_IN("h", 0), PARAM_IN("weight", 0), ROWS_IN("dnormed", 0), ROWS_IN("dh", 1),
           ROWS_OUT("dx", 1, ZK_TOL_GRAD), PARAM_OUT("dweight")},
     .nt = 6,
     .scalars = {1e-6},
     .call = call_rmsnorm_residual_grad,
     .ref = ref_rmsnorm_residual_grad,
     .fill = fill_values,
     .fd_check = fd_rmsnorm_residual_grad,
     .alias_of = {[4] = 3},
     .bad = BAD_EPS},
    {.op = "layernorm_residual_grad",
     .t = {ROWS_IN("h", 0), PARAM_IN("gamma", 0), ROWS_IN("dnormed", 0), ROWS_IN("dh", 1),
           ROWS_OUT("dx", 1, ZK_TOL_GRAD), PARAM_OUT("dgamma"), PARAM_OUT("dbeta")},
     .nt = 7,
     .scalars = {1e-5},
     .call = call_layernorm_residual_grad,
     .ref = ref_layernorm_residual_grad,
     .fill = fill_values,
     .fd_check = fd_layernorm_residual_grad,
     .alias_of = {[4] = 3},
     .bad = BAD_EPS},
    {.op = "fused_add_rmsnorm_grad",
     .t = {ROWS_IN("x1", 0), ROWS_IN("x2", 0), PARAM_IN("weight", 0), ROWS_IN("dnormed", 0),
           ROWS_OUT("dx", 1, ZK_TOL_GRAD), PARAM_OUT("dweight")},
     .nt = 6,
     .scalars = {1e-6},
     .call = call_fused_add_rmsnorm_grad,
     .ref = ref_fused_add_rmsnorm_grad,
     .fill = fill_values,
     .fd_check = fd_fused_add_rmsnorm_grad,
     .bad = BAD_EPS},
    {.op = "fused_add_layernorm_grad",
     .t = {ROWS_IN("x1", 0), ROWS_IN("x2", 0), PARAM_IN("gamma", 0), ROWS_IN("dnormed", 0),
           ROWS_OUT("dx", 1, ZK_TOL_GRAD), PARAM_OUT("dgamma"), PARAM_OUT("dbeta")},
     .nt = 7,
     .scalars = {1e-5},
     .call = call_fused_add_layernorm_grad,
     .ref = ref_fused_add_layernorm_grad,
     .fill = fill_values,
     .fd_check = fd_fused_add_layernorm_grad,
     .bad = BAD_EPS},
    {.op = "rms_norm_dropout_grad",
     .t = {ROWS_IN("x", 0), PARAM_IN("weight", 0), ROWS_IN("dy", 0), ROWS_OUT("dx", 1, ZK_TOL_GRAD),
           PARAM_OUT("dweight")},
     .nt = 5,
     .scalars = {DROP_P, 1e-6},
     .seeds = DROP_SEEDS,
     .call = call_rms_norm_dropout_grad,
     .ref = ref_rms_norm_dropout_grad,
     .fill = fill_values,
     .fd_check = fd_rms_norm_dropout_grad,
     .alias_of = {[3] = 3},
     .bad = BAD_P_EPS},
    {.op = "dropout_grad",
     .t = {ROWS_IN("dy", 0), ROWS_OUT("dx", 0, ZK_TOL_EXACT)},
     .nt = 2,
     .scalars = {DROP_P},
     .seeds = DROP_SEEDS,
     .call = call_dropout_grad,
     .ref = ref_dropout,
     .fill = fill_values,
     .fd_check = fd_dropout_grad,
     .alias_of = {[1] = 1},
     .bad = BAD_P},
    {.op = "bias_swiglu_grad",
     .t = {GATED_IN, BIAS_IN, ROWS_IN("dy", 0), GATED_OUT("dx", 1), BIAS_OUT},
     .nt = 5,
     .call = call_bias_swiglu_grad,
     .ref = ref_bias_swiglu_grad,
     .fill = fill_values,
     .fd_check = fd_bias_swiglu_grad},
    {.op = "bias_geglu_grad",
     .t = {GATED_IN, BIAS_IN, ROWS_IN("dy", 0), GATED_OUT("dx", 1), BIAS_OUT},
     .nt = 5,
     .call = call_bias_geglu_grad,
     .ref = ref_bias_geglu_grad,
     .fill = fill_values,
     .fd_check = fd_bias_geglu_grad},
};
#define NOPS ((int)(sizeof transformer_tests / sizeof transformer_tests[0]))

/* ------------------------------------------------------- extras: helpers */

static const zk_dtype dtypes[] = {ZK_F32, ZK_F16, ZK_BF16};

static const zk_op_test *find(const char *op) {
  for (int i = 0; i < NOPS; i++)
    if (!strcmp(transformer_tests[i].op, op)) return &transformer_tests[i];
  return NULL;
}

/* A copy of op's descriptor whose input slots in `custom` (a bit mask)
 * come from the fill hook in `mode`. */
static zk_op_test filled(const char *op, unsigned custom, enum fill_mode mode) {
  zk_op_test t = *find(op);
  for (int k = 0; k < t.nt; k++)
    if (custom >> k & 1) t.t[k].dist = ZK_DIST_CUSTOM;
  t.scalars[MODE_SLOT] = mode;
  return t;
}

static zk_case_opts opts(zk_backend b, zk_dtype dt, int64_t R, int64_t D, int strided, uint64_t salt) {
  zk_case_opts o = {.backend = b, .dtype = dt, .param_dtype = dt, .R = R, .D = D, .strided = strided,
                    .seed = zk_test_seed() ^ (salt * 0xD1B54A32D192ED03ull), .absent = -1, .alias = -1};
  return o;
}

static int setup(zk_case *c, const zk_op_test *t, const zk_case_opts *o, char *msg, size_t cap) {
  if (!zk_case_init(c, t, o)) return 0;
  snprintf(msg, cap, "%s: could not set up a case", t->op);
  return 1;
}

/* Makes output slot `out` of an initialised case an exact alias of input
 * slot `in` (the harness's alias option does one output per case). */
static void make_alias(zk_case *c, int out, int in) {
  if (c->dev[out]) zk_dev_free(c->dev[out]);
  free(c->host[out]);
  c->dev[out] = NULL;
  c->alias[out] = in + 1;
  c->host[out] = c->host[in];
  c->bytes[out] = c->bytes[in];
  c->dl[out] = c->dl[in];
}

/* Output k's storage as the call left it (downloaded on cuda by zk_case_run)
 * still holds the poison bytes: the call wrote nothing there. */
static int untouched(const zk_case *c, int k) {
  const unsigned char *p = c->host[k];
  for (size_t i = 0; i < c->bytes[k]; i++)
    if (p[i] != 0xFF) return 0;
  return 1;
}

static int is_pos_zero(double v) { return v == 0.0 && !signbit(v); }

/* 1 when every op of the space-separated list is implemented on the
 * backend.  Extras exercise ops, not backends: where one is missing (CUDA
 * before its port), the extra passes and run_family reports the op as
 * unsupported. */
static int implemented(zk_backend be, const char *ops) {
  size_t count;
  const zk_op_info *info = zk_catalog(&count);
  while (*ops) {
    size_t len = strcspn(ops, " ");
    int found = 0;
    for (size_t i = 0; i < count && !found; i++)
      if (strlen(info[i].name) == len && !strncmp(info[i].name, ops, len))
        found = be == ZK_BACKEND_CUDA ? info[i].cuda : info[i].cpu;
    if (!found) return 0;
    ops += len + (ops[len] == ' ');
  }
  return 1;
}
#define SKIP_UNLESS(be, ops) \
  do {                       \
    if (!implemented(be, ops)) return 0; \
  } while (0)

/* ------------------------------------------------ extras: §4.0 known answers */

static int check_philox(const uint32_t ctr[4], uint32_t k0, uint32_t k1, const uint32_t want[4], char *msg,
                        size_t cap) {
  uint32_t a[4], b[4];
  memcpy(a, ctr, sizeof a);
  memcpy(b, ctr, sizeof b);
  zk_ref_philox4x32_10(a, k0, k1);
  zk_philox4x32_10(b, k0, k1); /* the kernels' (src/common/zk_math.h) */
  for (int i = 0; i < 4; i++)
    if (a[i] != want[i] || b[i] != want[i]) {
      snprintf(msg, cap, "Philox(ctr %08x.., key %08x %08x) word %d: reference %08x, kernels %08x, expected %08x",
               ctr[0], k0, k1, i, a[i], b[i], want[i]);
      return 1;
    }
  return 0;
}

static int extra_philox_vectors(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  (void)ctx, (void)be;
  static const uint32_t zero[4] = {0, 0, 0, 0}, ones[4] = {~0u, ~0u, ~0u, ~0u};
  static const uint32_t pi[4] = {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344};
  static const uint32_t want0[4] = {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8};
  static const uint32_t want1[4] = {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd};
  static const uint32_t want2[4] = {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1};
  return check_philox(zero, 0, 0, want0, msg, cap) || check_philox(ones, ~0u, ~0u, want1, msg, cap) ||
         check_philox(pi, 0xa4093822, 0x299f31d0, want2, msg, cap);
}

/* zk_dropout on n ones (dtype dt, 1-D) at (p, seed, offset), checked EXACT
 * against the reference; kept[i] = 1 where element i came back as s, 0
 * where it came back +0.  0 = pass. */
static int dropout_ones(zk_ctx *ctx, zk_backend be, zk_dtype dt, int64_t n, float p, uint64_t seed, uint64_t offset,
                        uint8_t *kept, char *msg, size_t cap) {
  zk_op_test t = filled("dropout", 1, FILL_ONES);
  zk_case_opts o = opts(be, dt, 1, n, 0, 1);
  o.one_d = 1;
  zk_case c;
  if (setup(&c, &t, &o, msg, cap)) return 1;
  c.s[0] = p, c.u[0] = seed, c.u[1] = offset;
  int fail = zk_case_run_checked(&c, ctx, msg, cap);
  double s = zk_round_to(1.0f / (1.0f - p), dt);
  for (int64_t i = 0; !fail && i < n; i++) {
    double y = c.got[1][i];
    kept[i] = y != 0.0;
    if (!(is_pos_zero(y) || (p < 1.0f && y == s))) {
      snprintf(msg, cap, "dropout of ones (p %g): element %lld is %.9g, neither +0 nor s = %.9g", (double)p,
               (long long)i, y, s);
      fail = 1;
    }
  }
  zk_case_free(&c);
  return fail;
}

/* seed 42: the draws w >> 8 of i = 0..7, from the reference, from the
 * kernels' Philox, and from the kernel itself: element i is kept at
 * p = draw·2^-24 (u < p fails) and dropped at p = (draw + 1)·2^-24. */
static int extra_seed42_draws(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  SKIP_UNLESS(be, "dropout");
  static const uint32_t want[8] = {10283760, 7861577, 1228624, 5718707, 16571169, 5487212, 8621914, 7622150};
  uint32_t blocks[8];
  zk_dropout_draws(42, 0, blocks);
  zk_dropout_draws(42, 1, blocks + 4);
  for (int i = 0; i < 8; i++) {
    uint32_t r = zk_ref_dropout_draw(42, 0, (uint64_t)i);
    if (r != want[i] || blocks[i] != want[i]) {
      snprintf(msg, cap, "seed 42 draw %d: reference %u, kernels' Philox %u, expected %u", i, r, blocks[i], want[i]);
      return 1;
    }
  }
  uint8_t kept[8];
  for (int i = 0; i < 8; i++)
    for (int above = 0; above < 2; above++) {
      float p = (float)(want[i] + (uint32_t)above) * 0x1p-24f;
      if (dropout_ones(ctx, be, ZK_F32, 8, p, 42, 0, kept, msg, cap)) return 1;
      if (kept[i] != !above) {
        snprintf(msg, cap, "zk_dropout seed 42, p = %u·2^-24: element %d %s", want[i] + above, i,
                 above ? "kept (draw below p)" : "dropped (draw not below p)");
        return 1;
      }
    }
  return 0;
}

/* p = 0.5, seed 42: the keep pattern of i = 0..31, from the reference and
 * from zk_dropout on ones in every dtype. */
static int extra_keep_pattern(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  SKIP_UNLESS(be, "dropout");
  static const char want[] = "10001010111111100100000001000000";
  for (int i = 0; i < 32; i++)
    if (zk_ref_dropout_keep(0.5f, 42, 0, (uint64_t)i) != want[i] - '0') {
      snprintf(msg, cap, "reference keep pattern differs at i = %d", i);
      return 1;
    }
  for (int d = 0; d < 3; d++) {
    uint8_t kept[32];
    if (dropout_ones(ctx, be, dtypes[d], 32, 0.5f, 42, 0, kept, msg, cap)) return 1;
    for (int i = 0; i < 32; i++)
      if (kept[i] != want[i] - '0') {
        snprintf(msg, cap, "zk_dropout %s keep pattern differs at i = %d", zk_dtype_name(dtypes[d]), i);
        return 1;
      }
  }
  return 0;
}

/* ---------------------------------------------- extras: dropout statistics */

#define STAT_N 1000000

/* Pearson correlation of a[i] and b[i + lag], i < n - lag. */
static double correlation(const uint8_t *a, const uint8_t *b, int64_t n, int64_t lag) {
  double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
  for (int64_t i = 0; i + lag < n; i++) ma += a[i], mb += b[i + lag];
  ma /= (double)(n - lag), mb /= (double)(n - lag);
  for (int64_t i = 0; i + lag < n; i++) {
    double x = a[i] - ma, y = b[i + lag] - mb;
    sab += x * y, saa += x * x, sbb += y * y;
  }
  return sab / sqrt(saa * sbb);
}

/* 10^6 elements at p in {0.1, 0.5, 0.9}: the keep fraction within 5σ of
 * 1 - ceil(p·2^24)/2^24, lag-1 and lag-10 autocorrelation below 5/√n;
 * seeds 1 and 2 uncorrelated. */
static int extra_dropout_statistics(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  SKIP_UNLESS(be, "dropout");
  static const float ps[3] = {0.1f, 0.5f, 0.9f};
  uint8_t *m = malloc(STAT_N), *m2 = malloc(STAT_N);
  double bound = 5.0 / sqrt((double)STAT_N);
  int fail = !m || !m2;
  if (fail) snprintf(msg, cap, "out of memory");
  for (int k = 0; k < 3 && !fail; k++) {
    fail = dropout_ones(ctx, be, ZK_F32, STAT_N, ps[k], 0x5EED0000u + (uint64_t)k, 0, m, msg, cap);
    if (fail) break;
    double kept = 0, q = 1.0 - ceil((double)ps[k] * 16777216.0) / 16777216.0;
    for (int64_t i = 0; i < STAT_N; i++) kept += m[i];
    double sigma = sqrt(q * (1 - q) / STAT_N), frac = kept / STAT_N;
    double r1 = correlation(m, m, STAT_N, 1), r10 = correlation(m, m, STAT_N, 10);
    if (fabs(frac - q) > 5 * sigma || fabs(r1) > bound || fabs(r10) > bound) {
      snprintf(msg, cap, "p %g: keep fraction %.6f (expected %.6f ± %.6f), lag-1 %.2e, lag-10 %.2e (bound %.2e)",
               (double)ps[k], frac, q, 5 * sigma, r1, r10, bound);
      fail = 1;
    }
  }
  if (!fail) fail = dropout_ones(ctx, be, ZK_F32, STAT_N, 0.5f, 1, 0, m, msg, cap) ||
                    dropout_ones(ctx, be, ZK_F32, STAT_N, 0.5f, 2, 0, m2, msg, cap);
  if (!fail) {
    double r = correlation(m, m2, STAT_N, 0);
    if (fabs(r) > bound) {
      snprintf(msg, cap, "seeds 1 and 2: mask correlation %.2e above %.2e", r, bound);
      fail = 1;
    }
  }
  free(m);
  free(m2);
  return fail;
}

/* ------------------------------------------- extras: dropout properties */

/* p = 0 is the identity bit for bit (specials included), p = 1 gives +0
 * everywhere (NaN and Inf included); dropout_grad is bitwise dropout of dy,
 * strided too.  Every dtype. */
static int extra_dropout_p0_p1(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  SKIP_UNLESS(be, "dropout dropout_grad");
  zk_op_test fwd = filled("dropout", 1, FILL_SPECIALS), bwd = filled("dropout_grad", 1, FILL_SPECIALS);
  for (int d = 0; d < 3; d++) {
    static const double ps[3] = {0.0, 1.0, 0.3};
    for (int k = 0; k < 3; k++) {
      zk_case_opts o = opts(be, dtypes[d], 5, 301, k == 2, 7);
      zk_case a, b;
      int fail = setup(&a, &fwd, &o, msg, cap);
      if (!fail) {
        a.s[0] = ps[k];
        fail = zk_case_run_checked(&a, ctx, msg, cap);
      }
      if (!fail && setup(&b, &bwd, &o, msg, cap)) {
        fail = 1;
      } else if (!fail) {
        b.s[0] = ps[k];
        fail = zk_case_run_checked(&b, ctx, msg, cap);
        for (int64_t i = 0; !fail && i < zk_case_numel(&a, 1); i++) {
          double x = a.val[0][i], y = a.got[1][i], g = b.got[1][i];
          int ok = k == 0 ? (y == x || (isnan(x) && isnan(y))) && signbit(x) == signbit(y)
                          : k == 1 ? is_pos_zero(y) : 1;
          /* dropout_grad: the same bits as dropout (the same inputs). */
          ok = ok && (memcmp(&y, &g, sizeof y) == 0 || (isnan(y) && isnan(g)));
          if (!ok) {
            snprintf(msg, cap, "%s p = %g: element %lld: x %.9g, dropout %.9g, dropout_grad %.9g",
                     zk_dtype_name(dtypes[d]), ps[k], (long long)i, x, y, g);
            fail = 1;
          }
        }
        /* The raw storage too (NaN payloads, -0). */
        if (!fail && k == 0 && memcmp(a.host[1], a.host[0], a.bytes[0])) {
          snprintf(msg, cap, "%s p = 0: y is not bitwise x", zk_dtype_name(dtypes[d]));
          fail = 1;
        }
        zk_case_free(&b);
      }
      zk_case_free(&a);
      if (fail) return 1;
    }
  }
  return 0;
}

/* A call at offset o over n elements reproduces elements o..o+n-1 of a call
 * at offset 0, for 1-D and strided 2-D tensors, across the 2^64 wrap. */
static int extra_offset_composition(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  SKIP_UNLESS(be, "dropout");
  enum { N = 12007 };
  static const uint64_t offsets[] = {1, 5, 4099};
  uint8_t full[N], part[N];
  const uint64_t seed = 0xC0FFEE1234ull;
  if (dropout_ones(ctx, be, ZK_F32, N, 0.4f, seed, 0, full, msg, cap)) return 1;
  for (int k = 0; k < 3; k++) {
    uint64_t o = offsets[k];
    if (dropout_ones(ctx, be, ZK_BF16, N - (int64_t)o, 0.4f, seed, o, part, msg, cap)) return 1;
    if (memcmp(part, full + o, N - o)) {
      snprintf(msg, cap, "offset %llu does not continue the offset-0 stream", (unsigned long long)o);
      return 1;
    }
  }
  /* A strided [7, 1001] tensor at offset 13: row-major flat indices. */
  zk_op_test t = filled("dropout", 1, FILL_ONES);
  zk_case_opts o = opts(be, ZK_F16, 7, 1001, 1, 3);
  zk_case c;
  int fail = setup(&c, &t, &o, msg, cap);
  if (!fail) {
    c.s[0] = 0.4, c.u[0] = seed, c.u[1] = 13;
    fail = zk_case_run_checked(&c, ctx, msg, cap);
    for (int64_t i = 0; !fail && i < 7 * 1001; i++)
      if ((c.got[1][i] != 0) != full[13 + i]) {
        snprintf(msg, cap, "strided [7, 1001] at offset 13: element %lld differs from the 1-D stream", (long long)i);
        fail = 1;
      }
  }
  zk_case_free(&c);
  if (fail) return 1;
  /* offset 2^64 - 6: elements 6.. are elements 0.. of the offset-0 stream. */
  if (dropout_ones(ctx, be, ZK_F32, 40, 0.4f, seed, ~(uint64_t)0 - 5, part, msg, cap)) return 1;
  if (memcmp(part + 6, full, 34)) {
    snprintf(msg, cap, "offset 2^64 - 6 does not wrap onto the offset-0 stream");
    return 1;
  }
  return 0;
}

/* On cuda: dropout and dropout_grad bit for bit equal to the CPU backend on
 * the same inputs, and rms_norm_dropout drops the same elements (spec §4.0:
 * the mask and plain dropout's values are bitwise across backends).  On the
 * CPU backend there is nothing to compare with: the test passes vacuously
 * (the sweep checks the CPU bits against the reference). */
static int extra_cpu_equals_cuda(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  if (be != ZK_BACKEND_CUDA) return 0;
  SKIP_UNLESS(be, "dropout dropout_grad rms_norm_dropout");
  zk_ctx *cpu;
  if (zk_ctx_create(&cpu, kDLCPU, 0) != ZK_OK) {
    snprintf(msg, cap, "cannot create a CPU context");
    return 1;
  }
  static const char *ops[3] = {"dropout", "dropout_grad", "rms_norm_dropout"};
  int fail = 0;
  for (int i = 0; i < 3 && !fail; i++)
    for (int d = 0; d < 3 && !fail; d++) {
      zk_case_opts o = opts(be, dtypes[d], 37, 4099, d == 2, 41);
      zk_case_opts oc = o;
      oc.backend = ZK_BACKEND_CPU;
      zk_case g, c;
      const zk_op_test *t = find(ops[i]);
      int out = t->nt - 1;
      if (zk_run_case_kept(t, ctx, &o, &g, msg, cap)) {
        fail = 1;
      } else if (zk_run_case_kept(t, cpu, &oc, &c, msg, cap)) {
        fail = 1;
        zk_case_free(&c);
      } else {
        for (int64_t k = 0; k < zk_case_numel(&g, out) && !fail; k++) {
          double a = g.got[out][k], b = c.got[out][k];
          int same = i < 2 ? memcmp(&a, &b, sizeof a) == 0 || (isnan(a) && isnan(b)) : (a == 0) == (b == 0);
          if (!same) {
            snprintf(msg, cap, "%s %s: element %lld is %.9g on cuda, %.9g on cpu", ops[i], zk_dtype_name(dtypes[d]),
                     (long long)k, a, b);
            fail = 1;
          }
        }
        zk_case_free(&c);
      }
      zk_case_free(&g);
    }
  zk_ctx_destroy(cpu);
  return fail;
}

/* ----------------------------------------- extras: norm fusions vs unfused */

/* Runs case b (same inputs as a: same descriptor layout and seed) and
 * checks its output ob against a's output oa under ob's tolerance class. */
static int check_against(zk_case *a, int oa, zk_case *b, int ob, int nin, zk_ctx *ctx, char *msg, size_t cap) {
  for (int k = 0; k < nin; k++)
    if (memcmp(a->val[k], b->val[k], (size_t)zk_case_numel(a, k) * sizeof(double))) {
      snprintf(msg, cap, "%s and %s: input %d differs (test set-up)", a->test->op, b->test->op, k);
      return 1;
    }
  zk_status s = zk_case_run(b, ctx);
  if (s != ZK_OK) {
    snprintf(msg, cap, "%s: returned %s: %s", b->test->op, zk_status_name(s), zk_ctx_last_error(ctx));
    return 1;
  }
  memcpy(b->ref[ob], a->got[oa], (size_t)zk_case_numel(a, oa) * sizeof(double));
  if (zk_case_check(b, msg, cap)) return 1;
  return 0;
}

/* Runs op a on o (against its reference), then op b on the same inputs
 * (the first nin slots) with scalars sb (NULL: b's defaults); b's output
 * ob must match a's output oa. */
static int same_as(const zk_op_test *ta, int oa, const zk_op_test *tb, int ob, int nin, const double *sb, zk_ctx *ctx,
                   const zk_case_opts *o, char *msg, size_t cap) {
  zk_case a, b;
  int fail = zk_run_case_kept(ta, ctx, o, &a, msg, cap);
  if (!fail && !(fail = setup(&b, tb, o, msg, cap))) {
    if (sb) memcpy(b.s, sb, sizeof b.s);
    fail = check_against(&a, oa, &b, ob, nin, ctx, msg, cap);
    zk_case_free(&b);
  }
  zk_case_free(&a);
  return fail;
}

/* fused_add_* equals the normed output of *_residual (ROW);
 * rms_norm_dropout at p = 0 equals zk_rmsnorm (ROW). */
static int extra_unfused_forms(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  SKIP_UNLESS(be, "rmsnorm rmsnorm_residual fused_add_rmsnorm layernorm_residual fused_add_layernorm "
                  "rms_norm_dropout");
  const zk_op_test *rmsnorm = zk_find_test("rmsnorm");
  for (int d = 0; d < 3; d++)
    for (int strided = 0; strided < 2; strided++) {
      zk_case_opts o = opts(be, dtypes[d], 33, 1027, strided, 11);
      double p0[8] = {0.0, 1e-6}; /* every scalar slot of a case */
      _Static_assert(sizeof p0 == sizeof ((zk_case *)0)->s, "p0 fills zk_case.s");
      if (same_as(find("rmsnorm_residual"), 3, find("fused_add_rmsnorm"), 3, 3, NULL, ctx, &o, msg, cap) ||
          same_as(find("layernorm_residual"), 4, find("fused_add_layernorm"), 4, 4, NULL, ctx, &o, msg, cap) ||
          (rmsnorm && same_as(rmsnorm, 2, find("rms_norm_dropout"), 2, 2, p0, ctx, &o, msg, cap)))
        return 1;
    }
  if (!rmsnorm) {
    snprintf(msg, cap, "no rmsnorm descriptor to compare rms_norm_dropout with");
    return 1;
  }
  return 0;
}

/* rms_norm_dropout: the mask EXACT against the reference Philox (y is +0
 * exactly where dropped), p = 1 gives +0 everywhere and zero gradients. */
static int extra_rms_norm_dropout_mask(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  SKIP_UNLESS(be, "rms_norm_dropout rms_norm_dropout_grad");
  for (int d = 0; d < 3; d++)
    for (int k = 0; k < 2; k++) {
      float p = k ? 1.0f : 0.5f;
      zk_case_opts o = opts(be, dtypes[d], 9, 999, d == 1, 13);
      zk_case c, g;
      int fail = setup(&c, find("rms_norm_dropout"), &o, msg, cap);
      if (!fail) {
        c.s[0] = p;
        fail = zk_case_run_checked(&c, ctx, msg, cap);
        for (int64_t i = 0; !fail && i < zk_case_numel(&c, 2); i++) {
          int keep = zk_ref_dropout_keep(p, c.u[0], c.u[1], (uint64_t)i);
          if (keep == is_pos_zero(c.got[2][i])) {
            snprintf(msg, cap, "%s p %g: element %lld is %.9g, the reference %s it", zk_dtype_name(dtypes[d]),
                     (double)p, (long long)i, c.got[2][i], keep ? "keeps" : "drops");
            fail = 1;
          }
        }
      }
      zk_case_free(&c);
      if (fail) return 1;
      if (k == 0) continue;
      if (setup(&g, find("rms_norm_dropout_grad"), &o, msg, cap)) return 1;
      g.s[0] = p;
      fail = zk_case_run_checked(&g, ctx, msg, cap);
      for (int k2 = 3; k2 < 5 && !fail; k2++)
        for (int64_t i = 0; i < zk_case_numel(&g, k2); i++)
          if (g.got[k2][i] != 0.0) {
            snprintf(msg, cap, "rms_norm_dropout_grad p = 1: %s[%lld] = %g", g.test->t[k2].name, (long long)i,
                     g.got[k2][i]);
            fail = 1;
            break;
          }
      zk_case_free(&g);
      if (fail) return 1;
    }
  return 0;
}

/* A NULL params struct is ZK_ERR_ARG, naming params, and writes nothing. */
static int extra_null_params(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  SKIP_UNLESS(be, "rms_norm_dropout rms_norm_dropout_grad");
  const char *ops[2] = {"rms_norm_dropout", "rms_norm_dropout_grad"};
  for (int i = 0; i < 2; i++) {
    zk_case c;
    zk_case_opts o = opts(be, ZK_F32, 3, 33, 0, 17);
    if (setup(&c, find(ops[i]), &o, msg, cap)) return 1;
    zk_status s = i ? zk_rms_norm_dropout_grad(ctx, ZT(&c, 0), ZT(&c, 1), ZT(&c, 2), ZT(&c, 3), ZT(&c, 4), NULL)
                    : zk_rms_norm_dropout(ctx, ZT(&c, 0), ZT(&c, 1), ZT(&c, 2), NULL);
    if (be == ZK_BACKEND_CUDA) {
      zk_ctx_synchronize(ctx);
      for (int k = 2; k < c.test->nt; k++)
        if (c.test->t[k].role == ZK_OUT) zk_dev_download(c.host[k], c.dev[k], c.bytes[k]);
    }
    int fail = s != ZK_ERR_ARG || !strstr(zk_ctx_last_error(ctx), "params");
    for (int k = 0; k < c.test->nt; k++)
      if (c.test->t[k].role == ZK_OUT && !untouched(&c, k)) fail = 1;
    if (fail)
      snprintf(msg, cap, "zk_%s with NULL params: %s (%s), or an output was written", ops[i], zk_status_name(s),
               zk_ctx_last_error(ctx));
    zk_case_free(&c);
    if (fail) return 1;
  }
  return 0;
}

/* -------------------------------------------------- extras: residual aliases */

/* normed -> x and h -> residual in the same call (the in-place residual
 * stream), and fused_add_*'s normed -> x2. */
static int extra_both_aliases(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  SKIP_UNLESS(be, "rmsnorm_residual layernorm_residual fused_add_rmsnorm fused_add_layernorm");
  struct {
    const char *op;
    int out, in;     /* the alias the harness sets up */
    int out2, in2;   /* and the second, or the only one when out < 0 */
  } cases[] = {{"rmsnorm_residual", 3, 0, 4, 1},
               {"layernorm_residual", 4, 0, 5, 1},
               {"fused_add_rmsnorm", -1, -1, 3, 1},
               {"fused_add_layernorm", -1, -1, 4, 1}};
  for (int i = 0; i < 4; i++)
    for (int d = 0; d < 3; d++)
      for (int strided = 0; strided < 2; strided++) {
        zk_case_opts o = opts(be, dtypes[d], 257, strided ? 4097 : 255, strided, 19 + i);
        o.alias = cases[i].out;
        zk_case c;
        int fail = setup(&c, find(cases[i].op), &o, msg, cap);
        if (!fail) {
          make_alias(&c, cases[i].out2, cases[i].in2);
          fail = zk_case_run_checked(&c, ctx, msg, cap);
        }
        zk_case_free(&c);
        if (fail) return 1;
      }
  return 0;
}

/* ------------------------------------------------ extras: LayerNorm rows */

/* Rows of mean 1e4 and spread 1 (no cancellation NaN; ROW/GRAD against
 * float64), and constant rows: normed is exactly round_T(beta) (0 without
 * beta), in the residual and fused-add LayerNorms and their grads. */
static int extra_layernorm_rows(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  SKIP_UNLESS(be, "layernorm_residual fused_add_layernorm layernorm_residual_grad fused_add_layernorm_grad");
  static const char *fwd[2] = {"layernorm_residual", "fused_add_layernorm"};
  static const char *grad[2] = {"layernorm_residual_grad", "fused_add_layernorm_grad"};
  for (int d = 0; d < 3; d++)
    for (int i = 0; i < 2; i++) {
      zk_case_opts o = opts(be, dtypes[d], 17, 1031, 0, 23 + i);
      zk_op_test t = filled(fwd[i], 3, FILL_MEAN_1E4), tg = filled(grad[i], i ? 3 : 1, FILL_MEAN_1E4);
      if (zk_run_case(&t, ctx, &o, msg, cap) || zk_run_case(&tg, ctx, &o, msg, cap)) return 1;
      t = filled(fwd[i], 3, FILL_CONSTANT);
      for (int absent = 0; absent < 2; absent++) {
        zk_case c;
        o.absent = absent ? 3 : -1; /* beta */
        int fail = zk_run_case_kept(&t, ctx, &o, &c, msg, cap), normed = t.nt - (i ? 1 : 2);
        for (int64_t k = 0; !fail && k < zk_case_numel(&c, normed); k++) {
          double want = absent ? 0.0 : zk_round_to(c.val[3][k % c.D], c.dtype);
          if (c.got[normed][k] != want) {
            snprintf(msg, cap, "%s %s constant rows%s: normed[%lld] = %.9g, expected %.9g", fwd[i],
                     zk_dtype_name(c.dtype), absent ? " without beta" : "", (long long)k, c.got[normed][k], want);
            fail = 1;
          }
        }
        zk_case_free(&c);
        if (fail) return 1;
      }
    }
  return 0;
}

/* ------------------------------------------------- extras: gated MLPs */

static const char *glu_forwards[4] = {"swiglu", "geglu", "bias_swiglu", "bias_geglu"};
#define GLU_ALL "swiglu geglu bias_swiglu bias_geglu swiglu_grad geglu_grad bias_swiglu_grad bias_geglu_grad"

/* ±Inf, NaN, ±0 and large values in gate and up: IEEE as written
 * (silu(-Inf)·b = NaN), against float64 in every dtype. */
static int extra_glu_specials(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  SKIP_UNLESS(be, "swiglu geglu bias_swiglu bias_geglu");
  for (int i = 0; i < 4; i++)
    for (int d = 0; d < 3; d++) {
      zk_op_test t = filled(glu_forwards[i], 1, FILL_SPECIALS);
      zk_case_opts o = opts(be, dtypes[d], 5, 2 * NSPECIALS + 7, 0, 29);
      if (zk_run_case(&t, ctx, &o, msg, cap)) return 1;
    }
  return 0;
}

/* D = 0 (x [3, 0]): nothing to write, ZK_OK, for every gated op and grad. */
static int extra_glu_empty(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  SKIP_UNLESS(be, GLU_ALL);
  static const char *ops[8] = {"swiglu", "geglu", "bias_swiglu", "bias_geglu",
                               "swiglu_grad", "geglu_grad", "bias_swiglu_grad", "bias_geglu_grad"};
  for (int i = 0; i < 8; i++) {
    zk_case_opts o = opts(be, ZK_F32, 3, 0, 0, 31);
    if (zk_run_case(find(ops[i]), ctx, &o, msg, cap)) return 1;
  }
  return 0;
}

/* x as the slice proj[:, D:] of a fused [R, 3D] projection: row stride
 * 3D > 2D and a byte offset of D elements.  The slice's columns outside x
 * hold a sentinel; nothing of the projection may change. */
static int run_on_slice(const zk_op_test *t, zk_ctx *ctx, const zk_case_opts *o, char *msg, size_t cap) {
  zk_case c;
  if (setup(&c, t, o, msg, cap)) return 1;
  int64_t R = c.R, D = c.D, es = zk_dtype_size(c.dtype);
  size_t bytes = (size_t)(R * 3 * D * es);
  unsigned char *proj = malloc(bytes ? bytes : 1), *before = malloc(bytes ? bytes : 1);
  void *dev = NULL;
  memset(proj, 0x5A, bytes);
  for (int64_t r = 0; r < R; r++)
    memcpy(proj + (r * 3 * D + D) * es, (unsigned char *)c.host[0] + r * 2 * D * es, (size_t)(2 * D * es));
  memcpy(before, proj, bytes);
  int64_t shape[2] = {R, 2 * D}, strides[2] = {3 * D, 1};
  c.dl[0].data = proj;
  if (c.backend == ZK_BACKEND_CUDA) {
    if (zk_dev_alloc(&dev, bytes) || zk_dev_upload(dev, proj, bytes)) {
      snprintf(msg, cap, "%s: cannot set up the slice on the device", t->op);
      free(proj), free(before), zk_case_free(&c);
      return 1;
    }
    c.dl[0].data = dev;
  }
  c.dl[0].shape = shape;
  c.dl[0].strides = strides;
  c.dl[0].byte_offset = (uint64_t)(D * es);
  int fail = zk_case_run_checked(&c, ctx, msg, cap);
  if (c.backend == ZK_BACKEND_CUDA) zk_dev_download(proj, dev, bytes);
  if (!fail && memcmp(proj, before, bytes)) {
    snprintf(msg, cap, "%s: the projection holding x was written", t->op);
    fail = 1;
  }
  if (dev) zk_dev_free(dev);
  free(proj);
  free(before);
  zk_case_free(&c);
  return fail;
}

static int extra_glu_slice(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  SKIP_UNLESS(be, GLU_ALL);
  static const char *ops[8] = {"swiglu", "geglu", "bias_swiglu", "bias_geglu",
                               "swiglu_grad", "geglu_grad", "bias_swiglu_grad", "bias_geglu_grad"};
  for (int i = 0; i < 8; i++)
    for (int d = 0; d < 3; d++) {
      zk_case_opts o = opts(be, dtypes[d], 67, d ? 129 : 2049, 0, 37);
      if (run_on_slice(find(ops[i]), ctx, &o, msg, cap)) return 1;
    }
  return 0;
}

static const zk_extra_test transformer_extras[] = {
    {"philox_known_answers", extra_philox_vectors},
    {"dropout_seed42_draws", extra_seed42_draws},
    {"dropout_keep_pattern", extra_keep_pattern},
    {"dropout_statistics", extra_dropout_statistics},
    {"dropout_p0_p1_and_grad", extra_dropout_p0_p1},
    {"dropout_offset_composition", extra_offset_composition},
    {"dropout_cpu_equals_cuda", extra_cpu_equals_cuda},
    {"norm_fusions_vs_unfused", extra_unfused_forms},
    {"rms_norm_dropout_mask", extra_rms_norm_dropout_mask},
    {"rms_norm_dropout_null_params", extra_null_params},
    {"residual_both_aliases", extra_both_aliases},
    {"layernorm_hard_rows", extra_layernorm_rows},
    {"glu_special_values", extra_glu_specials},
    {"glu_empty_rows", extra_glu_empty},
    {"glu_x_slice_of_projection", extra_glu_slice},
};

const zk_family_tests zk_tests_transformer = {"transformer", transformer_tests, NOPS, transformer_extras,
                                              sizeof transformer_extras / sizeof transformer_extras[0]};
