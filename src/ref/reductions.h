/* float64 reference of the reductions family (spec §8): the oracle.
 *
 * Shapes: x [R, D] compact; y, yabs, idx [R] (one value per row); values,
 * indices [R, k].  yabs is the ACC term S of sum and mean (Σ|x|, Σ|x|/D). */
#ifndef ZK_REF_REDUCTIONS_H
#define ZK_REF_REDUCTIONS_H
#include <stdint.h>

/* y = Σ x (D = 0: 0). */
void zk_ref_sum(const double *x, double *y, double *yabs, int64_t R, int64_t D);
/* y = Σ x / D (D = 0: NaN). */
void zk_ref_mean(const double *x, double *y, double *yabs, int64_t R, int64_t D);
/* y = max x; any NaN -> NaN.  D >= 1. */
void zk_ref_max(const double *x, double *y, int64_t R, int64_t D);
/* y = Σ (x - μ)² / (D - ddof); D - ddof <= 0 -> NaN. */
void zk_ref_var(const double *x, double *y, int64_t R, int64_t D, int ddof);
/* y = √(var + eps), eps the f32 the kernels get. */
void zk_ref_std(const double *x, double *y, int64_t R, int64_t D, int ddof, float eps);
/* The spec's total order: 1 when x[a] ranks above x[b] (NaN > +Inf > finite
 * > -Inf, ±0 and NaNs equal, then the lower index first). */
int zk_ref_ranks_above(const double *x, int64_t a, int64_t b);
/* idx = the first index of the maximum under that order.  D >= 1. */
void zk_ref_argmax(const double *x, double *idx, int64_t R, int64_t D);
/* values, indices [R, k]: the k first elements of each row in that order. */
void zk_ref_topk(const double *x, double *values, double *indices, int64_t R, int64_t D, int64_t k);

#endif
