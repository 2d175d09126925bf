/* Public entry points of the image family (spec §15): boundary checks, then
 * dispatch.  Tensors are taken as rows of their last dimension (C), so a
 * view has rows = N·H·W and cols = C.  Backend slots, in signature order:
 *   resize_bilinear     t[0] = x, t[1] = y; i[0] = align_corners, i[1] = H, i[2] = W, i[3] = OH
 *                       (N = x's rows / (H·W), OW = y's rows / (N·OH))
 *   depthwise_conv_3x3  t[0] = x, t[1] = w (rows of [3, 3] = 9, cols C), t[2] = bias?, t[3] = y;
 *                       i[0] = H, i[1] = W */
#include <inttypes.h>
#include <zkern/image.h>
#include "../core/tensor.h"

/* An NHWC image: float, exactly 4 dims, fully compact. */
static zk_status take_image(const zk_call *call, const char *name, const DLTensor *t, zk_rows *out, int output) {
  ZK_CHECK(zk_take(call, name, t, out, output));
  ZK_CHECK(zk_expect_float(call, name, out));
  ZK_CHECK(zk_expect_ndim(call, name, t, 4, "[N, H, W, C]"));
  return zk_expect_compact(call, name, t);
}

/* y's N and C against x's. */
static zk_status expect_same_n_c(const zk_call *call, const DLTensor *x, const DLTensor *y) {
  if (y->shape[0] == x->shape[0] && y->shape[3] == x->shape[3]) return ZK_OK;
  char a[160], b[160];
  zk_format_shape(y, a, sizeof a);
  zk_format_shape(x, b, sizeof b);
  return zk_fail(call, ZK_ERR_SHAPE, "y has shape %s, must have x's N and C (x is %s)", a, b);
}

zk_status zk_resize_bilinear(zk_ctx *ctx, const DLTensor *x, DLTensor *y, int align_corners) {
  ZK_BEGIN(resize_bilinear);
  zk_args a = {.op = ZK_OP_resize_bilinear};
  ZK_CHECK(take_image(call, "x", x, &a.t[0], 0));
  ZK_CHECK(take_image(call, "y", y, &a.t[1], 1));
  ZK_CHECK(zk_expect_same_dtype(call, "y", &a.t[1], "x", &a.t[0]));
  ZK_CHECK(expect_same_n_c(call, x, y));
  int64_t N = x->shape[0], H = x->shape[1], W = x->shape[2], C = x->shape[3], OH = y->shape[1], OW = y->shape[2];
  if (N * C == 0) return ZK_OK;
  if (H == 0 || W == 0 || OH == 0 || OW == 0)
    return zk_fail(call, ZK_ERR_SHAPE, "x is %" PRId64 "x%" PRId64 " and y %" PRId64 "x%" PRId64
                   " pixels: no size may be 0 with N·C > 0", H, W, OH, OW);
  a.i[0] = align_corners != 0;
  a.i[1] = H, a.i[2] = W, a.i[3] = OH;
  return zk_dispatch(call, &a);
}

zk_status zk_depthwise_conv_3x3(zk_ctx *ctx, const DLTensor *x, const DLTensor *w, const DLTensor *bias,
                                DLTensor *y) {
  ZK_BEGIN(depthwise_conv_3x3);
  zk_args a = {.op = ZK_OP_depthwise_conv_3x3};
  ZK_CHECK(take_image(call, "x", x, &a.t[0], 0));
  int64_t C = x->shape[3];
  ZK_CHECK(zk_take(call, "w", w, &a.t[1], 0));
  ZK_CHECK(zk_expect_float(call, "w", &a.t[1]));
  if (w->ndim != 3 || w->shape[0] != 3 || w->shape[1] != 3 || w->shape[2] != C) {
    char s[160];
    zk_format_shape(w, s, sizeof s);
    return zk_fail(call, ZK_ERR_SHAPE, "w has shape %s, must be [3, 3, %" PRId64 "] (x's C)", s, C);
  }
  ZK_CHECK(zk_take_param(call, "bias", bias, &a.t[2], 1, C, "x's C"));
  ZK_CHECK(take_image(call, "y", y, &a.t[3], 1));
  ZK_CHECK(zk_expect_same_dtype(call, "y", &a.t[3], "x", &a.t[0]));
  ZK_CHECK(zk_expect_same_shape(call, "y", y, "x", x));
  a.i[0] = x->shape[1], a.i[1] = x->shape[2];
  if (a.t[0].rows == 0 || C == 0) return ZK_OK;
  return zk_dispatch(call, &a);
}
