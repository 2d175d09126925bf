// The public headers compile as C++ and link from C++.
#include <zkern/zkern.h>

int main() {
  zk_ctx *ctx = nullptr;
  zk_layer_norm_dropout_params p = ZK_LAYER_NORM_DROPOUT_PARAMS_DEFAULT;
  if (zk_ctx_create(&ctx, kDLCPU, 0) != ZK_OK) return 1;
  p.p = 0.25f;
  zk_status s = zk_rmsnorm(ctx, nullptr, nullptr, nullptr, 1e-6f);
  zk_ctx_destroy(ctx);
  return s == ZK_ERR_ARG && p.p == 0.25f ? 0 : 1;
}
