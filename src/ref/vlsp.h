/* float64 reference of the vlsp family (spec §5): the oracle.
 *
 * Tensors are compact row-major double arrays holding the stored values:
 * h, gate, dout, out, dh, dgate, rewards, adv [R, D]; w_norm, dw_norm [D];
 * the elementwise ops take n values.  A NULL output is not computed. */
#ifndef ZK_REF_VLSP_H
#define ZK_REF_VLSP_H
#include <stdint.h>

/* out = h + alpha·silu(h·r·w)·gate, r = (Σh²/D + eps)^-1/2.  out_abs (may be
 * NULL) = |h| + |alpha·silu(n)·gate|, the S term of the residual sum. */
void zk_ref_fused_recurrent_step(const double *h, const double *w, const double *gate, double *out, double *out_abs,
                                 int64_t R, int64_t D, double alpha, double eps);
/* The analytic VJP: dh, dgate [R, D]; dw [D] = Σ_rows dn·ĥ and dw_abs [D] =
 * Σ_rows |dn·ĥ| (the ACC term), written (as 0) when R = 0. */
void zk_ref_fused_recurrent_step_grad(const double *h, const double *w, const double *gate, const double *dout,
                                      double *dh, double *dw, double *dw_abs, double *dgate, int64_t R, int64_t D,
                                      double alpha, double eps);

/* y = k·σ(x), or (ste) clamp(round_half_away(k·σ(x)), 1, k); NaN stays NaN. */
void zk_ref_depth_gate_sigmoid(const double *x, double *y, int64_t n, double k_max, int ste);
/* dx = dy·k·σ(x)(1-σ(x)). */
void zk_ref_depth_gate_sigmoid_grad(const double *x, const double *dy, double *dx, int64_t n, double k_max);

/* adv [R, G] = (r-μ)/√(var+eps) (add_to_std = 0) or (r-μ)/(√var + eps), var
 * = Σ(r-μ)²/(G-ddof), 0 when G - ddof <= 0; a row whose r - μ is 0 gives 0
 * even where the denominator is 0 (eps = 0). */
void zk_ref_grpo_advantage_norm(const double *r, double *adv, int64_t R, int64_t G, double eps, int ddof,
                                int add_to_std);

/* y = silu(gate)·up + residual; its VJP dgate = dy·up·silu'(gate), dup =
 * dy·silu(gate), dresidual = dy. */
void zk_ref_silu_mul_residual(const double *gate, const double *up, const double *residual, double *y, int64_t n);
void zk_ref_silu_mul_residual_grad(const double *gate, const double *up, const double *dy, double *dgate, double *dup,
                                   double *dresidual, int64_t n);

#endif
