/* Context: device, CPU threads, host workspace, last error. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"

static int online_cpus(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

zk_status zk_ctx_create(zk_ctx **out, DLDeviceType device_type, int device_id) {
  if (!out) return ZK_ERR_ARG;
  *out = NULL;
  if (device_type != kDLCPU && device_type != kDLCUDA) return ZK_ERR_DEVICE;
  if (device_type == kDLCPU && device_id != 0) return ZK_ERR_DEVICE;
  zk_ctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx) return ZK_ERR_OOM;
  ctx->device.device_type = device_type;
  ctx->device.device_id = device_id;
  ctx->threads = online_cpus();
  if (device_type == kDLCUDA) {
    zk_status s = zk_cuda_ctx_init(ctx, device_id);
    if (s != ZK_OK) {
      free(ctx);
      return s;
    }
  }
  *out = ctx;
  return ZK_OK;
}

void zk_ctx_destroy(zk_ctx *ctx) {
  if (!ctx) return;
  if (ctx->cuda) zk_cuda_ctx_release(ctx);
  free(ctx->workspace);
  free(ctx);
}

DLDevice zk_ctx_device(const zk_ctx *ctx) {
  DLDevice none = {kDLCPU, -1};
  return ctx ? ctx->device : none;
}

zk_status zk_ctx_set_threads(zk_ctx *ctx, int threads) {
  if (!ctx) return ZK_ERR_ARG;
  zk_call call = {ctx, "zk_ctx_set_threads"};
  if (threads < 1) return zk_fail(&call, ZK_ERR_ARG, "threads is %d, must be >= 1", threads);
  ctx->threads = threads;
  return ZK_OK;
}

int zk_ctx_threads(const zk_ctx *ctx) { return ctx ? ctx->threads : 0; }

zk_status zk_ctx_set_cuda_stream(zk_ctx *ctx, void *stream) {
  if (!ctx) return ZK_ERR_ARG;
  zk_call call = {ctx, "zk_ctx_set_cuda_stream"};
  if (ctx->device.device_type != kDLCUDA)
    return zk_fail(&call, ZK_ERR_DEVICE, "the context is a CPU context");
  return zk_cuda_set_stream(ctx, stream);
}

zk_status zk_ctx_synchronize(zk_ctx *ctx) {
  if (!ctx) return ZK_ERR_ARG;
  if (ctx->device.device_type != kDLCUDA) return ZK_OK;
  return zk_cuda_synchronize(ctx);
}

const char *zk_ctx_last_error(const zk_ctx *ctx) { return ctx ? ctx->error : "no context"; }

void *zk_workspace(zk_ctx *ctx, size_t bytes) {
  if (bytes <= ctx->workspace_size) return ctx->workspace;
  size_t size = (bytes + 63) & ~(size_t)63;
  void *p = NULL;
  if (posix_memalign(&p, 64, size) != 0) return NULL;
  free(ctx->workspace);
  ctx->workspace = p;
  ctx->workspace_size = size;
  return p;
}
