/* The image family on the CPU (spec §15), NHWC.
 *
 * Both ops run bands of output rows of one image through zk_cpu_for_rows
 * and work along the contiguous channel dimension, so the inner loops are
 * unit-stride over C and vectorize.  Input rows are f32 views (the tensor
 * itself when f32, else converted into scratch), each converted once per
 * band rather than once per output row that reads it.
 *
 * resize_bilinear: the f32 source coordinates of every output column are
 * computed once per call (zk_resize_coord, shared with CUDA); an output row
 * blends its two source rows, horizontally first, as the spec writes it.
 * depthwise_conv_3x3: an output row reads input rows i-1, i, i+1; taps
 * outside the image are left out (zero padding) and the rest summed in
 * order ky, kx, then the bias. */
#include <stdlib.h>
#include "cpu.h"

/* A [rows_of_image, W·C] view of an NHWC tensor: row (n, i) of W·C elements. */
static zk_rows image_rows(const zk_rows *t, int64_t W) {
  zk_rows v = *t;
  v.rows = t->rows / W;
  v.cols = t->cols * W;
  v.stride = v.cols;
  return v;
}

/* ------------------------------------------------------------ resize
 * A task is a band of RESIZE_BAND output rows of one image.  Consecutive
 * output rows share source rows (an upscale reads each one for about OH/H
 * rows), so a 16-bit source row is converted once per band and kept while
 * it is used. */

#define RESIZE_BAND 16

typedef struct resize_job {
  zk_rows x, y;        /* image rows: x [N·H, W·C], y [N·OH, OW·C] */
  int64_t H, OH, OW, C, bands;
  int align;
  float scale_y;
  const int64_t *x0, *x1; /* per output column */
  const float *lx;
} resize_job;

/* An output row: each pixel blends its four source pixels.  The loop over
 * the row is inside the clone (ZK_HOT), so the pixels' channel loops are
 * inlined: a call a pixel (through the clone's dispatch) cost about as
 * much as a pixel's 64 channels. */
ZK_HOT static void blend_row(float *out, const float *a, const float *b, const resize_job *job, float ly) {
  const int64_t C = job->C;
  const float wy0 = 1.0f - ly;
  for (int64_t ox = 0; ox < job->OW; ox++) {
    const float lx = job->lx[ox], wx0 = 1.0f - lx;
    const float *a0 = a + job->x0[ox] * C, *a1 = a + job->x1[ox] * C, *b0 = b + job->x0[ox] * C,
                *b1 = b + job->x1[ox] * C;
    float *o = out + ox * C;
#pragma omp simd
    for (int64_t c = 0; c < C; c++) o[c] = wy0 * (wx0 * a0[c] + lx * a1[c]) + ly * (wx0 * b0[c] + lx * b1[c]);
  }
}

/* Two f32 source rows of the band's image, tagged with their row (-1: none). */
typedef struct source_rows {
  float *buf[2];
  const float *row[2];
  int64_t src[2];
} source_rows;

/* Source row y of image n as f32: cached, or viewed (converted when
 * 16-bit) into the slot that does not hold row `keep` (the other row the
 * output row needs). */
static const float *source_row(source_rows *s, int64_t n, int64_t y, int64_t keep, const resize_job *job) {
  for (int k = 0; k < 2; k++)
    if (s->src[k] == y) return s->row[k];
  int k = s->src[0] == keep ? 1 : 0;
  s->row[k] = zk_cpu_view(&job->x, n * job->H + y, 0, job->x.cols, s->buf[k]);
  s->src[k] = y;
  return s->row[k];
}

/* Scratch: two source rows (W·C each), the output row (OW·C). */
static void resize_band(int64_t task, float *scratch, const void *arg) {
  const resize_job *job = arg;
  int64_t n = task / job->bands, oy0 = task % job->bands * RESIZE_BAND, in_cols = job->x.cols;
  int64_t oy1 = oy0 + RESIZE_BAND < job->OH ? oy0 + RESIZE_BAND : job->OH;
  source_rows rows = {{scratch, scratch + in_cols}, {NULL, NULL}, {-1, -1}};
  for (int64_t oy = oy0; oy < oy1; oy++) {
    int64_t y0, y1, r = n * job->OH + oy;
    float ly;
    zk_resize_coord(oy, job->scale_y, job->align, job->H, &y0, &y1, &ly);
    const float *a = source_row(&rows, n, y0, y1, job), *b = source_row(&rows, n, y1, y0, job);
    float *out = zk_cpu_target(&job->y, r, 0, scratch + 2 * in_cols);
    blend_row(out, a, b, job, ly);
    zk_cpu_commit(&job->y, r, 0, job->y.cols, out);
  }
}

