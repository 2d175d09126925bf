/* float64 reference of the image family (spec §15).  Plain loops, built
 * with -ffp-contract=off, so the f32 coordinates of zk_resize_coord are the
 * spec's exact f32 operations. */
#include <math.h>
#include <stddef.h>
#include "../common/zk_math.h"
#include "image.h"

void zk_ref_resize_bilinear(const double *x, double *y, double *yabs, int64_t N, int64_t H, int64_t W, int64_t C,
                            int64_t OH, int64_t OW, int align_corners) {
  float sy = zk_resize_scale_f(H, OH, align_corners), sx = zk_resize_scale_f(W, OW, align_corners);
  for (int64_t n = 0; n < N; n++)
    for (int64_t oy = 0; oy < OH; oy++) {
      int64_t y0, y1;
      float ly;
      zk_resize_coord(oy, sy, align_corners, H, &y0, &y1, &ly);
      for (int64_t ox = 0; ox < OW; ox++) {
        int64_t x0, x1;
        float lx;
        zk_resize_coord(ox, sx, align_corners, W, &x0, &x1, &lx);
        /* (1-λ) in f32, as the kernels form it. */
        double wy[2] = {1.0f - ly, ly}, wx[2] = {1.0f - lx, lx};
        const double *p[2][2] = {{x + ((n * H + y0) * W + x0) * C, x + ((n * H + y0) * W + x1) * C},
                                 {x + ((n * H + y1) * W + x0) * C, x + ((n * H + y1) * W + x1) * C}};
        double *out = y + ((n * OH + oy) * OW + ox) * C, *oabs = yabs ? yabs + ((n * OH + oy) * OW + ox) * C : NULL;
        for (int64_t c = 0; c < C; c++) {
          double v = 0, s = 0;
          for (int a = 0; a < 2; a++) {
            double row = wx[0] * p[a][0][c] + wx[1] * p[a][1][c];
            double row_abs = fabs(wx[0] * p[a][0][c]) + fabs(wx[1] * p[a][1][c]);
            v += wy[a] * row;
            s += wy[a] * row_abs;
          }
          out[c] = v;
          if (oabs) oabs[c] = s;
        }
      }
    }
}

void zk_ref_depthwise_conv_3x3(const double *x, const double *w, const double *bias, double *y, double *yabs,
                               int64_t N, int64_t H, int64_t W, int64_t C) {
  for (int64_t n = 0; n < N; n++)
    for (int64_t i = 0; i < H; i++)
      for (int64_t j = 0; j < W; j++)
        for (int64_t c = 0; c < C; c++) {
          double v = 0, s = 0;
          for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++) {
              int64_t yy = i + ky - 1, xx = j + kx - 1;
              if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
              double t = x[((n * H + yy) * W + xx) * C + c] * w[(ky * 3 + kx) * C + c];
              v += t;
              s += fabs(t);
            }
          if (bias) v += bias[c], s += fabs(bias[c]);
          y[((n * H + i) * W + j) * C + c] = v;
          if (yabs) yabs[((n * H + i) * W + j) * C + c] = s;
        }
}
