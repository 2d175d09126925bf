/* float64 reference of the quant family (spec §12): the oracle.
 *
 * Tensors are compact row-major double arrays of the stored values: codes
 * [R, D] (int8 values) or bytes [R, Dp]; scale and zero_point flat, of
 * count ns / nz elements (1: per tensor; R with g = 0: per row; R·D/g:
 * per group); y [R, D] logical values.  The bitwise kernels emulate their
 * f32 operations (exact in double, then rounded to f32), the harness
 * rounds into the output dtype. */
#ifndef ZK_REF_QUANT_H
#define ZK_REF_QUANT_H
#include <stdint.h>

/* The scale element of logical value (r, j) under the spec's grouping. */
int64_t zk_ref_quant_slot(int64_t n, int64_t r, int64_t j, int64_t D, int64_t g);

/* y = f32(q)·f32(s); with silu: y = silu of that (in double). */
void zk_ref_dequantize_int8(const double *q, const double *scale, int64_t ns, double *y, int64_t R, int64_t D,
                            int64_t g, int silu);

/* bytes [R, Dp] -> y [R, 2·Dp] = (f32(q) - f32(zp))·f32(s), each operation
 * rounded to f32; zp NULL = 0. */
void zk_ref_dequantize_int4(const double *bytes, const double *scale, int64_t ns, const double *zp, int64_t nz,
                            double *y, int64_t R, int64_t Dp, int64_t g, int is_signed);

#endif
