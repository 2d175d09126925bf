"""Attention ops for torch_compare.py (spec §6).

Row ops on 8192 x 4096 rows (bf16 and f32): torch.logsumexp; the masked
softmaxes as masked_fill(-inf) + softmax in f32 with one rounding, the mask
an [Sq, Sk] bool of 1024 rows broadcast over the 8192 score rows (about 70%
kept, no fully masked row, so torch's NaN rows do not arise).

paged_attention at the performance bar's decode shapes (bf16, 32 query
heads, 8 KV heads, head dim 128, block size 16): batch 64 x context 4096 and
batch 1 x context 32768.  zkern reads the paged cache through shuffled block
tables; PyTorch runs scaled_dot_product_attention(enable_gqa=True) on the
same K/V held densely ([B, HKV, L, D], gathered once outside the timing),
which is its best case.  Bytes count q, out, the tables and the K/V rows
read."""
import ctypes
import math

import torch
import torch.nn.functional as F

SQ, KEEP = 1024, 0.7
H, HKV, D, BS = 32, 8, 128, 16
SCALE = 0.125
ROWS = [(8192, 4096, torch.bfloat16), (8192, 4096, torch.float32)]
DECODE = [(64, 4096, torch.bfloat16), (1, 32768, torch.bfloat16)]


def nbytes(*ts):
    return sum(t.numel() * t.element_size() for t in ts if t is not None)


def make_rows(R, Dk, dt):
    return dict(x=torch.randn(R, Dk, device="cuda", dtype=dt),
                mask=torch.rand(SQ, Dk, device="cuda") < KEEP,
                y=torch.empty(R, Dk, device="cuda", dtype=dt),
                lse=torch.empty(R, device="cuda", dtype=dt))


def masked_softmax_ref(io, scale=1.0):
    x, m = io["x"], io["mask"]
    z = (x.float() * scale).view(-1, m.shape[0], m.shape[1]).masked_fill(~m, float("-inf"))
    return torch.softmax(z, -1).view_as(x).to(x.dtype)


def make_paged(B, L, dt):
    nb_seq = L // BS
    NB = B * nb_seq
    perm = torch.randperm(NB, device="cuda", dtype=torch.int32)
    kc = torch.randn(NB, BS, HKV, D, device="cuda", dtype=dt)
    vc = torch.randn(NB, BS, HKV, D, device="cuda", dtype=dt)
    tables = perm.view(B, nb_seq).contiguous()

    def dense(c):  # [B, HKV, L, D]: the cache gathered through the tables
        return c[tables.long()].reshape(B, L, HKV, D).transpose(1, 2).contiguous()

    return dict(q=torch.randn(B, H, D, device="cuda", dtype=dt), kc=kc, vc=vc, tables=tables,
                lens=torch.full((B,), L, device="cuda", dtype=torch.int32),
                kd=dense(kc), vd=dense(vc), out=torch.empty(B, H, D, device="cuda", dtype=dt))


def sdpa(io):
    q = io["q"].unsqueeze(2)  # [B, H, 1, D]
    return F.scaled_dot_product_attention(q, io["kd"], io["vd"], scale=1.0 / math.sqrt(D), enable_gqa=True).squeeze(2)


def paged_bytes(io):
    kv = 2 * int(io["lens"].sum().item()) * HKV * D * io["kc"].element_size()
    return nbytes(io["q"], io["out"], io["tables"], io["lens"]) + kv


OPS = {
    "logsumexp_lastdim": dict(
        make=make_rows,
        zk=lambda z, io: z.call("logsumexp_lastdim", [io["x"], io["lse"]]),
        torch=lambda io: torch.logsumexp(io["x"], -1),
        comp=lambda io: torch.logsumexp(io["x"].float(), -1).to(io["x"].dtype),
        bytes=lambda io: nbytes(io["x"], io["lse"]),
        shapes=ROWS),
    "masked_softmax": dict(
        make=make_rows,
        zk=lambda z, io: z.call("masked_softmax", [io["x"], io["mask"], io["y"]]),
        torch=masked_softmax_ref,
        comp=masked_softmax_ref,
        bytes=lambda io: nbytes(io["x"], io["mask"], io["y"]),
        shapes=ROWS),
    "scale_mask_softmax": dict(
        make=make_rows,
        zk=lambda z, io: z.call("scale_mask_softmax", [io["x"], io["mask"], io["y"]], [ctypes.c_float(SCALE)]),
        torch=lambda io: masked_softmax_ref(io, SCALE),
        comp=lambda io: masked_softmax_ref(io, SCALE),
        bytes=lambda io: nbytes(io["x"], io["mask"], io["y"]),
        shapes=ROWS),
    "paged_attention": dict(
        make=make_paged,
        zk=lambda z, io: z.call("paged_attention", [io["q"], io["kc"], io["vc"], io["tables"], io["lens"], io["out"]],
                                [ctypes.c_float(1.0 / math.sqrt(D))]),
        torch=sdpa,
        comp=sdpa,
        bytes=paged_bytes,
        shapes=DECODE),
}
