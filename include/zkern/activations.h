/* Activations (spec §1): y = f(x) elementwise, and dx = dy·f'(x).
 * x [...] f32/f16/bf16; y, dx the same shape and dtype as x.
 * Forward: alias x ok (y may be x).  Grad: alias dy ok (dx may be dy). */
#ifndef ZKERN_ACTIVATIONS_H
#define ZKERN_ACTIVATIONS_H
#include <zkern/zkern.h>
#ifdef __cplusplus
extern "C" {
#endif

zk_status zk_exp(zk_ctx *ctx, const DLTensor *x, DLTensor *y);
zk_status zk_log(zk_ctx *ctx, const DLTensor *x, DLTensor *y);
zk_status zk_tanh(zk_ctx *ctx, const DLTensor *x, DLTensor *y);
zk_status zk_sigmoid(zk_ctx *ctx, const DLTensor *x, DLTensor *y);
zk_status zk_relu(zk_ctx *ctx, const DLTensor *x, DLTensor *y);
zk_status zk_silu(zk_ctx *ctx, const DLTensor *x, DLTensor *y);
zk_status zk_gelu_tanh(zk_ctx *ctx, const DLTensor *x, DLTensor *y);
/* softplus_{beta,threshold}(x): x where beta·x > threshold, else log1p(e^(beta·x))/beta.
 * PyTorch's defaults: beta 1, threshold 20. */
zk_status zk_softplus(zk_ctx *ctx, const DLTensor *x, DLTensor *y, float beta, float threshold);
zk_status zk_mish(zk_ctx *ctx, const DLTensor *x, DLTensor *y);
/* elu: x where x > 0, else alpha·expm1(x).  Default alpha 1. */
zk_status zk_elu(zk_ctx *ctx, const DLTensor *x, DLTensor *y, float alpha);

zk_status zk_exp_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *dy, DLTensor *dx);
zk_status zk_tanh_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *dy, DLTensor *dx);
zk_status zk_sigmoid_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *dy, DLTensor *dx);
zk_status zk_relu_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *dy, DLTensor *dx);
zk_status zk_silu_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *dy, DLTensor *dx);
zk_status zk_gelu_tanh_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *dy, DLTensor *dx);
zk_status zk_softplus_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *dy, DLTensor *dx,
                           float beta, float threshold);
zk_status zk_mish_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *dy, DLTensor *dx);
zk_status zk_elu_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *dy, DLTensor *dx, float alpha);

#ifdef __cplusplus
}
#endif
#endif
