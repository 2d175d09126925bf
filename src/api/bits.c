/* Public entry points of the bit ops (spec §13): boundary checks, then
 * dispatch.  Backend slots:
 *   pack_bits    t[0] = x (n bytes, compact), t[1] = y; i[0] = n
 *   unpack_bits  t[0] = x, t[1] = y (count bytes, compact); i[0] = count
 * Both views are taken flat: a compact tensor is one row of its numel. */
#include <zkern/bits.h>
#include "../core/tensor.h"

/* A compact tensor as one flat run of numel elements. */
static zk_status take_flat(const zk_call *call, const char *name, const DLTensor *t, zk_rows *out, int output) {
  ZK_CHECK(zk_take(call, name, t, out, output));
  ZK_CHECK(zk_expect_compact(call, name, t));
  out->cols *= out->rows;
  out->rows = 1;
  out->stride = out->cols;
  return ZK_OK;
}

/* uint8 in the DLPack sense (code kDLUInt); bool shares ZK_U8 but is not
 * a byte array. */
static zk_status expect_uint8(const zk_call *call, const char *name, const DLTensor *t) {
  if (t->dtype.code == kDLUInt && t->dtype.bits == 8 && t->dtype.lanes == 1) return ZK_OK;
  return zk_fail(call, ZK_ERR_DTYPE, "%s must be uint8 (code %u, %u bits, %u lanes given)", name, t->dtype.code,
                 t->dtype.bits, t->dtype.lanes);
}

zk_status zk_pack_bits(zk_ctx *ctx, const DLTensor *x, DLTensor *y) {
  ZK_BEGIN(pack_bits);
  zk_args args = {.op = ZK_OP_pack_bits};
  /* int8 is not a library dtype; nonzero-ness is the same on its bytes,
   * so it is read as uint8. */
  DLTensor xs;
  if (x && x->dtype.code == kDLInt && x->dtype.bits == 8 && x->dtype.lanes == 1) {
    xs = *x;
    xs.dtype.code = kDLUInt;
    x = &xs;
  }
  ZK_CHECK(take_flat(call, "x", x, &args.t[0], 0));
  if (args.t[0].dtype != ZK_U8)
    return zk_fail(call, ZK_ERR_DTYPE, "x has dtype %s, must be bool, uint8 or int8", zk_dtype_name(args.t[0].dtype));
  ZK_CHECK(take_flat(call, "y", y, &args.t[1], 1));
  ZK_CHECK(expect_uint8(call, "y", y));
  int64_t n = args.t[0].cols, bytes = (n + 7) / 8;
  ZK_CHECK(zk_expect_ndim(call, "y", y, 1, "[ceil(numel(x) / 8)]"));
  if (y->shape[0] != bytes)
    return zk_fail(call, ZK_ERR_SHAPE, "y has %lld bytes, x's %lld elements need %lld", (long long)y->shape[0],
                   (long long)n, (long long)bytes);
  if (n == 0) return ZK_OK;
  args.i[0] = n;
  return zk_dispatch(call, &args);
}

zk_status zk_unpack_bits(zk_ctx *ctx, const DLTensor *x, DLTensor *y, int64_t count) {
  ZK_BEGIN(unpack_bits);
  zk_args args = {.op = ZK_OP_unpack_bits};
  ZK_CHECK(take_flat(call, "x", x, &args.t[0], 0));
  ZK_CHECK(expect_uint8(call, "x", x));
  ZK_CHECK(zk_expect_ndim(call, "x", x, 1, "[m]"));
  ZK_CHECK(take_flat(call, "y", y, &args.t[1], 1));
  if (args.t[1].dtype != ZK_U8)
    return zk_fail(call, ZK_ERR_DTYPE, "y has dtype %s, must be uint8 or bool", zk_dtype_name(args.t[1].dtype));
  if (count < 0) return zk_fail(call, ZK_ERR_ARG, "count = %lld, must be >= 0", (long long)count);
  int64_t m = args.t[0].cols;
  if (count > 8 * m)
    return zk_fail(call, ZK_ERR_SHAPE, "count = %lld needs %lld bytes of x, it has %lld", (long long)count,
                   (long long)((count + 7) / 8), (long long)m);
  if (args.t[1].cols != count)
    return zk_fail(call, ZK_ERR_SHAPE, "y has %lld elements, count is %lld", (long long)args.t[1].cols,
                   (long long)count);
  if (count == 0) return ZK_OK;
  args.i[0] = count;
  return zk_dispatch(call, &args);
}
