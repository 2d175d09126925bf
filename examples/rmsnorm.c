/* The README's example: zk_rmsnorm on a 2 x 4 DLTensor. */
#include <stdio.h>
#include <zkern/zkern.h>

int main(void) {
  float x[2][4] = {{1, 2, 3, 4}, {-1, 0, 1, 2}}, w[4] = {1, 1, 0.5f, 2}, y[2][4];
  int64_t xs[2] = {2, 4}, ws[1] = {4};
  DLTensor tx = {x, {kDLCPU, 0}, 2, {kDLFloat, 32, 1}, xs, NULL, 0};
  DLTensor tw = {w, {kDLCPU, 0}, 1, {kDLFloat, 32, 1}, ws, NULL, 0};
  DLTensor ty = {y, {kDLCPU, 0}, 2, {kDLFloat, 32, 1}, xs, NULL, 0};
  zk_ctx *ctx;
  zk_ctx_create(&ctx, kDLCPU, 0);
  zk_status s = zk_rmsnorm(ctx, &tx, &tw, &ty, 1e-6f);   /* y = x / rms(x) * w, per row */
  if (s != ZK_OK) return puts(zk_ctx_last_error(ctx)), 1;
  zk_ctx_destroy(ctx);
  return 0;
}
