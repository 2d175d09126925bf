/* float64 reference of the norms family (spec §3): the oracle.
 *
 * Shapes: x, y, dy, dx [R, D] compact; w (weight/gamma), b (beta), dw, db
 * [D].  A NULL w is weight 1, a NULL b no bias, a NULL drop no dropout; a
 * NULL output is not computed.  The *_abs outputs are the ACC terms of the
 * parameter gradients: dw_abs = Σ_rows |dy'·x̂|, db_abs = Σ_rows |dy'|. */
#ifndef ZK_REF_NORMS_H
#define ZK_REF_NORMS_H
#include <stdint.h>

typedef enum zk_ref_norm_kind {
  ZK_REF_RMS,    /* x̂ = x·r, r = (Σx²/D + eps)^-1/2 */
  ZK_REF_LAYER,  /* x̂ = (x-μ)·rstd, population variance, two passes */
} zk_ref_norm_kind;

/* Dropout after the norm (spec §3.6 with the §4.0 stream, flat index r·D + j):
 * p is the f32 the kernels use; a kept element is scaled by the f32 1/(1-p). */
typedef struct zk_ref_dropout {
  float p;
  uint64_t seed, offset;
} zk_ref_dropout;

/* y = drop(x̂·w + b). */
void zk_ref_norm(zk_ref_norm_kind kind, const double *x, const double *w, const double *b, double *y, int64_t R,
                 int64_t D, double eps, const zk_ref_dropout *drop);
/* The VJP of zk_ref_norm (b does not enter it): dy' = dy·keep·s, g = dy'·w,
 * dx = rstd·(g - [LAYER] mean g - x̂·mean(g·x̂)), dw = Σ_rows dy'·x̂, db = Σ_rows dy'.
 * dw, db (and their _abs terms) are written even when R = 0. */
void zk_ref_norm_grad(zk_ref_norm_kind kind, const double *x, const double *w, const double *dy, double *dx,
                      double *dw, double *dw_abs, double *db, double *db_abs, int64_t R, int64_t D, double eps,
                      const zk_ref_dropout *drop);

/* zk_ref_norm(ZK_REF_RMS, ...) without bias or dropout. */
void zk_ref_rmsnorm(const double *x, const double *w, double *y, int64_t R, int64_t D, double eps);
/* zk_ref_norm_grad(ZK_REF_RMS, ...) without dbias or dropout. */
void zk_ref_rmsnorm_grad(const double *x, const double *w, const double *dy, double *dx, double *dw,
                         double *dw_abs, int64_t R, int64_t D, double eps);

#endif
