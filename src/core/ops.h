/* The op enum and backend tables, generated from ops.def. */
#ifndef ZK_CORE_OPS_H
#define ZK_CORE_OPS_H

#include <zkern/zkern.h>

#define ZK_SEL_Y(yes, no) yes
#define ZK_SEL_N(yes, no) no

typedef enum zk_op_id {
#define ZK_OP(name, family, kind, cpu, cuda) ZK_OP_##name,
#include "ops.def"
#undef ZK_OP
  ZK_OP_COUNT
} zk_op_id;

#ifdef __cplusplus
extern "C" {
#endif

struct zk_ctx;
struct zk_args;
/* Every backend entry point has this shape; the args struct carries the
 * op's validated tensor views and scalars (see args.h). */
typedef zk_status (*zk_backend_fn)(struct zk_ctx *ctx, const struct zk_args *args);

/* Each backend's table, NULL where ops.def says N.  The CUDA table is NULL
 * as a whole when the library is built without CUDA. */
extern const zk_backend_fn zk_cpu_ops[ZK_OP_COUNT];
extern const zk_backend_fn *zk_cuda_ops_table(void);


#ifdef __cplusplus
}
#endif

#endif
