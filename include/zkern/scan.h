/* Prefix sums over the last dimension (spec §18).  x, y [..., D]
 * f32/f16/bf16, one dtype. */
#ifndef ZKERN_SCAN_H
#define ZKERN_SCAN_H
#include <zkern/zkern.h>
#ifdef __cplusplus
extern "C" {
#endif

/* y_j = Σ_{i<=j} x_i in an f32 running total; exclusive != 0: Σ_{i<j};
 * reverse != 0: from the end (Σ_{i>=j}, or Σ_{i>j} when exclusive too).
 * alias x ok. */
zk_status zk_cumsum_lastdim(zk_ctx *ctx, const DLTensor *x, DLTensor *y, int exclusive, int reverse);
/* The VJP of zk_cumsum_lastdim with the forward's flags: dx = cumsum(dy;
 * exclusive, !reverse).  alias dy ok. */
zk_status zk_cumsum_grad(zk_ctx *ctx, const DLTensor *dy, DLTensor *dx, int exclusive, int reverse);

#ifdef __cplusplus
}
#endif
#endif
