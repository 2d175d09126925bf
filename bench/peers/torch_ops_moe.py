"""Mixture-of-experts routing, dispatch and combine (spec §14) for
torch_compare.py.

topk_gating_softmax at the performance bar: 8192 tokens x 128 experts,
k = 8, f32 and bf16 logits; the decode shapes 1, 8 and 32 tokens x 128
experts (bf16); 8192 x 512 experts, k = 8.  zkern runs the default
zk_gating_params (softmax over all E, no expert bias, norm_topk_prob = 1,
routed_scale 1), passed explicitly.  torch eager and torch.compile both run
the same routing: softmax(logits.float()), torch.topk(k, sorted=True), then
the renormalisation w / (sum w + 1e-20).  torch's indices come out int64,
zkern's uint32.  top2_gating_softmax: 8192 x 128, f32 and bf16, the same
composition with k = 2.  The shape column shows tokens x experts.

moe_dispatch: 8192 tokens x K = 8 slots x hidden 4096 (bf16 and f32), 128
experts, int32 ids drawn uniformly.  torch: a stable sort of the flattened
ids (src_idx), searchsorted of the sorted ids for the expert offsets, a
scatter of arange for inv_idx and index_select of the token rows
(x[src_idx // K]), the dispatch of the spec.  moe_combine: expert_out
[8192, 8, 4096] and f32 weights [8192, 8] into y [8192, 4096]; eager is the
batched GEMV torch.bmm(w[:, None, :], expert_out) with w in expert_out's
dtype (how a PyTorch MoE layer usually reduces), torch.compile the f32
composition (w * E).sum over k with one rounding, zkern's formula.
moe_combine_permuted: y_perm [65536, 4096] in dispatch order, inv_idx a
random permutation; torch gathers the rows with index_select, then as
moe_combine.  The shape column shows tokens x hidden.

Bytes are the minimal bytes as zkern bench counts them for this family
(no min_bytes hook: every tensor read or written once): logits, weights and
indices; x, the ids, x_perm, expert_offsets, src_idx and inv_idx (x counted
once although each row is copied K times); expert_out, weights and y;
y_perm, weights, inv_idx and y.  The largest buffers are 1 GiB (f32 x_perm
or expert_out); torch_compare makes one io set of inputs this size."""
import ctypes

import torch

K_BAR, E_BAR = 8, 128
GATING = [(8192, 128, torch.float32, K_BAR), (8192, 128, torch.bfloat16, K_BAR),
          (1, 128, torch.bfloat16, K_BAR), (8, 128, torch.bfloat16, K_BAR), (32, 128, torch.bfloat16, K_BAR),
          (8192, 512, torch.float32, K_BAR), (8192, 512, torch.bfloat16, K_BAR)]
TOP2 = [(8192, 128, torch.float32, 2), (8192, 128, torch.bfloat16, 2)]
# (tokens N, hidden D, dtype, K, experts E)
MOVE = [(8192, 4096, torch.bfloat16, K_BAR, E_BAR), (8192, 4096, torch.float32, K_BAR, E_BAR)]


class GatingParams(ctypes.Structure):
    """zk_gating_params (include/zkern/moe.h)."""
    _fields_ = [("score", ctypes.c_int), ("norm_topk_prob", ctypes.c_int), ("bias_mode", ctypes.c_int),
                ("routed_scale", ctypes.c_float)]


# ZK_GATING_PARAMS_DEFAULT: softmax, renormalise, select_and_weight, scale 1.
NORM_TOPK_PROB = True
PARAMS = GatingParams(0, int(NORM_TOPK_PROB), 0, 1.0)


def nbytes(*ts):
    return sum(t.numel() * t.element_size() for t in ts if t is not None)


# ----------------------------------------------------------------- gating

def make_gating(T, E, dt, k):
    return dict(logits=torch.randn(T, E, device="cuda", dtype=dt),
                w=torch.empty(T, k, device="cuda", dtype=torch.float32),
                i=torch.empty(T, k, device="cuda", dtype=torch.uint32))


def gating_ref(io):
    k = io["w"].shape[-1]
    s = torch.softmax(io["logits"].float(), -1)
    w, i = torch.topk(s, k, dim=-1, sorted=True)
    if NORM_TOPK_PROB:  # a plain constant: torch.compile does not trace ctypes fields
        w = w / (w.sum(-1, keepdim=True) + 1e-20)
    return w, i


def zk_topk(z, io):
    z.call("topk_gating_softmax", [io["logits"], None, io["w"], io["i"]],
           [ctypes.c_int64(io["w"].shape[-1]), ctypes.byref(PARAMS)])


