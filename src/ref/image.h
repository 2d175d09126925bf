/* float64 reference of the image family (spec §15): the oracle.
 * Tensors are compact NHWC double arrays holding the stored values:
 * x [N, H, W, C], y [N, OH, OW, C] (conv: [N, H, W, C]), w [3, 3, C],
 * bias [C] (NULL: none).  yabs (may be NULL) receives the ACC term S, the
 * same sum with every term replaced by its absolute value. */
#ifndef ZK_REF_IMAGE_H
#define ZK_REF_IMAGE_H
#include <stdint.h>

/* Source coordinates and weights in f32 as the spec fixes them, the blend
 * in float64. */
void zk_ref_resize_bilinear(const double *x, double *y, double *yabs, int64_t N, int64_t H, int64_t W, int64_t C,
                            int64_t OH, int64_t OW, int align_corners);
/* Zero padding: taps outside the image are left out of the sum. */
void zk_ref_depthwise_conv_3x3(const double *x, const double *w, const double *bias, double *y, double *yabs,
                               int64_t N, int64_t H, int64_t W, int64_t C);

#endif
