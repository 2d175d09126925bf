/* The CPU row-normalisation engine, shared by the norms and transformer
 * families: RMSNorm or LayerNorm of x (or of h = round(x + x2)), with an
 * optional weight, bias, stored h and dropout; and its VJP. */
#ifndef ZK_CPU_NORMS_H
#define ZK_CPU_NORMS_H

#include "cpu.h"

typedef enum zk_norm_kind { ZK_NORM_RMS, ZK_NORM_LAYER } zk_norm_kind;

typedef struct zk_norm_fwd {
  zk_norm_kind kind;
  const zk_rows *x;
  const zk_rows *x2;             /* second addend: normalise h = round(x + x2); NULL = none */
  const zk_rows *y;              /* normalised output */
  const zk_rows *h;              /* stored h; NULL = not stored */
  const zk_rows *weight, *bias;  /* NULL or absent = none */
  float eps;
  const zk_dropout_cfg *drop;    /* NULL = no dropout */
} zk_norm_fwd;

typedef struct zk_norm_bwd {
  zk_norm_kind kind;
  const zk_rows *x;
  const zk_rows *x2;             /* recompute h = round(x + x2); NULL = none */
  const zk_rows *dy;             /* cotangent of the normalised output */
  const zk_rows *dh;             /* cotangent of h added to dx; NULL or absent = none */
  const zk_rows *dx;             /* NULL or absent = not computed */
  const zk_rows *weight;         /* NULL = weight 1 */
  const zk_rows *dweight, *dbias;/* [D] sums over rows; NULL or absent = not computed */
  float eps;
  const zk_dropout_cfg *drop;
} zk_norm_bwd;

zk_status zk_cpu_norm_forward(zk_ctx *ctx, const zk_call *call, const zk_norm_fwd *f);
zk_status zk_cpu_norm_backward(zk_ctx *ctx, const zk_call *call, const zk_norm_bwd *b);

#endif
