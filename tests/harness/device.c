/* Device memory for CUDA test cases; without CUDA every call fails. */
#include "harness.h"

#ifdef ZK_HAVE_CUDA
#include <cuda_runtime_api.h>

int zk_dev_available(void) {
  int n = 0;
  return zk_has_cuda() && cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}
int zk_dev_alloc(void **p, size_t bytes) { return cudaMalloc(p, bytes) != cudaSuccess; }
void zk_dev_free(void *p) { cudaFree(p); }
int zk_dev_upload(void *dst, const void *src, size_t bytes) {
  return cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice) != cudaSuccess;
}
int zk_dev_download(void *dst, const void *src, size_t bytes) {
  return cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost) != cudaSuccess;
}
#else
int zk_dev_available(void) { return 0; }
int zk_dev_alloc(void **p, size_t bytes) {
  (void)bytes;
  *p = 0;
  return 1;
}
void zk_dev_free(void *p) { (void)p; }
int zk_dev_upload(void *dst, const void *src, size_t bytes) {
  (void)dst, (void)src, (void)bytes;
  return 1;
}
int zk_dev_download(void *dst, const void *src, size_t bytes) {
  (void)dst, (void)src, (void)bytes;
  return 1;
}
#endif
