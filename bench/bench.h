/* Subcommands of the zkern command, and the benchmark's pieces. */
#ifndef ZK_BENCH_BENCH_H
#define ZK_BENCH_BENCH_H

#include "harness/harness.h"

int zk_cmd_list(int argc, char **argv);
int zk_cmd_check(int argc, char **argv);
int zk_cmd_bench(int argc, char **argv);
/* Parses --backend (default cpu); -1 on a bad value. */
int zk_parse_backend(int argc, char **argv, zk_backend *b);

/* The same computation as a fused op, composed from unfused zkern ops
 * (e.g. zk_add then zk_rmsnorm for zk_rmsnorm_residual), writing the
 * case's outputs.  Temporaries come from tmp (device or host memory of the
 * case's backend, at least zk_compose_temp_bytes). */
typedef zk_status (*zk_compose_fn)(zk_ctx *ctx, zk_case *c, void *tmp);
typedef struct zk_composition {
  const char *op;
  const char *recipe;  /* "add + rmsnorm" */
  zk_compose_fn run;
  int temps;           /* temporaries of the size of the largest tensor */
} zk_composition;
const zk_composition *zk_find_composition(const char *op);

/* Timers: wall clock on the CPU, CUDA events on the GPU. */
double zk_now_us(void);
int zk_gpu_timer_begin(void);
double zk_gpu_timer_end_us(void);  /* waits for the device */
/* CPU: memcpy split over `threads` threads; GPU: a device-to-device copy. */
double zk_copy_bandwidth_gbps(zk_backend backend, size_t bytes, int threads);
void zk_device_name(zk_backend backend, char *buf, size_t cap);
size_t zk_device_l2_bytes(void);

#endif
