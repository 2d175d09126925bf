/* Routing a validated call to the backend of the context's device. */
#include "internal.h"

zk_status zk_dispatch(const zk_call *call, zk_args *args) {
  zk_ctx *ctx = call->ctx;
  int cuda = ctx->device.device_type == kDLCUDA;
  const zk_backend_fn *table = cuda ? zk_cuda_ops_table() : zk_cpu_ops;
  if (!table || !table[args->op])
    return zk_fail(call, ZK_ERR_UNSUPPORTED, "not implemented on %s", cuda ? "cuda" : "cpu");
  return table[args->op](ctx, args);
}
