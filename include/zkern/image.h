/* Image kernels (spec §15) over NHWC tensors: x [N, H, W, C] and y fully
 * compact, f32/f16/bf16 (one dtype); w [3, 3, C] and bias [C] in any float
 * dtype.  No gradients. */
#ifndef ZKERN_IMAGE_H
#define ZKERN_IMAGE_H
#include <zkern/zkern.h>
#ifdef __cplusplus
extern "C" {
#endif

/* Bilinear resize without antialiasing into y [N, OH, OW, C] (the output
 * size comes from y).  align_corners = 0 (the default): half-pixel centres,
 * src = (dst + 0.5)·in/out - 0.5 clamped at 0 (PyTorch's
 * align_corners=False); nonzero: src = dst·(in-1)/(out-1).  Scale factors
 * and weights are f32. */
zk_status zk_resize_bilinear(zk_ctx *ctx, const DLTensor *x, DLTensor *y, int align_corners);

/* y[n,i,j,c] = Σ_{ky,kx} x[n, i+ky-1, j+kx-1, c]·w[ky,kx,c] + bias_c:
 * cross-correlation, stride 1, zero padding 1, taps summed in f32 in order
 * ky, kx, then the bias (NULL: none).  y [N, H, W, C]. */
zk_status zk_depthwise_conv_3x3(zk_ctx *ctx, const DLTensor *x, const DLTensor *w, const DLTensor *bias,
                                DLTensor *y);

#ifdef __cplusplus
}
#endif
#endif
