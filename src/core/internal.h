/* What the core, the backends and the API files share: tensor views, the
 * argument block a backend receives, the context, and error reporting. */
#ifndef ZK_CORE_INTERNAL_H
#define ZK_CORE_INTERNAL_H

#include <stdarg.h>
#include <stdint.h>
#include <zkern/zkern.h>
#include "ops.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum zk_dtype {
  ZK_F32, ZK_F16, ZK_BF16,   /* the float set F */
  ZK_I32, ZK_I64, ZK_U8,     /* indices, bytes; ZK_U8 also stands for bool */
  ZK_U32,                    /* argmax / topk indices */
  ZK_I8,                     /* quantised codes (spec §12) */
  ZK_DTYPE_COUNT,
  ZK_DTYPE_INVALID = -1
} zk_dtype;

static inline int zk_dtype_is_float(zk_dtype t) { return t == ZK_F32 || t == ZK_F16 || t == ZK_BF16; }
int zk_dtype_size(zk_dtype t);
const char *zk_dtype_name(zk_dtype t);
zk_dtype zk_dtype_of(DLDataType t);  /* ZK_DTYPE_INVALID when unknown */

/* A tensor collapsed to a stack of rows: element (r, j) lives at
 * data + (r·stride + j)·elem.  A row is compact; stride is in elements. */
typedef struct zk_rows {
  void *data;       /* byte_offset applied; NULL for an absent optional tensor */
  int64_t rows;     /* R: product of the leading dims */
  int64_t cols;     /* D: elements per row */
  int64_t stride;   /* elements from one row to the next (0 repeats a row) */
  zk_dtype dtype;
} zk_rows;

static inline int zk_present(const zk_rows *t) { return t->data != 0; }

/* Dropout settings shared by dropout and the norm+dropout kernels (spec §4.0). */
typedef struct zk_dropout_cfg {
  float p;          /* drop iff u < p */
  float scale;      /* 1/(1-p) in f32; unused when p == 1 */
  uint64_t seed, offset;
} zk_dropout_cfg;

/* What a backend entry point receives: the validated views, in the order of
 * the public signature (ctx excluded), and the scalars.  Each API file states
 * which slot holds what. */
#define ZK_MAX_TENSORS 12
typedef struct zk_args {
  zk_op_id op;
  zk_rows t[ZK_MAX_TENSORS];
  float f[8];          /* float scalars (eps, alpha, beta, threshold, ...) */
  int64_t i[4];        /* integer scalars and flags */
  zk_dropout_cfg drop;
} zk_args;

struct zk_ctx {
  DLDevice device;
  int threads;
  char error[512];
  void *workspace;          /* host scratch (CPU backend) */
  size_t workspace_size;
  void *cuda;               /* CUDA backend state (stream, device scratch, error flag) */
};

/* One public call in flight: the op name for messages and the context. */
typedef struct zk_call {
  zk_ctx *ctx;
  const char *op;  /* "zk_rmsnorm" */
} zk_call;

/* Records "zk_<op>: <message>" in the context and returns status. */
zk_status zk_fail(const zk_call *call, zk_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Host scratch from the context, 64-byte aligned; NULL when out of memory. */
void *zk_workspace(zk_ctx *ctx, size_t bytes);

/* Runs op on the context's backend (ZK_ERR_UNSUPPORTED where it lacks it). */
zk_status zk_dispatch(const zk_call *call, zk_args *args);

/* ------------------------------------------------- CUDA backend hooks
 * Implemented in src/cuda/context.cu, or as stubs when built without CUDA. */
zk_status zk_cuda_ctx_init(zk_ctx *ctx, int device_id);
void zk_cuda_ctx_release(zk_ctx *ctx);
zk_status zk_cuda_set_stream(zk_ctx *ctx, void *stream);
zk_status zk_cuda_synchronize(zk_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif
