/* float64 reference of the rope family (spec §7): the oracle.
 *
 * Every op is a rotation of head rows: x [rows, D] compact, each row at
 * position pos[r] of the tables cos, sin [P, h] (compact, h = R/2).  The
 * pairs are (j, j + h) (half) or (2i, 2i + 1) (interleaved), rotated by θ
 * (dir = +1) or by -θ (dir = -1, the VJP); elements 2h..D-1 are copied.
 * yabs (may be NULL) receives the ACC term |a·c| + |b·s| of each rotated
 * element (0 for the copied tail).  y may be x. */
#ifndef ZK_REF_ROPE_H
#define ZK_REF_ROPE_H
#include <stdint.h>

typedef enum zk_ref_rope_pairs { ZK_REF_ROPE_HALF, ZK_REF_ROPE_INTERLEAVED } zk_ref_rope_pairs;

void zk_ref_rope(zk_ref_rope_pairs pairs, int dir, const double *x, double *y, double *yabs, int64_t rows,
                 int64_t D, const int64_t *pos, const double *cos, const double *sin, int64_t h);

#endif
