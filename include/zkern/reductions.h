/* Reductions over the last dimension (spec §8).  x [..., D] f32/f16/bf16;
 * one value per row goes to a tensor of shape x.shape[:-1] (0-d for a 1-D
 * x) or, keepdim, [..., 1].  Every row is reduced in a fixed f32 order that
 * depends only on D.  None of these has a gradient. */
#ifndef ZKERN_REDUCTIONS_H
#define ZKERN_REDUCTIONS_H
#include <zkern/zkern.h>
#ifdef __cplusplus
extern "C" {
#endif

/* y = Σ_j x_j (D = 0: 0); y any float dtype.  kahan != 0: compensated
 * (Neumaier) partial sums carried through every combine. */
zk_status zk_sum_lastdim(zk_ctx *ctx, const DLTensor *x, DLTensor *y, int kahan);
/* y = (Σ_j x_j)/D in f32 (D = 0: NaN); y any float dtype. */
zk_status zk_mean_lastdim(zk_ctx *ctx, const DLTensor *x, DLTensor *y, int kahan);
/* y = max_j x_j, an exact copy (any NaN -> NaN); y has x's dtype; D = 0 is
 * a shape error. */
zk_status zk_max_lastdim(zk_ctx *ctx, const DLTensor *x, DLTensor *y);
/* y = Σ_j (x_j - μ)²/(D - ddof), ddof 0 (population) or 1 (sample);
 * D - ddof <= 0 gives NaN.  y any float dtype. */
zk_status zk_var_lastdim(zk_ctx *ctx, const DLTensor *x, DLTensor *y, int ddof);
/* y = √(var + eps) with var as zk_var_lastdim; eps >= 0 and finite. */
zk_status zk_std_lastdim(zk_ctx *ctx, const DLTensor *x, DLTensor *y, int ddof, float eps);
/* idx (uint32) = the index of the row maximum under NaN > +Inf > finite >
 * -Inf, ties to the lowest index (so the first NaN).  D >= 1. */
zk_status zk_argmax_lastdim(zk_ctx *ctx, const DLTensor *x, DLTensor *idx);
/* The k largest elements of each row under argmax's order, sorted
 * descending, equal values lowest index first: values [..., k] (x's dtype,
 * exact copies), indices [..., k] uint32.  1 <= k <= D. */
zk_status zk_topk_lastdim(zk_ctx *ctx, const DLTensor *x, DLTensor *values, DLTensor *indices, int64_t k);

#ifdef __cplusplus
}
#endif
#endif
