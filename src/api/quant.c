/* Public entry points of the quant family (spec §12): boundary checks, then
 * dispatch.  Backend slots, in signature order:
 *   dequantize_int8, dequantize_silu_int8   t[0] = x, t[1] = scale, t[2] = y
 *   dequantize_int4                         t[0] = x, t[1] = scale, t[2] = zero_point?, t[3] = y
 * scale and zero_point arrive as one flat row of all their elements (they
 * are compact; the element count says the mode, see zk_quant_mode).
 *   i[0] = group_size, i[1] = is_signed (int4). */
#include <inttypes.h>
#include <zkern/quant.h>
#include "../core/tensor.h"

static int64_t numel(const DLTensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
  return n;
}

/* scale or zero_point over R rows of D logical values: compact, float, and
 * an element count that matches one of the three modes. */
static zk_status take_scale(const zk_call *call, const char *name, const DLTensor *t, zk_rows *out, int opt,
                            int64_t R, int64_t D, int64_t g) {
  if (opt && !t) return zk_take_opt(call, name, t, out, 0);
  ZK_CHECK(zk_take(call, name, t, out, 0));
  ZK_CHECK(zk_expect_float(call, name, out));
  ZK_CHECK(zk_expect_compact(call, name, t));
  int64_t n = numel(t);
  if (!(n == 1 || (g == 0 && n == R) || (g > 0 && n == R * (D / g))))
    return zk_fail(call, ZK_ERR_SHAPE,
                   "%s has %" PRId64 " elements: must be 1 (per tensor), %" PRId64 " (per row, group_size 0) or %" PRId64
                   " (per group of group_size)",
                   name, n, R, g > 0 ? R * (D / g) : R * D);
  out->rows = 1, out->cols = n, out->stride = n; /* flat */
  return ZK_OK;
}

static zk_status check_group(const zk_call *call, int64_t g, int64_t D) {
  if (g < 0) return zk_fail(call, ZK_ERR_ARG, "group_size is %" PRId64 ", must be >= 0", g);
  if (g > 0 && D % g)
    return zk_fail(call, ZK_ERR_SHAPE, "the %" PRId64 " values per row do not split into groups of %" PRId64, D, g);
  return ZK_OK;
}

static zk_status int8_forward(const zk_call *call, zk_op_id op, const DLTensor *x, const DLTensor *scale, DLTensor *y,
                              int64_t g) {
  zk_args args = {.op = op};
  ZK_CHECK(zk_take(call, "x", x, &args.t[0], 0));
  ZK_CHECK(zk_expect_dtype(call, "x", &args.t[0], ZK_I8));
  ZK_CHECK(zk_expect_rank(call, "x", x, 1));
  ZK_CHECK(zk_take(call, "y", y, &args.t[2], 1));
  ZK_CHECK(zk_expect_float(call, "y", &args.t[2]));
  ZK_CHECK(zk_expect_same_shape(call, "y", y, "x", x));
  ZK_CHECK(check_group(call, g, args.t[0].cols));
  ZK_CHECK(take_scale(call, "scale", scale, &args.t[1], 0, args.t[0].rows, args.t[0].cols, g));
  args.i[0] = g;
  return zk_dispatch_rows(call, &args, &args.t[0], 0);
}

zk_status zk_dequantize_int8(zk_ctx *ctx, const DLTensor *x, const DLTensor *scale, DLTensor *y, int64_t group_size) {
  ZK_BEGIN(dequantize_int8);
  return int8_forward(call, ZK_OP_dequantize_int8, x, scale, y, group_size);
}

zk_status zk_dequantize_silu_int8(zk_ctx *ctx, const DLTensor *x, const DLTensor *scale, DLTensor *y,
                                  int64_t group_size) {
  ZK_BEGIN(dequantize_silu_int8);
  return int8_forward(call, ZK_OP_dequantize_silu_int8, x, scale, y, group_size);
}

zk_status zk_dequantize_int4(zk_ctx *ctx, const DLTensor *x, const DLTensor *scale, const DLTensor *zero_point,
                             DLTensor *y, int64_t group_size, int is_signed) {
  ZK_BEGIN(dequantize_int4);
  zk_args args = {.op = ZK_OP_dequantize_int4};
  ZK_CHECK(zk_take(call, "x", x, &args.t[0], 0));
  ZK_CHECK(zk_expect_dtype(call, "x", &args.t[0], ZK_U8));
  ZK_CHECK(zk_expect_rank(call, "x", x, 1));
  ZK_CHECK(zk_take(call, "y", y, &args.t[3], 1));
  ZK_CHECK(zk_expect_float(call, "y", &args.t[3]));
  ZK_CHECK(zk_expect_last_dim(call, "y", y, "x", x, 2, 1));
  int64_t R = args.t[0].rows, D = 2 * args.t[0].cols;
  ZK_CHECK(check_group(call, group_size, D));
  ZK_CHECK(take_scale(call, "scale", scale, &args.t[1], 0, R, D, group_size));
  ZK_CHECK(take_scale(call, "zero_point", zero_point, &args.t[2], 1, R, D, group_size));
  args.i[0] = group_size;
  args.i[1] = is_signed != 0;
  return zk_dispatch_rows(call, &args, &args.t[0], 0);
}
