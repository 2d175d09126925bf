/* Clocks and the copy bandwidth the benchmark compares against. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench.h"
#ifdef ZK_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

double zk_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec * 1e-3;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

#ifdef ZK_HAVE_CUDA
static cudaEvent_t ev_start, ev_stop;
int zk_gpu_timer_begin(void) {
  if (!ev_start) {
    cudaEventCreate(&ev_start);
    cudaEventCreate(&ev_stop);
  }
  return cudaEventRecord(ev_start, 0) != cudaSuccess;
}
double zk_gpu_timer_end_us(void) {
  float ms = 0;
  cudaEventRecord(ev_stop, 0);
  cudaEventSynchronize(ev_stop);
  cudaEventElapsedTime(&ms, ev_start, ev_stop);
  return ms * 1e3;
}
size_t zk_device_l2_bytes(void) {
  int dev = 0, l2 = 0;
  cudaGetDevice(&dev);
  cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, dev);
  return (size_t)l2;
}
#else
int zk_gpu_timer_begin(void) { return 1; }
double zk_gpu_timer_end_us(void) { return 0; }
size_t zk_device_l2_bytes(void) { return 0; }
#endif

/* memcpy of n bytes split into one contiguous slice per thread: the copy
 * rate of the machine at the thread count the kernels run with. */
static void parallel_memcpy(char *dst, const char *src, size_t n, int threads) {
  size_t slice = (n / (size_t)threads + 63) & ~(size_t)63;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int t = 0; t < threads; t++) {
    size_t at = (size_t)t * slice;
    if (at < n) memcpy(dst + at, src + at, n - at < slice ? n - at : slice);
  }
}

/* Median copy bandwidth, counting bytes read plus bytes written. */
double zk_copy_bandwidth_gbps(zk_backend backend, size_t bytes, int threads) {
  enum { REPS = 15 };
  double t[REPS];
  if (backend == ZK_BACKEND_CPU) {
    char *a = malloc(bytes), *b = malloc(bytes);
    if (!a || !b) return 0;
    memset(a, 1, bytes);
    memset(b, 2, bytes);
    for (int i = 0; i < REPS; i++) {
      double t0 = zk_now_us();
      parallel_memcpy(i & 1 ? a : b, i & 1 ? b : a, bytes, threads);
      t[i] = zk_now_us() - t0;
    }
    free(a);
    free(b);
  } else {
#ifdef ZK_HAVE_CUDA
    void *a, *b;
    if (cudaMalloc(&a, bytes) != cudaSuccess || cudaMalloc(&b, bytes) != cudaSuccess) return 0;
    cudaMemset(a, 1, bytes);
    cudaMemset(b, 2, bytes);
    cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
    for (int i = 0; i < REPS; i++) {
      zk_gpu_timer_begin();
      cudaMemcpyAsync(i & 1 ? a : b, i & 1 ? b : a, bytes, cudaMemcpyDeviceToDevice, 0);
      t[i] = zk_gpu_timer_end_us();
    }
    cudaFree(a);
    cudaFree(b);
#else
    return 0;
#endif
  }
  qsort(t, REPS, sizeof t[0], cmp_double);
  return 2.0 * (double)bytes / (t[REPS / 2] * 1e3);
}

void zk_device_name(zk_backend backend, char *buf, size_t cap) {
  snprintf(buf, cap, "unknown");
  if (backend == ZK_BACKEND_CUDA) {
#ifdef ZK_HAVE_CUDA
    struct cudaDeviceProp p;
    int dev = 0;
    cudaGetDevice(&dev);
    if (cudaGetDeviceProperties(&p, dev) == cudaSuccess) snprintf(buf, cap, "%s", p.name);
#endif
    return;
  }
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return;
  char line[256];
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "model name", 10)) continue;
    char *v = strchr(line, ':');
    if (v) {
      v += 2;
      v[strcspn(v, "\n")] = 0;
      snprintf(buf, cap, "%s", v);
    }
    break;
  }
  fclose(f);
}
