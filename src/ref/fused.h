/* float64 reference of the fused elementwise family (spec §9): the oracle.
 *
 * Tensors are compact row-major double arrays holding the stored values:
 * a, b, x, y, dy, dx, da, db [n] or [R, C]; bias, dbias [C].  The bitwise
 * ops (add, mul, add_bias) emulate their one f32 operation, which the
 * harness then rounds into the output dtype; the others evaluate in double.
 * A NULL output is not computed. */
#ifndef ZK_REF_FUSED_H
#define ZK_REF_FUSED_H
#include <stdint.h>

/* y = f32(a) + f32(b), f32(a)·f32(b) (the f32 result, exact in double). */
void zk_ref_add(const double *a, const double *b, double *y, int64_t n);
void zk_ref_mul(const double *a, const double *b, double *y, int64_t n);
/* y [R, C] = f32(x) + f32(bias_c). */
void zk_ref_add_bias(const double *x, const double *bias, double *y, int64_t R, int64_t C);

typedef enum zk_ref_act { ZK_REF_BIAS_GELU_TANH, ZK_REF_BIAS_SILU } zk_ref_act;

/* y [R, C] = act(v), v = x + bias_c (exact, or ±Inf where the f32 sum
 * overflows). */
void zk_ref_bias_act(zk_ref_act act, const double *x, const double *bias, double *y, int64_t R, int64_t C);
/* dx [R, C] = dy·act'(x + bias_c); dbias [C] = Σ_rows dx and dbias_abs [C] =
 * Σ_rows |dx| (the ACC term), both written (as 0) when R = 0. */
void zk_ref_bias_act_grad(zk_ref_act act, const double *x, const double *bias, const double *dy, double *dx,
                          double *dbias, double *dbias_abs, int64_t R, int64_t C);

/* y = silu(a)·b; its VJP da = dy·b·silu'(a), db = dy·silu(a). */
void zk_ref_silu_mul(const double *a, const double *b, double *y, int64_t n);
void zk_ref_silu_mul_grad(const double *a, const double *b, const double *dy, double *da, double *db, int64_t n);

#endif
