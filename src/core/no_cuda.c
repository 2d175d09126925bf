/* The CUDA hooks of a library built without its CUDA backend. */
#include "internal.h"

int zk_has_cuda(void) { return 0; }
const zk_backend_fn *zk_cuda_ops_table(void) { return 0; }

zk_status zk_cuda_ctx_init(zk_ctx *ctx, int device_id) {
  (void)ctx;
  (void)device_id;
  return ZK_ERR_UNSUPPORTED;
}
void zk_cuda_ctx_release(zk_ctx *ctx) { (void)ctx; }
zk_status zk_cuda_set_stream(zk_ctx *ctx, void *stream) {
  (void)stream;
  zk_call call = {ctx, "zk_ctx_set_cuda_stream"};
  return zk_fail(&call, ZK_ERR_UNSUPPORTED, "zkern was built without CUDA");
}
zk_status zk_cuda_synchronize(zk_ctx *ctx) {
  (void)ctx;
  return ZK_OK;
}
