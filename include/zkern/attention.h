/* Attention family (spec §6): masked row softmaxes, logsumexp, paged
 * decode attention and the score-tile prototype.
 *
 * Masks are [M, D] bool (DLPack bool or uint8; nonzero = keep, as SDPA's
 * boolean attn_mask) with M >= 1 dividing the rows R of x: row r uses mask
 * row r mod M (M = R a full mask, M = 1 one mask for all rows, an [Sq, Sk]
 * mask serves [B, H, Sq, Sk] scores).  Leading mask dims collapse to M. */
#ifndef ZKERN_ATTENTION_H
#define ZKERN_ATTENTION_H
#include <zkern/zkern.h>
#ifdef __cplusplus
extern "C" {
#endif

/* y = m + log Σ e^(x - m) per row, x [..., D], y x.shape[:-1] (or keepdim
 * [..., 1]) of any float dtype.  All -Inf row or D = 0 -> -Inf; a +Inf
 * entry (no NaN) -> +Inf; NaN -> NaN. */
zk_status zk_logsumexp_lastdim(zk_ctx *ctx, const DLTensor *x, DLTensor *y);
/* dx = dy·e^(x - lse), lse recomputed in f32 from x; an all -Inf row gives
 * 0.  dy has y's shape, any float dtype; dx is shaped and typed as x. */
zk_status zk_logsumexp_lastdim_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *dy, DLTensor *dx);

/* y = softmax over the kept entries of each row, exactly 0 at masked ones
 * (never read: NaN there is ignored).  A fully masked row, or one whose
 * kept entries are all -Inf, gives zeros.  alias x ok. */
zk_status zk_masked_softmax(zk_ctx *ctx, const DLTensor *x, const DLTensor *mask, DLTensor *y);
/* dx = y·(dy - Σ dy·y) (masked entries: y = 0, so dx = 0).  alias dy ok. */
zk_status zk_masked_softmax_grad(zk_ctx *ctx, const DLTensor *y, const DLTensor *dy, DLTensor *dx);

/* zk_masked_softmax of z = scale·x (an f32 product, formed before the max);
 * mask NULL keeps every entry.  scale must be finite.  alias x ok. */
zk_status zk_scale_mask_softmax(zk_ctx *ctx, const DLTensor *x, const DLTensor *mask, DLTensor *y, float scale);
/* dx = scale·y⊙(dy - Σ dy·y).  alias dy ok. */
zk_status zk_scale_mask_softmax_grad(zk_ctx *ctx, const DLTensor *y, const DLTensor *dy, DLTensor *dx, float scale);

/* Decode attention over a paged KV cache (vLLM layout): q, out [B, H, D]
 * (row [H, D]; q may be a slice of a fused projection), k_cache, v_cache
 * [NB, BS, HKV, D] compact (one float dtype, may differ from q's),
 * block_tables [B, MB] int32 (row-strided allowed), context_lens [B] int32.
 * Token i < L = context_lens[b] sits in block block_tables[b, i / BS], slot
 * i mod BS; head h reads KV head h / (H / HKV).  out[b, h] = Σ_i softmax(s)_i
 * V_i with s_i = scale·<q[b, h], K_i>, an online softmax in f32 (no context
 * limit); L = 0 gives zeros.  Table entries past ⌈L/BS⌉ are never read.
 * L outside [0, MB·BS] or a read block id outside [0, NB) -> ZK_ERR_INDEX.
 * scale must be finite and > 0 (1/√D is the usual choice). */
zk_status zk_paged_attention(zk_ctx *ctx, const DLTensor *q, const DLTensor *k_cache, const DLTensor *v_cache,
                             const DLTensor *block_tables, const DLTensor *context_lens, DLTensor *out, float scale);

/* Experimental score tile: s[r, c] = Σ_d q[r, d]·k[c, d] in f32, for q, k
 * [16, D] (one float dtype, any D >= 1) and s [16, 16] f32. */
zk_status zk_attention_tile_proto(zk_ctx *ctx, const DLTensor *q, const DLTensor *k, DLTensor *s);

#ifdef __cplusplus
}
#endif
#endif