zk_status zk_cpu_resize_bilinear(zk_ctx *ctx, const zk_args *args) {
  ZK_CPU_CALL(ctx, resize_bilinear);
  int align = (int)args->i[0];
  int64_t H = args->i[1], W = args->i[2], OH = args->i[3], C = args->t[0].cols;
  int64_t N = args->t[0].rows / (H * W), OW = args->t[1].rows / (N * OH), bands = (OH + RESIZE_BAND - 1) / RESIZE_BAND;
  resize_job job = {image_rows(&args->t[0], W), image_rows(&args->t[1], OW), H, OH, OW, C, bands, align,
                    zk_resize_scale_f(H, OH, align), NULL, NULL, NULL};
  int64_t *cols = malloc((size_t)(2 * OW) * sizeof(int64_t));
  float *lx = malloc((size_t)OW * sizeof(float));
  zk_status s = ZK_OK;
  if (!cols || !lx) {
    s = zk_fail(call, ZK_ERR_OOM, "cannot allocate the column table");
  } else {
    float sx = zk_resize_scale_f(W, OW, align);
    for (int64_t ox = 0; ox < OW; ox++) zk_resize_coord(ox, sx, align, W, &cols[ox], &cols[OW + ox], &lx[ox]);
    job.x0 = cols, job.x1 = cols + OW, job.lx = lx;
    s = zk_cpu_for_rows(ctx, call, N * bands, RESIZE_BAND * OW * C, 2 * W * C + OW * C, resize_band, &job);
  }
  free(cols);
  free(lx);
  return s;
}

/* ---------------------------------------------------------- depthwise 3x3
 * A task is a band of CONV_BAND output rows of one image, walked top to
 * bottom with a window of three input rows: each input row enters the
 * window once (converted once when 16-bit, instead of once per output row
 * that reads it), and the window stays in L2 while three output rows use
 * it.  Interior pixels with all nine taps take one channel loop over the
 * nine products; border pixels leave out the taps outside the image. */

#define CONV_BAND 16

typedef struct conv_job {
  zk_rows x, y;         /* image rows [N·H, W·C] */
  int64_t H, W, C, bands;
  const float *w;       /* [9, C] in f32 */
  const float *bias;    /* [C] or NULL */
} conv_job;

/* out[c] = Σ over the taps present (rows[ky] non-NULL, columns in range) of
 * x·w, in order ky, kx, then + bias.  The first tap initialises the sum, so
 * no +0 is added. */
ZK_HOT static void conv_pixel(float *out, const float *const rows[3], int64_t j, int64_t W, int64_t C, const float *w,
                              const float *bias) {
  int first = 1;
  for (int ky = 0; ky < 3; ky++) {
    if (!rows[ky]) continue;
    for (int kx = 0; kx < 3; kx++) {
      int64_t xx = j + kx - 1;
      if (xx < 0 || xx >= W) continue;
      const float *v = rows[ky] + xx * C, *wt = w + (ky * 3 + kx) * C;
      if (first) {
#pragma omp simd
        for (int64_t c = 0; c < C; c++) out[c] = v[c] * wt[c];
      } else {
#pragma omp simd
        for (int64_t c = 0; c < C; c++) out[c] += v[c] * wt[c];
      }
      first = 0;
    }
  }
  if (bias) {
#pragma omp simd
    for (int64_t c = 0; c < C; c++) out[c] += bias[c];
  }
}

/* Pixels 1 .. W-2 of a row whose three input rows are all present: the
 * nine taps of conv_pixel in the same order, summed in registers.  The
 * weights of a tile of CONV_TILE channels are copied to a local array, so
 * that the nine taps' weights sit at constant offsets from one register:
 * with nine weight pointers and nine input pointers the loop ran out of
 * general registers and reloaded spilled pointers every vector.  (A row of
 * up to CONV_TILE channels is one tile: the order of the walk is the same.) */
#define CONV_TILE 64

/* One tile of conv_interior; `bias` is tested once per call (has_bias is a
 * constant where it is inlined): `bias ? s + bias[c] : s` inside the loop
 * became masked loads from bias, which with bias NULL fault on every
 * vector and are suppressed in microcode (6-7x slower without a bias). */
