// CUDA context state: device, stream, workspace, device error flag.
#include <stdio.h>
#include <stdlib.h>
#include "common.cuh"

extern "C" int zk_has_cuda(void) { return 1; }

extern "C" zk_status zk_cuda_ctx_init(zk_ctx *ctx, int device_id) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || device_id < 0 || device_id >= count) {
    cudaGetLastError();  // clear the sticky "no device" error for later callers
    return ZK_ERR_DEVICE;
  }
  zk_cuda_state *st = (zk_cuda_state *)calloc(1, sizeof *st);
  if (!st) return ZK_ERR_OOM;
  st->device = device_id;
  cudaDeviceProp prop;
  if (cudaSetDevice(device_id) != cudaSuccess || cudaGetDeviceProperties(&prop, device_id) != cudaSuccess ||
      cudaMalloc(&st->error_flag, sizeof(int)) != cudaSuccess ||
      cudaMemset(st->error_flag, 0, sizeof(int)) != cudaSuccess) {
    if (st->error_flag) cudaFree(st->error_flag);
    free(st);
    cudaGetLastError();
    return ZK_ERR_DEVICE;
  }
  st->sm_count = prop.multiProcessorCount;
  st->cc_major = prop.major;
  st->max_threads_per_sm = prop.maxThreadsPerMultiProcessor;
  st->l2_bytes = (size_t)prop.l2CacheSize;
  st->stream = 0;
  ctx->cuda = st;
  return ZK_OK;
}

extern "C" void zk_cuda_ctx_release(zk_ctx *ctx) {
  zk_cuda_state *st = zk_cuda(ctx);
  if (!st) return;
  cudaSetDevice(st->device);
  cudaStreamSynchronize(st->stream);
  if (st->blas_release) st->blas_release(st->blas);
  cudaFree(st->workspace);
  cudaFree(st->error_flag);
  free(st);
  ctx->cuda = NULL;
}

extern "C" zk_status zk_cuda_set_stream(zk_ctx *ctx, void *stream) {
  zk_cuda(ctx)->stream = (cudaStream_t)stream;
  return ZK_OK;
}

zk_status zk_cuda_check(const zk_call *call, cudaError_t err, const char *what) {
  if (err == cudaSuccess) return ZK_OK;
  return zk_fail(call, ZK_ERR_BACKEND, "CUDA error in %s: %s", what, cudaGetErrorString(err));
}

extern "C" zk_status zk_cuda_synchronize(zk_ctx *ctx) {
  zk_call call_ = {ctx, "zk_ctx_synchronize"};
  const zk_call *call = &call_;
  zk_cuda_state *st = zk_cuda(ctx);
  ZK_CUDA_TRY(call, cudaSetDevice(st->device));
  ZK_CUDA_TRY(call, cudaStreamSynchronize(st->stream));
  int flag = 0;
  ZK_CUDA_TRY(call, cudaMemcpy(&flag, st->error_flag, sizeof flag, cudaMemcpyDeviceToHost));
  if (!flag) return ZK_OK;
  ZK_CUDA_TRY(call, cudaMemset(st->error_flag, 0, sizeof(int)));
  return zk_fail(call, ZK_ERR_INDEX, "a kernel saw an index out of range (its work item was skipped)");
}

void *zk_cuda_workspace(zk_ctx *ctx, const zk_call *call, size_t bytes, zk_status *status) {
  zk_cuda_state *st = zk_cuda(ctx);
  *status = ZK_OK;
  if (bytes <= st->workspace_size) return st->workspace;
  // The old buffer may still be in use by queued work on this stream.
  cudaError_t err = cudaStreamSynchronize(st->stream);
  if (err == cudaSuccess) err = cudaFree(st->workspace);
  st->workspace = NULL;
  st->workspace_size = 0;
  size_t size = (bytes + 4095) & ~(size_t)4095;
  if (err == cudaSuccess) err = cudaMalloc(&st->workspace, size);
  if (err != cudaSuccess) {
    cudaGetLastError();
    *status = zk_fail(call, err == cudaErrorMemoryAllocation ? ZK_ERR_OOM : ZK_ERR_BACKEND,
                      "cannot allocate %zu bytes of device workspace: %s", size, cudaGetErrorString(err));
    return NULL;
  }
  st->workspace_size = size;
  return st->workspace;
}

zk_status zk_cuda_enter(zk_ctx *ctx, const zk_call *call, cudaStream_t *stream) {
  zk_cuda_state *st = zk_cuda(ctx);
  ZK_CUDA_TRY(call, cudaSetDevice(st->device));
  *stream = st->stream;
  return ZK_OK;
}
