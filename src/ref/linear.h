/* float64 reference of the linear family (spec §10): the oracle.
 *
 * x [M, K], w [N, K], y [M, N] compact row-major double arrays of the
 * stored values; bias, gamma [N].  z = x·wᵀ is an exact-as-double GEMM
 * (no f32 rounding: the kernels' f32 accumulation error is what the ACC
 * term bounds), then the spec's epilogue in double. */
#ifndef ZK_REF_LINEAR_H
#define ZK_REF_LINEAR_H
#include <stdint.h>
#include "fused.h"

/* Upper bounds of |act'| over the reals (silu: 1.09984 at x ≈ 2.40;
 * gelu_tanh: 1.12899 at x ≈ 1.5): an error e in z moves act(z) by at most
 * L·e, so the ACC term of y is L·S. */
#define ZK_REF_SILU_LIPSCHITZ 1.1
#define ZK_REF_GELU_TANH_LIPSCHITZ 1.13

/* z [M, N] = Σ_k x[m,k]·w[n,k]; s (if not NULL) = Σ_k |x[m,k]·w[n,k]|, the
 * spec's S.  K = 0 gives z = s = 0. */
void zk_ref_linear_gemm(const double *x, const double *w, double *z, double *s, int64_t M, int64_t N, int64_t K);

/* y = act(z + bias) (bias NULL: act(z)); y_acc (if not NULL) = L·S, the
 * ACC term carried through the activation. */
void zk_ref_fused_linear_act(zk_ref_act act, const double *x, const double *w, const double *bias, double *y,
                             double *y_acc, int64_t M, int64_t N, int64_t K);

/* y = rmsnorm(z)·gamma with r = (Σ_n z_n²/N + eps)^-1/2 over each row of z.
 * y_acc (if not NULL) is S carried through the norm to first order: with
 * |e_m| <= S_m in z, |dy_n| <= |γ_n|·r·(S_n + |z_n|·r²·Σ_m |z_m|·S_m / N). */
void zk_ref_fused_linear_rmsnorm(const double *x, const double *w, const double *gamma, double *y, double *y_acc,
                                 int64_t M, int64_t N, int64_t K, double eps);

#endif
