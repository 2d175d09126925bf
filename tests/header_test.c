/* The public headers compile as strict C99 (-std=c99 -pedantic -Werror). */
#include <zkern/zkern.h>

int main(void) {
  zk_ctx *ctx = 0;
  zk_layer_norm_dropout_params p = ZK_LAYER_NORM_DROPOUT_PARAMS_DEFAULT;
  zk_rms_norm_dropout_params q = ZK_RMS_NORM_DROPOUT_PARAMS_DEFAULT;
  if (zk_ctx_create(&ctx, kDLCPU, 0) != ZK_OK) return 1;
  p.p = 0.1f;
  q.p = 0.1f;
  zk_ctx_destroy(ctx);
  return zk_rmsnorm(0, 0, 0, 0, 1e-6f) == ZK_ERR_ARG && p.eps == 1e-5f && q.eps == 1e-6f ? 0 : 1;
}
