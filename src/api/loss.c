/* Public entry points of the loss family (spec §11): boundary checks, then
 * dispatch.  Backend slots: t[0] = logits, t[1] = targets, t[2] = loss
 * (forward) or dloss (grad), t[3] = dlogits (grad); i[0] = reduction,
 * i[1] = ignore_index; f[0] = label_smoothing.  Target values are checked
 * by the backends (the CPU before writing; CUDA raises the context's flag). */
#include <inttypes.h>
#include <zkern/loss.h>
#include "../core/tensor.h"

static zk_status take_logits_targets(const zk_call *call, zk_args *a, const DLTensor *logits,
                                     const DLTensor *targets) {
  ZK_CHECK(zk_take_input(call, "logits", logits, &a->t[0], 1));
  if (a->t[0].cols == 0) return zk_fail(call, ZK_ERR_SHAPE, "logits has 0 classes");
  ZK_CHECK(zk_take_reduced(call, "targets", targets, &a->t[1], 0, "logits", logits, 0));
  return zk_expect_index(call, "targets", &a->t[1], 0);
}

static zk_status take_options(const zk_call *call, zk_args *a, zk_reduction reduction, int64_t ignore_index,
                              float label_smoothing) {
  if (reduction != ZK_REDUCTION_NONE && reduction != ZK_REDUCTION_MEAN && reduction != ZK_REDUCTION_SUM)
    return zk_fail(call, ZK_ERR_ARG, "reduction is %d, must be ZK_REDUCTION_NONE, _MEAN or _SUM", (int)reduction);
  if (!(label_smoothing >= 0.0f && label_smoothing <= 1.0f))
    return zk_fail(call, ZK_ERR_ARG, "label_smoothing is %g, must be in [0, 1]", (double)label_smoothing);
  a->i[0] = reduction;
  a->i[1] = ignore_index;
  a->f[0] = label_smoothing;
  return ZK_OK;
}

/* loss or dloss: one value per row (none), or one value ([] or [1]). */
static zk_status take_loss(const zk_call *call, zk_args *a, const char *name, const DLTensor *t, int output,
                           const DLTensor *logits, zk_reduction reduction) {
  if (reduction == ZK_REDUCTION_NONE) ZK_CHECK(zk_take_reduced(call, name, t, &a->t[2], output, "logits", logits, 0));
  else ZK_CHECK(zk_take_scalar(call, name, t, &a->t[2], output));
  return zk_expect_float(call, name, &a->t[2]);
}

zk_status zk_softmax_cross_entropy(zk_ctx *ctx, const DLTensor *logits, const DLTensor *targets, DLTensor *loss,
                                   zk_reduction reduction, int64_t ignore_index, float label_smoothing) {
  ZK_BEGIN(softmax_cross_entropy);
  zk_args a = {.op = ZK_OP_softmax_cross_entropy};
  ZK_CHECK(take_logits_targets(call, &a, logits, targets));
  ZK_CHECK(take_options(call, &a, reduction, ignore_index, label_smoothing));
  ZK_CHECK(take_loss(call, &a, "loss", loss, 1, logits, reduction));
  /* No rows: a reduced loss is still written (sum 0, mean NaN). */
  if (a.t[0].rows == 0 && reduction == ZK_REDUCTION_NONE) return ZK_OK;
  return zk_dispatch(call, &a);
}

zk_status zk_softmax_cross_entropy_grad(zk_ctx *ctx, const DLTensor *logits, const DLTensor *targets,
                                        const DLTensor *dloss, DLTensor *dlogits, zk_reduction reduction,
                                        int64_t ignore_index, float label_smoothing) {
  ZK_BEGIN(softmax_cross_entropy_grad);
  zk_args a = {.op = ZK_OP_softmax_cross_entropy_grad};
  ZK_CHECK(take_logits_targets(call, &a, logits, targets));
  ZK_CHECK(take_options(call, &a, reduction, ignore_index, label_smoothing));
  ZK_CHECK(take_loss(call, &a, "dloss", dloss, 0, logits, reduction));
  ZK_CHECK(zk_take_like(call, "dlogits", dlogits, &a.t[3], 1, "logits", logits, &a.t[0]));
  if (a.t[0].rows == 0) return ZK_OK;
  return zk_dispatch(call, &a);
}
