/* float64 reference of the bit ops (spec §13): the oracle.  Byte values
 * are held as doubles (0..255), as the harness stores them. */
#ifndef ZK_REF_BITS_H
#define ZK_REF_BITS_H
#include <stdint.h>

/* y [ceil(n/8)]: bit j of y[i] = (x[8i + j] != 0); padding bits 0. */
void zk_ref_pack_bits(const double *x, int64_t n, double *y);
/* y [count]: y[e] = (x[floor(e/8)] >> (e mod 8)) & 1. */
void zk_ref_unpack_bits(const double *x, int64_t count, double *y);

#endif
