/* float64 reference of the indexing family (spec §16): the oracle.
 * Tensors are compact row-major double arrays of the stored values; idx
 * values are in range (the harness checks bad ones separately). */
#ifndef ZK_REF_INDEXING_H
#define ZK_REF_INDEXING_H
#include <stdint.h>

/* y [M, D] = f32(src[idx[i]]) + f32(other[i]) (the f32 sum, exact in double). */
void zk_ref_gather_add(const double *src, const double *idx, const double *other, double *y, int64_t M, int64_t D);

/* y [N, D]: for each row n, start (0, or y's own value when accumulate)
 * plus updates[i] for every i with idx[i] = n, in ascending i, each addition
 * rounded to f32 (the contract's sequential order).  abs, if not NULL,
 * gets Σ|terms| (the ACC term of the non-deterministic mode). */
void zk_ref_scatter_add(const double *idx, const double *updates, double *y, double *abs, int64_t M, int64_t N,
                        int64_t D, int accumulate);

#endif
