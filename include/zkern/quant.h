/* Dequantisation (spec §12).
 *
 * Scales are compact tensors of any float dtype; their element count picks
 * the mode over the logical values [..., D] (R rows):
 *   1 element                        per tensor
 *   R elements, group_size = 0       per row    (shape [...] or [..., 1])
 *   R·D/g elements, group_size = g   per group  (shape [..., D/g]):
 *                                    element (r, j) uses scale[r, j / g]
 * group_size > 0 needs D % g == 0 (SHAPE); group_size < 0 is ARG.  y is any
 * float dtype, chosen by the caller.  A zero scale gives ±0, NaN/Inf scales
 * propagate per IEEE, overflow on rounding gives ±Inf. */
#ifndef ZKERN_QUANT_H
#define ZKERN_QUANT_H
#include <stdint.h>
#include <zkern/zkern.h>
#ifdef __cplusplus
extern "C" {
#endif

/* x [..., D] int8 -> y [..., D]: y = round_T(f32(q)·f32(s)).  Bitwise. */
zk_status zk_dequantize_int8(zk_ctx *ctx, const DLTensor *x, const DLTensor *scale, DLTensor *y, int64_t group_size);

/* As zk_dequantize_int8, then y = silu(f32(q)·f32(s)). */
zk_status zk_dequantize_silu_int8(zk_ctx *ctx, const DLTensor *x, const DLTensor *scale, DLTensor *y,
                                  int64_t group_size);

/* x [..., Dp] uint8, two codes per byte -> y [..., 2·Dp]: value 2i is the
 * low nibble of byte i, value 2i+1 the high one.  q = nibble (0..15), or
 * with is_signed q = nibble - 16·[nibble >= 8] (-8..7).  zero_point
 * (optional, NULL = 0) follows the same grouping rules as scale, each
 * picking its own mode by its element count.
 * y = round_T((f32(q) - f32(zp))·f32(s)), in that order.  Bitwise. */
zk_status zk_dequantize_int4(zk_ctx *ctx, const DLTensor *x, const DLTensor *scale, const DLTensor *zero_point,
                             DLTensor *y, int64_t group_size, int is_signed);

#ifdef __cplusplus
}
#endif
#endif
