/* Softmax over the last dimension (spec §2).  x, y [..., D] f32/f16/bf16. */
#ifndef ZKERN_SOFTMAX_H
#define ZKERN_SOFTMAX_H
#include <zkern/zkern.h>
#ifdef __cplusplus
extern "C" {
#endif

/* y = softmax(x) per row; an all -Inf row gives zeros.  alias x ok. */
zk_status zk_softmax_lastdim(zk_ctx *ctx, const DLTensor *x, DLTensor *y);
/* y = log_softmax(x) per row; an all -Inf row gives -Inf.  alias x ok. */
zk_status zk_log_softmax_lastdim(zk_ctx *ctx, const DLTensor *x, DLTensor *y);
/* dx = y·(dy - Σ dy·y), from the forward output y.  alias dy ok. */
zk_status zk_softmax_grad(zk_ctx *ctx, const DLTensor *y, const DLTensor *dy, DLTensor *dx);
/* dx = dy - e^y·Σ dy, from the forward output y.  alias dy ok. */
zk_status zk_log_softmax_lastdim_grad(zk_ctx *ctx, const DLTensor *y, const DLTensor *dy,
                                      DLTensor *dx);

#ifdef __cplusplus
}
#endif
#endif
