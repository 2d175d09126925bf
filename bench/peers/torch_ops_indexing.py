"""Gather-add and scatter-add (spec §16) for torch_compare.py, on the
performance bar's 2^20 rows x 256, f32 and bf16.

fused_gather_add: y = src[idx] + other with 2^20 random indices into a
2^20-row table; eager and torch.compile run index_select then the add.
fused_scatter_add: 2^20 update rows into 2^18 destination rows (about 4
per row); zkern deterministic (the default, stable sort + ordered sums)
and with deterministic = 0 (f32 atomics); torch eager is zeros then
index_add_ (atomics, not reproducible), the same composition compiled.
Bytes count the rows actually read and written: idx, M gathered rows,
other and y; idx, updates and y."""
import ctypes

import torch

M, D = 1 << 20, 256
N_SCATTER = M // 4
SHAPES = [(M, D, torch.float32), (M, D, torch.bfloat16)]


def nbytes(*ts):
    return sum(t.numel() * t.element_size() for t in ts)


def make_gather(R, D, dt):
    return dict(src=torch.randn(R, D, device="cuda", dtype=dt),
                idx=torch.randint(0, R, (R,), device="cuda", dtype=torch.int64),
                other=torch.randn(R, D, device="cuda", dtype=dt),
                y=torch.empty(R, D, device="cuda", dtype=dt))


def make_scatter(R, D, dt):
    return dict(idx=torch.randint(0, N_SCATTER, (R,), device="cuda", dtype=torch.int64),
                upd=torch.randn(R, D, device="cuda", dtype=dt),
                y=torch.empty(N_SCATTER, D, device="cuda", dtype=dt))


def gather_ref(io):
    return torch.index_select(io["src"], 0, io["idx"]) + io["other"]


def scatter_ref(io):
    return torch.zeros_like(io["y"]).index_add_(0, io["idx"], io["upd"])


def scatter_entry(deterministic):
    return dict(
        make=make_scatter,
        zk=lambda z, io: z.call("fused_scatter_add", [io["idx"], io["upd"], io["y"]],
                                [ctypes.c_int(0), ctypes.c_int(deterministic)]),
        torch=scatter_ref,
        comp=scatter_ref,
        bytes=lambda io: nbytes(io["idx"], io["upd"], io["y"]),
        shapes=SHAPES)


OPS = {
    "fused_gather_add": dict(
        make=make_gather,
        zk=lambda z, io: z.call("fused_gather_add", [io["src"], io["idx"], io["other"], io["y"]]),
        torch=gather_ref,
        comp=gather_ref,
        bytes=lambda io: nbytes(io["idx"], io["other"], io["y"]) + io["y"].numel() * io["y"].element_size(),
        shapes=SHAPES),
    "fused_scatter_add": scatter_entry(1),
    # Not a catalog name: the same op with deterministic = 0 (f32 atomics; bf16 y stays deterministic).
    "fused_scatter_add_atomic": scatter_entry(0),
}
