/* float64 reference of the transformer family (spec §4): the oracle.
 *
 * Tensors are compact row-major double arrays holding the stored values.
 * Where the contract makes a rounding part of the result (h = round_T(x +
 * residual)), the function takes the dtype T.  Gradient functions also
 * return the ACC term (Σ of absolute values) of every sum over rows. */
#ifndef ZK_REF_TRANSFORMER_H
#define ZK_REF_TRANSFORMER_H
#include <stdint.h>
#include "../core/internal.h" /* zk_dtype */
#include "norms.h"          /* zk_ref_dropout, zk_ref_norm */

/* ------------------------------------------------------------ dropout RNG */

/* Philox4x32-10 written from spec §4.0, independently of src/common: ctr
 * (4 words) is replaced by the output block under key (k0, k1). */
void zk_ref_philox4x32_10(uint32_t ctr[4], uint32_t k0, uint32_t k1);
/* The 24-bit draw (w >> 8) of flat element i of the dropout stream. */
uint32_t zk_ref_dropout_draw(uint64_t seed, uint64_t offset, uint64_t i);
/* 1 when element i is kept at drop probability p (p as the f32 the kernels use). */
int zk_ref_dropout_keep(float p, uint64_t seed, uint64_t offset, uint64_t i);
/* The f32 scale 1/(1-p) of kept elements. */
float zk_ref_dropout_scale(float p);

/* -------------------------------------------------------------- rounding */

/* round_T(v): round to nearest even into T (f32, f16, bf16), overflow to
 * ±Inf, NaN kept.  Any other T returns v unchanged. */
double zk_ref_round(double v, zk_dtype t);
/* h [n] = round_T(f32(x) + f32(res)): the f32 sum, rounded once into T.  T
 * not a float dtype (ZK_DTYPE_INVALID): the exact sum, for central
 * differences. */
void zk_ref_add_round(const double *x, const double *res, double *h, int64_t n, zk_dtype t);

/* ------------------------------------------------------------ gated MLPs */

typedef enum zk_ref_gate { ZK_REF_SILU, ZK_REF_GELU_TANH } zk_ref_gate;

/* x [R, 2D] = gate | up, bias [2D] or NULL -> y [R, D] = act(a)·b with
 * a = x[:, :D] (+ bias[:D]), b = x[:, D:] (+ bias[D:]).  swiglu, geglu and
 * their bias variants (4.1, 4.2, 4.9, 4.10). */
void zk_ref_glu(zk_ref_gate gate, const double *x, const double *bias, double *y, int64_t R, int64_t D);
/* x [R, 2D], bias [2D] or NULL, dy [R, D] -> dx [R, 2D] (NULL: skip),
 * dbias [2D] = Σ_rows dx (NULL: skip), dbias_abs [2D] = Σ_rows |dx| (NULL: skip). */
void zk_ref_glu_grad(zk_ref_gate gate, const double *x, const double *bias, const double *dy, double *dx,
                     double *dbias, double *dbias_abs, int64_t R, int64_t D);

/* ------------------------------------------------ residual + norm fusions */

/* x, res [R, D], w [D] -> h = round_T(x + res), normed = rmsnorm(h, w) [R, D]. */
void zk_ref_rmsnorm_residual(const double *x, const double *res, const double *w, double *normed, double *h,
                             int64_t R, int64_t D, double eps, zk_dtype t);
/* h, dnormed [R, D], dh [R, D] or NULL, w [D] -> dx = rmsnorm VJP + dh
 * (NULL: skip), dw [D] = Σ dnormed·ĥ, dw_abs [D] (NULL: skip). */
void zk_ref_rmsnorm_residual_grad(const double *h, const double *w, const double *dnormed, const double *dh,
                                  double *dx, double *dw, double *dw_abs, int64_t R, int64_t D, double eps);
/* As rmsnorm_residual with layernorm(h, gamma, beta) (zk_ref_norm with
 * ZK_REF_LAYER); beta may be NULL.  The grad also writes dbeta [D] = Σ
 * dnormed and its ACC term. */
void zk_ref_layernorm_residual(const double *x, const double *res, const double *gamma, const double *beta,
                               double *normed, double *h, int64_t R, int64_t D, double eps, zk_dtype t);
void zk_ref_layernorm_residual_grad(const double *h, const double *gamma, const double *dnormed, const double *dh,
                                    double *dx, double *dgamma, double *dgamma_abs, double *dbeta,
                                    double *dbeta_abs, int64_t R, int64_t D, double eps);

/* x1, x2 [R, D], w [D] -> normed = rmsnorm(round_T(x1 + x2), w). */
void zk_ref_fused_add_rmsnorm(const double *x1, const double *x2, const double *w, double *normed, int64_t R,
                              int64_t D, double eps, zk_dtype t);
/* dx = d x1 = d x2: the rmsnorm VJP at h = round_T(x1 + x2). */
void zk_ref_fused_add_rmsnorm_grad(const double *x1, const double *x2, const double *w, const double *dnormed,
                                   double *dx, double *dw, double *dw_abs, int64_t R, int64_t D, double eps,
                                   zk_dtype t);
void zk_ref_fused_add_layernorm(const double *x1, const double *x2, const double *gamma, const double *beta,
                                double *normed, int64_t R, int64_t D, double eps, zk_dtype t);
void zk_ref_fused_add_layernorm_grad(const double *x1, const double *x2, const double *gamma,
                                     const double *dnormed, double *dx, double *dgamma, double *dgamma_abs,
                                     double *dbeta, double *dbeta_abs, int64_t R, int64_t D, double eps,
                                     zk_dtype t);

/* ---------------------------------------------------------------- dropout
 * rms_norm_dropout and its grad are zk_ref_norm / zk_ref_norm_grad (norms.h)
 * with kind ZK_REF_RMS and a zk_ref_dropout. */

/* x [n] (flat, row-major) -> y [n]: f32(x)·s where kept (the f32 product,
 * which round_T then stores), +0 where dropped.  dropout_grad is the same
 * map on dy. */
void zk_ref_plain_dropout(const double *x, double *y, int64_t n, const zk_ref_dropout *d);

#endif
