/* float64 reference of the attention family (spec §6): the oracle. */
#ifndef ZK_REF_ATTENTION_H
#define ZK_REF_ATTENTION_H
#include <stdint.h>

/* x [R, D] -> y [R]: m + log Σ e^(x-m); all -Inf (or D = 0) -> -Inf, a
 * +Inf entry -> +Inf, a NaN -> NaN. */
void zk_ref_logsumexp(const double *x, double *y, int64_t R, int64_t D);
/* x [R, D], dy [R] -> dx [R, D]: dy·e^(x - lse); an all -Inf row gives 0. */
void zk_ref_logsumexp_grad(const double *x, const double *dy, double *dx, int64_t R, int64_t D);
/* x [R, D], mask [M, D] (nonzero = keep; NULL = keep all) -> y [R, D]:
 * softmax over the kept entries of z = round_f32(scale·x), 0 at masked
 * ones.  Kept entries all -Inf (or none) -> zeros; a kept NaN or +Inf ->
 * NaN at every kept entry.  y may be x. */
void zk_ref_masked_softmax(const double *x, const double *mask, int64_t M, double *y, int64_t R, int64_t D,
                           double scale);
/* y, dy [R, D] -> dx [R, D]: scale·y·(dy - Σ dy·y). */
void zk_ref_scaled_softmax_grad(const double *y, const double *dy, double *dx, int64_t R, int64_t D, double scale);

/* Decode attention, dense over the gathered tokens.  q, out [B, H·D];
 * caches [NB·BS, HKV·D]; tables [B, MB]; lens [B].  out_abs (may be NULL)
 * gets the ACC term Σ_i p_i·|V_i|. */
typedef struct zk_ref_paged {
  int64_t B, H, HKV, D, BS, MB;
  double scale;
} zk_ref_paged;
void zk_ref_paged_attention(const zk_ref_paged *p, const double *q, const double *k_cache, const double *v_cache,
                            const double *tables, const double *lens, double *out, double *out_abs);

/* q, k [16, D] -> s [16, 16] = q·kᵀ; s_abs (may be NULL) = |q|·|k|ᵀ. */
void zk_ref_attention_tile(const double *q, const double *k, double *s, double *s_abs, int64_t D);

#endif
