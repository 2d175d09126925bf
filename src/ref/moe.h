/* float64 reference of the moe family (spec §14): the oracle.
 * Tensors are compact row-major double arrays of the stored values; index
 * values are in range (the harness checks bad ones separately).  abs
 * outputs, where not NULL, get the ACC term S (Σ of the terms' |·|). */
#ifndef ZK_REF_MOE_H
#define ZK_REF_MOE_H
#include <stdint.h>

/* logits [R, E], bias [E] or NULL -> weights, indices [R, k].  score: 0
 * softmax, 1 sigmoid; select_only: the weights are the unbiased scores. */
void zk_ref_topk_gating(const double *logits, const double *bias, double *weights, double *indices, int64_t R,
                        int64_t E, int64_t k, int sigmoid, int norm, int select_only, double routed_scale);

/* ids [N, K] in [0, E) -> offsets [E + 1], src [N·K], inv [N, K] (or NULL),
 * x_perm [N·K, D] (or NULL) from x [N, D]: a stable sort of the pairs by
 * (expert, pair index). */
void zk_ref_moe_dispatch(const double *x, const double *ids, double *x_perm, double *offsets, double *src, double *inv,
                         int64_t N, int64_t K, int64_t D, int64_t E);

/* y [N, D] = Σ_k w[n, k]·ex[n, k, :] (weights NULL: ones).  rows[n, k]
 * names the row of ex used for (n, k) (NULL: n·K + k, the catalog layout),
 * so the permuted combine is the same sum over y_perm's rows. */
void zk_ref_moe_combine(const double *ex, const double *w, const double *rows, double *y, double *yabs, int64_t N,
                        int64_t K, int64_t D);

/* VJP of zk_ref_moe_combine: dex (rows of ex as in the forward; NULL: not
 * computed) = dy_n·w_{n,k}; dw [N, K] (or NULL) = <dy_n, ex row>. */
void zk_ref_moe_combine_grad(const double *ex, const double *w, const double *rows, const double *dy, double *dex,
                             double *dw, double *dwabs, int64_t N, int64_t K, int64_t D);

#endif
