"""zkern's reductions beside PyTorch (loaded by torch_compare.py): the ops
of the performance bar on its shapes (8192 x 4096; topk with k = 8 and 50)."""
import ctypes

import torch

BAR = [(8192, 4096, torch.float32), (8192, 4096, torch.bfloat16)]


def nbytes(*ts):
    return sum(t.numel() * t.element_size() for t in ts)


def rows(R, D, dt):
    return torch.randn(R, D, device="cuda", dtype=dt)


def per_row(R, dt=torch.float32):
    return torch.empty(R, device="cuda", dtype=dt)


def value_op(name, native, comp, out_dtype=None, scalars=()):
    """An op with one value per row: y [R] in f32 (x's dtype for max)."""
    def make(R, D, dt):
        return dict(x=rows(R, D, dt), y=per_row(R, out_dtype or dt))
    return dict(make=make,
                zk=lambda z, io: z.call(name, [io["x"], io["y"]], scalars),
                torch=lambda io: native(io["x"]),
                comp=lambda io: comp(io["x"]),
                bytes=lambda io: nbytes(io["x"], io["y"]),
                shapes=BAR)


def topk_op(k):
    def make(R, D, dt):
        return dict(x=rows(R, D, dt), v=torch.empty(R, k, device="cuda", dtype=dt),
                    i=torch.empty(R, k, device="cuda", dtype=torch.uint32))
    return dict(make=make,
                zk=lambda z, io: z.call("topk_lastdim", [io["x"], io["v"], io["i"]], [ctypes.c_int64(k)]),
                torch=lambda io: torch.topk(io["x"], k, dim=-1, sorted=True),
                comp=lambda io: torch.topk(io["x"].float(), k, dim=-1, sorted=True),
                bytes=lambda io: nbytes(io["x"], io["v"], io["i"]),
                shapes=BAR)


I0 = ctypes.c_int(0)

OPS = {
    "sum_lastdim": value_op("sum_lastdim", lambda x: x.sum(-1, dtype=torch.float32),
                            lambda x: x.float().sum(-1), torch.float32, [I0]),
    "mean_lastdim": value_op("mean_lastdim", lambda x: x.mean(-1, dtype=torch.float32),
                             lambda x: x.float().mean(-1), torch.float32, [I0]),
    "max_lastdim": value_op("max_lastdim", lambda x: x.amax(-1), lambda x: x.amax(-1)),
    "var_lastdim": value_op("var_lastdim", lambda x: torch.var(x.float(), -1, correction=0),
                            lambda x: torch.var(x.float(), -1, correction=0), torch.float32, [I0]),
    "std_lastdim": value_op("std_lastdim", lambda x: torch.std(x.float(), -1, correction=0),
                            lambda x: torch.std(x.float(), -1, correction=0), torch.float32,
                            [I0, ctypes.c_float(0.0)]),
    "argmax_lastdim": value_op("argmax_lastdim", lambda x: x.argmax(-1), lambda x: x.argmax(-1), torch.uint32),
    "topk_lastdim_k8": topk_op(8),
    "topk_lastdim_k50": topk_op(50),
}
