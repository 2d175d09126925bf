/* Fused elementwise ops (spec §9).
 * a, b, x, y, dy [...] f32/f16/bf16 (one dtype per call); bias [C] in any
 * float dtype (C = the last dimension of x), dbias written in bias's dtype.
 * An input may have row stride 0: one row broadcast over the rows.
 * zk_add, zk_mul and zk_add_bias are bitwise: one f32 operation, rounded
 * once, the same bits on every backend. */
#ifndef ZKERN_FUSED_H
#define ZKERN_FUSED_H
#include <zkern/zkern.h>
#ifdef __cplusplus
extern "C" {
#endif

/* y = a + b (same shape, no broadcasting).  alias a or b ok. */
zk_status zk_add(zk_ctx *ctx, const DLTensor *a, const DLTensor *b, DLTensor *y);
/* y = a·b.  alias a or b ok. */
zk_status zk_mul(zk_ctx *ctx, const DLTensor *a, const DLTensor *b, DLTensor *y);

/* y = x + bias_c over x [..., C].  alias x ok. */
zk_status zk_add_bias(zk_ctx *ctx, const DLTensor *x, const DLTensor *bias, DLTensor *y);
/* y = gelu_tanh(x + bias_c).  alias x ok. */
zk_status zk_bias_gelu_tanh(zk_ctx *ctx, const DLTensor *x, const DLTensor *bias, DLTensor *y);
/* y = silu(x + bias_c).  alias x ok. */
zk_status zk_bias_silu(zk_ctx *ctx, const DLTensor *x, const DLTensor *bias, DLTensor *y);

/* dx = dy·gelu_tanh'(v), v = x + bias_c; dbias = Σ_rows dx (from the f32 dx).
 * dx and dbias are optional (NULL: not computed); dx may alias dy. */
zk_status zk_bias_gelu_tanh_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *bias, const DLTensor *dy,
                                 DLTensor *dx, DLTensor *dbias);
/* dx = dy·silu'(v), dbias = Σ_rows dx. */
zk_status zk_bias_silu_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *bias, const DLTensor *dy,
                            DLTensor *dx, DLTensor *dbias);

/* y = silu(a)·b: a forward, despite the catalog's name ("silu·mul with a
 * custom VJP").  alias a or b ok. */
zk_status zk_silu_mul_grad(zk_ctx *ctx, const DLTensor *a, const DLTensor *b, DLTensor *y);
/* da = dy·b·silu'(a), db = dy·silu(a); each optional; one of them may alias dy. */
zk_status zk_silu_mul_grad_grad(zk_ctx *ctx, const DLTensor *a, const DLTensor *b, const DLTensor *dy,
                                DLTensor *da, DLTensor *db);

#ifdef __cplusplus
}
#endif
#endif
