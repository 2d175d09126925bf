/* Bit packing (spec §13): bool masks to and from bytes, little bit order. */
#ifndef ZKERN_BITS_H
#define ZKERN_BITS_H
#include <zkern/zkern.h>
#ifdef __cplusplus
extern "C" {
#endif

/* y[i] bit j = (x_flat[8i + j] != 0) (NumPy packbits, bitorder='little');
 * the last byte's padding bits are 0.  x any shape, bool, uint8 or int8,
 * compact; y [ceil(numel(x) / 8)] uint8, compact.  No aliases. */
zk_status zk_pack_bits(zk_ctx *ctx, const DLTensor *x, DLTensor *y);

/* y_flat[e] = (x[e / 8] >> (e % 8)) & 1 for e < count: the inverse of
 * zk_pack_bits.  x [m] uint8 with 8m >= count (bytes past ceil(count / 8)
 * are ignored); y uint8 or bool, any shape with numel = count, compact.
 * No aliases. */
zk_status zk_unpack_bits(zk_ctx *ctx, const DLTensor *x, DLTensor *y, int64_t count);

#ifdef __cplusplus
}
#endif
#endif
