/* zkern: fused machine-learning kernels over DLPack tensors, on CPU and CUDA.
 *
 * Every function takes a context first and returns a zk_status.  Inputs are
 * read-only DLTensor views; outputs are DLTensors the caller allocated with
 * exactly the shape and dtype the op states.  A call that fails writes
 * nothing and leaves a message naming the op and the offending value in
 * zk_ctx_last_error().  The library never allocates user-visible tensors,
 * never aborts, exits or prints.  The contract of every op is
 * spec/KERNELS.md; docs/ explains the rest.
 */
#ifndef ZKERN_ZKERN_H
#define ZKERN_ZKERN_H

#include <stddef.h>
#include <stdint.h>
#include <dlpack/dlpack.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZK_VERSION_MAJOR 0
#define ZK_VERSION_MINOR 1
#define ZK_VERSION_PATCH 0

typedef enum zk_status {
  ZK_OK = 0,
  ZK_ERR_ARG,          /* NULL context or required tensor; scalar out of range or NaN */
  ZK_ERR_DTYPE,        /* a tensor's dtype is not one the op accepts */
  ZK_ERR_SHAPE,        /* shapes disagree */
  ZK_ERR_LAYOUT,       /* strides the op cannot take (last dim not contiguous, ...) */
  ZK_ERR_DEVICE,       /* a tensor is not on the context's device, or no such device */
  ZK_ERR_INDEX,        /* an index input out of range */
  ZK_ERR_OOM,          /* workspace allocation failed */
  ZK_ERR_UNSUPPORTED,  /* this backend lacks the op or dtype (never a silent fallback) */
  ZK_ERR_BACKEND       /* CUDA launch or runtime failure */
} zk_status;

/* A short constant name of a status ("ZK_ERR_SHAPE"). */
const char *zk_status_name(zk_status s);

/* Version string "major.minor.patch". */
const char *zk_version(void);

/* ---------------------------------------------------------------- context */

typedef struct zk_ctx zk_ctx;

/* Creates a context for one device: kDLCPU (device_id 0) or kDLCUDA.
 * A CUDA context fails with ZK_ERR_UNSUPPORTED when the library was built
 * without CUDA, and with ZK_ERR_DEVICE when no usable GPU or driver is found;
 * *out is then NULL. */
zk_status zk_ctx_create(zk_ctx **out, DLDeviceType device_type, int device_id);
void zk_ctx_destroy(zk_ctx *ctx);

/* The device this context runs on. */
DLDevice zk_ctx_device(const zk_ctx *ctx);

/* CPU worker threads (default: the number of online processors).  Results do
 * not depend on it, bit for bit. */
zk_status zk_ctx_set_threads(zk_ctx *ctx, int threads);
int zk_ctx_threads(const zk_ctx *ctx);

/* The CUDA stream (a cudaStream_t) calls are queued on; NULL = the legacy
 * default stream.  ZK_ERR_DEVICE on a CPU context. */
zk_status zk_ctx_set_cuda_stream(zk_ctx *ctx, void *stream);

/* Waits for the context's queued work and reports deferred device errors
 * (ZK_ERR_INDEX for an out-of-range index seen inside a kernel), clearing
 * them.  Immediate on a CPU context. */
zk_status zk_ctx_synchronize(zk_ctx *ctx);

/* The message of the last failed call on this context ("" after success is
 * not guaranteed: it is only meaningful right after a failure). */
const char *zk_ctx_last_error(const zk_ctx *ctx);

/* ---------------------------------------------------------------- catalog */

typedef struct zk_op_info {
  const char *name;    /* catalog name: the function is zk_<name> */
  const char *family;  /* module: activations, norms, ... */
  int grad;            /* 1 for a gradient (VJP) function */
  int cpu;             /* 1 where the CPU backend implements it */
  int cuda;            /* 1 where the CUDA backend implements it */
} zk_op_info;

/* The whole catalog, in spec order; *count receives its length. */
const zk_op_info *zk_catalog(size_t *count);

/* 1 when the library was built with its CUDA backend. */
int zk_has_cuda(void);

#ifdef __cplusplus
}
#endif

#include <zkern/activations.h>
#include <zkern/softmax.h>
#include <zkern/norms.h>
#include <zkern/transformer.h>
#include <zkern/fused.h>
#include <zkern/attention.h>
#include <zkern/rope.h>
#include <zkern/reductions.h>
#include <zkern/loss.h>
#include <zkern/scan.h>
#include <zkern/quant.h>
#include <zkern/bits.h>
#include <zkern/indexing.h>
#include <zkern/optimizers.h>
#include <zkern/moe.h>
#include <zkern/vlsp.h>
#include <zkern/image.h>
#include <zkern/linear.h>

#endif
