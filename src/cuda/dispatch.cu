// The CUDA backend's table, from ops.def: one entry point per op marked Y.
#include "common.cuh"

#define ZK_OP(name, family, kind, cpu, cuda) \
  ZK_SEL_##cuda(extern "C" zk_status zk_cuda_##name(zk_ctx *, const zk_args *);, )
#include "../core/ops.def"
#undef ZK_OP

static const zk_backend_fn cuda_ops[ZK_OP_COUNT] = {
#define ZK_OP(name, family, kind, cpu, cuda) ZK_SEL_##cuda(zk_cuda_##name, NULL),
#include "../core/ops.def"
#undef ZK_OP
};

extern "C" const zk_backend_fn *zk_cuda_ops_table(void) { return cuda_ops; }