def zk_top2(z, io):
    z.call("top2_gating_softmax", [io["logits"], None, io["w"], io["i"]], [ctypes.byref(PARAMS)])


def gating_entry(zk, shapes):
    return dict(make=make_gating, zk=zk, torch=gating_ref, comp=gating_ref,
                bytes=lambda io: nbytes(io["logits"], io["w"], io["i"]), shapes=shapes)


# --------------------------------------------------------------- dispatch

def make_dispatch(N, D, dt, K, E):
    return dict(x=torch.randn(N, D, device="cuda", dtype=dt),
                ids=torch.randint(0, E, (N, K), device="cuda", dtype=torch.int32),
                x_perm=torch.empty(N * K, D, device="cuda", dtype=dt),
                offsets=torch.empty(E + 1, device="cuda", dtype=torch.int32),
                src=torch.empty(N * K, device="cuda", dtype=torch.int32),
                inv=torch.empty(N, K, device="cuda", dtype=torch.int32))


def dispatch_ref(io):
    x, ids = io["x"], io["ids"]
    K, E = ids.shape[-1], io["offsets"].numel() - 1
    flat = ids.reshape(-1)
    sorted_ids, src = torch.sort(flat, stable=True)  # ascending expert, then pair index n·K + k
    offsets = torch.searchsorted(sorted_ids, torch.arange(E + 1, device=x.device, dtype=flat.dtype))
    inv = torch.empty_like(src).scatter_(0, src, torch.arange(src.numel(), device=x.device, dtype=src.dtype))
    x_perm = x.index_select(0, src // K)
    return x_perm, offsets, src, inv.view_as(ids)


# ---------------------------------------------------------------- combine

def make_combine(N, D, dt, K, E):
    return dict(e=torch.randn(N, K, D, device="cuda", dtype=dt),
                w=torch.rand(N, K, device="cuda", dtype=torch.float32),
                y=torch.empty(N, D, device="cuda", dtype=dt))


def combine_eager(io):
    e = io["e"]
    return torch.bmm(io["w"].to(e.dtype).unsqueeze(1), e).squeeze(1)


def combine_comp(io):
    e = io["e"]
    return (io["w"].unsqueeze(-1) * e.float()).sum(-2).to(e.dtype)


def make_permuted(N, D, dt, K, E):
    return dict(yp=torch.randn(N * K, D, device="cuda", dtype=dt),
                w=torch.rand(N, K, device="cuda", dtype=torch.float32),
                inv=torch.randperm(N * K, device="cuda", dtype=torch.int32).view(N, K),
                y=torch.empty(N, D, device="cuda", dtype=dt))


def gathered(io):
    inv, yp = io["inv"], io["yp"]
    return yp.index_select(0, inv.reshape(-1).long()).view(inv.shape[0], inv.shape[1], yp.shape[-1])


def permuted_eager(io):
    e = gathered(io)
    return torch.bmm(io["w"].to(e.dtype).unsqueeze(1), e).squeeze(1)


def permuted_comp(io):
    e = gathered(io)
    return (io["w"].unsqueeze(-1) * e.float()).sum(-2).to(e.dtype)


OPS = {
    "topk_gating_softmax": gating_entry(zk_topk, GATING),
    "top2_gating_softmax": gating_entry(zk_top2, TOP2),
    "moe_dispatch": dict(
        make=make_dispatch,
        zk=lambda z, io: z.call("moe_dispatch", [io["x"], io["ids"], io["x_perm"], io["offsets"], io["src"],
                                                 io["inv"]]),
        torch=dispatch_ref,
        comp=dispatch_ref,
        bytes=lambda io: nbytes(io["x"], io["ids"], io["x_perm"], io["offsets"], io["src"], io["inv"]),
        shapes=MOVE),
    "moe_combine": dict(
        make=make_combine,
        zk=lambda z, io: z.call("moe_combine", [io["e"], io["w"], io["y"]]),
        torch=combine_eager,
        comp=combine_comp,
        bytes=lambda io: nbytes(io["e"], io["w"], io["y"]),
        shapes=MOVE),
    "moe_combine_permuted": dict(
        make=make_permuted,
        zk=lambda z, io: z.call("moe_combine_permuted", [io["yp"], io["w"], io["inv"], io["y"]]),
        torch=permuted_eager,
        comp=permuted_comp,
        bytes=lambda io: nbytes(io["yp"], io["w"], io["inv"], io["y"]),
        shapes=MOVE),
}
