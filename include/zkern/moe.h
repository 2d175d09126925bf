/* Mixture-of-experts routing, dispatch and combine (spec §14).
 *
 * Index inputs (expert ids, inv_idx, src_idx) are checked by value: out of
 * range gives ZK_ERR_INDEX, on the CPU before anything is written, on CUDA
 * through the context's error flag at the next zk_ctx_synchronize.  No
 * output of this family may alias an input. */
#ifndef ZKERN_MOE_H
#define ZKERN_MOE_H
#include <zkern/zkern.h>
#ifdef __cplusplus
extern "C" {
#endif

/* The score function of the router. */
typedef enum zk_gating_score { ZK_GATING_SOFTMAX = 0, ZK_GATING_SIGMOID = 1 } zk_gating_score;
/* What the expert bias does: select and weight (LFM2, the default) or
 * select only (DeepSeek-V3: the weights are the unbiased scores). */
typedef enum zk_gating_bias_mode { ZK_GATING_SELECT_AND_WEIGHT = 0, ZK_GATING_SELECT_ONLY = 1 } zk_gating_bias_mode;

/* Router options shared by zk_topk_gating_softmax and zk_top2_gating_softmax
 * (a NULL pointer means the defaults). */
typedef struct zk_gating_params {
  int score;          /* zk_gating_score, default ZK_GATING_SOFTMAX */
  int norm_topk_prob; /* renormalise the k weights to sum 1; default 1 */
  int bias_mode;      /* zk_gating_bias_mode, default ZK_GATING_SELECT_AND_WEIGHT */
  float routed_scale; /* finite; default 1 */
} zk_gating_params;
#define ZK_GATING_PARAMS_DEFAULT {ZK_GATING_SOFTMAX, 1, ZK_GATING_SELECT_AND_WEIGHT, 1.0f}

/* logits [..., E] float, expert_bias? [E] any float, weights [..., k] f32,
 * indices [..., k] uint32, 1 <= k <= min(E, 32):
 *   s = softmax(logits) over all E (or σ(logits)); sel = s + bias;
 *   the k largest sel (NaN > +Inf > finite > -Inf, ties to the lower
 *   index); raw = sel (select_and_weight) or s (select_only);
 *   w = raw/(Σraw + 1e-20) with norm_topk_prob; w *= routed_scale;
 *   outputs sorted by descending w, ties to the lower index. */
zk_status zk_topk_gating_softmax(zk_ctx *ctx, const DLTensor *logits, const DLTensor *expert_bias, DLTensor *weights,
                                 DLTensor *indices, int64_t k, const zk_gating_params *params);

/* zk_topk_gating_softmax with k = 2 (E >= 2): weights, indices [..., 2]. */
zk_status zk_top2_gating_softmax(zk_ctx *ctx, const DLTensor *logits, const DLTensor *expert_bias, DLTensor *weights,
                                 DLTensor *indices, const zk_gating_params *params);

/* A true dispatch of N tokens × K slots to E experts.  x [..., D] float (N
 * rows), topk_ids [..., K] uint32, int32 or int64 (the same leading dims),
 * x_perm? [N·K, D] =x, expert_offsets [E+1] int32 (compact; E is its
 * length - 1), src_idx [N·K] int32 (compact), inv_idx? [..., K] int32.
 * The pairs q = n·K + k are grouped by expert, stably (ascending expert,
 * then q): expert e owns permuted rows expert_offsets[e] .. [e+1],
 * src_idx[p] = q, inv_idx[q] = p, x_perm[p] = x[q / K] (a copy).  Bitwise.
 * N·K < 2^31.  Its VJP is zk_moe_combine_permuted(dx_perm, NULL, inv_idx). */
zk_status zk_moe_dispatch(zk_ctx *ctx, const DLTensor *x, const DLTensor *topk_ids, DLTensor *x_perm,
                          DLTensor *expert_offsets, DLTensor *src_idx, DLTensor *inv_idx);

/* expert_out [..., K, D] float (row [K, D]), weights [..., K] any float,
 * y [..., D] =expert_out: y = Σ_k w_k·E_k in f32, increasing k from +0. */
zk_status zk_moe_combine(zk_ctx *ctx, const DLTensor *expert_out, const DLTensor *weights, DLTensor *y);

/* VJP of zk_moe_combine: dexpert? [..., K, D] =expert_out, dexpert_k =
 * dy·w_k; dweights? [..., K] =weights, dweights_k = <dy, E_k>.  dy
 * [..., D] =expert_out.  Either output may be NULL. */
zk_status zk_moe_combine_grad(zk_ctx *ctx, const DLTensor *expert_out, const DLTensor *weights, const DLTensor *dy,
                              DLTensor *dexpert, DLTensor *dweights);

/* y_perm [P, D] float (dispatch order), weights? [..., K] any float (NULL
 * = ones), inv_idx [..., K] int32 in [0, P), y [..., D] =y_perm (the same
 * leading dims as inv_idx): y_n = Σ_k w_{n,k}·y_perm[inv_idx[n,k]], in f32,
 * increasing k.  A gather: rows not referenced are never read. */
zk_status zk_moe_combine_permuted(zk_ctx *ctx, const DLTensor *y_perm, const DLTensor *weights,
                                  const DLTensor *inv_idx, DLTensor *y);

/* VJP of zk_moe_combine_permuted in dispatch order.  src_idx [N·k] int32
 * (compact, from zk_moe_dispatch: a permutation of [0, N·k)), dy [..., D]
 * =y_perm (N rows), y_perm [P, D] with P >= N·k, weights? [..., k]:
 * permuted row p, with (n, j) = (src_idx[p] / k, src_idx[p] mod k), gets
 * dy_perm[p] = w_{n,j}·dy_n (dy_n without weights) and dweights[n, j] =
 * <dy_n, y_perm[p]>.  dy_perm? [N·k, D] =y_perm, dweights? [..., k] in
 * weights' dtype (any float without weights).  A src_idx value outside
 * [0, N·k) or repeated gives ZK_ERR_INDEX. */
zk_status zk_moe_combine_permuted_grad(zk_ctx *ctx, const DLTensor *y_perm, const DLTensor *weights,
                                       const DLTensor *src_idx, const DLTensor *dy, DLTensor *dy_perm,
                                       DLTensor *dweights, int64_t k);

#ifdef __cplusplus
}
#endif
#endif