static inline void conv_interior_tile(float *restrict out, const float *restrict up, const float *restrict mid,
                                      const float *restrict down, int64_t W, int64_t C, int64_t cn,
                                      const float (*restrict wt)[CONV_TILE], const float *restrict bias,
                                      const int has_bias) {
  for (int64_t j = 1; j + 1 < W; j++) {
    const float *a = up + (j - 1) * C, *b = mid + (j - 1) * C, *d = down + (j - 1) * C;
    float *o = out + j * C;
    for (int64_t l = 0; l < cn; l++) {
      float s = a[l] * wt[0][l];
      s += a[C + l] * wt[1][l];
      s += a[2 * C + l] * wt[2][l];
      s += b[l] * wt[3][l];
      s += b[C + l] * wt[4][l];
      s += b[2 * C + l] * wt[5][l];
      s += d[l] * wt[6][l];
      s += d[C + l] * wt[7][l];
      s += d[2 * C + l] * wt[8][l];
      o[l] = has_bias ? s + bias[l] : s;
    }
  }
}

ZK_HOT static void conv_interior(float *restrict out, const float *restrict up, const float *restrict mid,
                                 const float *restrict down, int64_t W, int64_t C, const float *restrict w,
                                 const float *restrict bias) {
  for (int64_t c0 = 0; c0 < C; c0 += CONV_TILE) {
    const int64_t cn = C - c0 < CONV_TILE ? C - c0 : CONV_TILE;
    float wt[9][CONV_TILE];
    for (int k = 0; k < 9; k++)
      for (int64_t l = 0; l < cn; l++) wt[k][l] = w[k * C + c0 + l];
    if (bias)
      conv_interior_tile(out + c0, up + c0, mid + c0, down + c0, W, C, cn, wt, bias + c0, 1);
    else
      conv_interior_tile(out + c0, up + c0, mid + c0, down + c0, W, C, cn, wt, NULL, 0);
  }
}

static void conv_row(float *out, const float *const rows[3], const conv_job *job) {
  int64_t W = job->W, C = job->C;
  if (rows[0] && rows[2] && W > 2) {
    conv_pixel(out, rows, 0, W, C, job->w, job->bias);
    conv_interior(out, rows[0], rows[1], rows[2], W, C, job->w, job->bias);
    conv_pixel(out + (W - 1) * C, rows, W - 1, W, C, job->w, job->bias);
  } else {
    for (int64_t j = 0; j < W; j++) conv_pixel(out + j * C, rows, j, W, C, job->w, job->bias);
  }
}

/* Scratch: a ring of three input rows (row yy in slot yy % 3), then the
 * output row. */
static void conv_band(int64_t task, float *scratch, const void *arg) {
  const conv_job *job = arg;
  int64_t H = job->H, cols = job->x.cols, n = task / job->bands, i0 = task % job->bands * CONV_BAND;
  int64_t i1 = i0 + CONV_BAND < H ? i0 + CONV_BAND : H;
  const float *ring[3] = {NULL, NULL, NULL};
  for (int64_t yy = i0 - 1; yy <= i0 + 1 && yy < H; yy++)
    if (yy >= 0) ring[yy % 3] = zk_cpu_view(&job->x, n * H + yy, 0, cols, scratch + yy % 3 * cols);
  for (int64_t i = i0; i < i1; i++) {
    if (i > i0 && i + 1 < H) ring[(i + 1) % 3] = zk_cpu_view(&job->x, n * H + i + 1, 0, cols, scratch + (i + 1) % 3 * cols);
    const float *rows[3] = {i > 0 ? ring[(i - 1) % 3] : NULL, ring[i % 3], i + 1 < H ? ring[(i + 1) % 3] : NULL};
    float *out = zk_cpu_target(&job->y, n * H + i, 0, scratch + 3 * cols);
    conv_row(out, rows, job);
    zk_cpu_commit(&job->y, n * H + i, 0, cols, out);
  }
}

zk_status zk_cpu_depthwise_conv_3x3(zk_ctx *ctx, const zk_args *args) {
  ZK_CPU_CALL(ctx, depthwise_conv_3x3);
  int64_t H = args->i[0], W = args->i[1], C = args->t[0].cols;
  const zk_rows *wt = &args->t[1], *bt = &args->t[2];
  float *w = malloc((size_t)(9 * C) * sizeof(float));
  float *bias = zk_present(bt) ? zk_cpu_param_f32(bt) : NULL;
  zk_status s = ZK_OK;
  if (!w || (zk_present(bt) && !bias)) {
    s = zk_fail(call, ZK_ERR_OOM, "cannot allocate the f32 weights");
  } else {
    for (int k = 0; k < 9; k++) zk_cpu_load(wt, k, 0, C, w + k * C);
    int64_t bands = (H + CONV_BAND - 1) / CONV_BAND, images = args->t[0].rows / (H * W);
    conv_job job = {image_rows(&args->t[0], W), image_rows(&args->t[3], W), H, W, C, bands, w, bias};
    s = zk_cpu_for_rows(ctx, call, images * bands, CONV_BAND * W * C, 4 * W * C, conv_band, &job);
  }
  free(w);
  free(bias);
  return s;
}
