/* Public entry points of the scan family (spec §18): boundary checks, then
 * dispatch.  Backend slots: t[0] = x, t[1] = y; i[0] = exclusive, i[1] =
 * reverse.  The grad is the forward with the direction flipped, so both
 * dispatch to cumsum_lastdim's backend functions. */
#include <zkern/scan.h>
#include "../core/tensor.h"

static zk_status cumsum(const zk_call *call, zk_op_id op, const char *x_name, const DLTensor *x, const char *y_name,
                        DLTensor *y, int exclusive, int reverse) {
  zk_args a = {.op = op};
  ZK_CHECK(zk_take_input(call, x_name, x, &a.t[0], 1));
  ZK_CHECK(zk_take_like(call, y_name, y, &a.t[1], 1, x_name, x, &a.t[0]));
  a.i[0] = exclusive != 0;
  a.i[1] = reverse != 0;
  if (zk_no_rows(&a.t[0])) return ZK_OK;
  return zk_dispatch(call, &a);
}

zk_status zk_cumsum_lastdim(zk_ctx *ctx, const DLTensor *x, DLTensor *y, int exclusive, int reverse) {
  ZK_BEGIN(cumsum_lastdim);
  return cumsum(call, ZK_OP_cumsum_lastdim, "x", x, "y", y, exclusive, reverse);
}

zk_status zk_cumsum_grad(zk_ctx *ctx, const DLTensor *dy, DLTensor *dx, int exclusive, int reverse) {
  ZK_BEGIN(cumsum_grad);
  return cumsum(call, ZK_OP_cumsum_grad, "dy", dy, "dx", dx, exclusive, !reverse);
}
