/* float64 reference of the norms family (spec §3): the oracle. */
#ifndef ZK_REF_NORMS_H
#define ZK_REF_NORMS_H
#include <stdint.h>

/* x [R, D], w [D] -> y [R, D]; y = x·r·w, r = (Σx²/D + eps)^-1/2. */
void zk_ref_rmsnorm(const double *x, const double *w, double *y, int64_t R, int64_t D, double eps);
/* x, dy [R, D], w [D] -> dx [R, D] (NULL: skip), dw [D] (NULL: skip), dw_abs [D] = Σ|dy·x̂| (the ACC term). */
void zk_ref_rmsnorm_grad(const double *x, const double *w, const double *dy, double *dx, double *dw,
                         double *dw_abs, int64_t R, int64_t D, double eps);

#endif
