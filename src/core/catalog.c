/* The catalog listing and the CPU dispatch table, both from ops.def. */
#include "internal.h"

#define ZK_KIND_FWD 0
#define ZK_KIND_GRAD 1

static const zk_op_info catalog[] = {
#define ZK_OP(name, family, kind, cpu, cuda) \
  {#name, #family, ZK_KIND_##kind, ZK_SEL_##cpu(1, 0), ZK_SEL_##cuda(1, 0)},
#include "ops.def"
#undef ZK_OP
};
_Static_assert(sizeof catalog / sizeof catalog[0] == ZK_OP_COUNT, "catalog covers ops.def");

const zk_op_info *zk_catalog(size_t *count) {
  if (count) *count = ZK_OP_COUNT;
  return catalog;
}

/* Declarations of every CPU entry point ops.def marks Y. */
#define ZK_OP(name, family, kind, cpu, cuda) \
  ZK_SEL_##cpu(zk_status zk_cpu_##name(struct zk_ctx *, const struct zk_args *);, )
#include "ops.def"
#undef ZK_OP

const zk_backend_fn zk_cpu_ops[ZK_OP_COUNT] = {
#define ZK_OP(name, family, kind, cpu, cuda) [ZK_OP_##name] = ZK_SEL_##cpu(zk_cpu_##name, NULL),
#include "ops.def"
#undef ZK_OP
};
