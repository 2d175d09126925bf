"""adamw_step (spec §17) for torch_compare.py, on the performance bar's 64M
f32 parameters (8192 x 8192), one step at t = 10.

Two entries: "adamw_step" puts zkern beside torch.optim.AdamW(fused=True)
(torch's fastest single-tensor kernel), "adamw_step_foreach_false" beside
AdamW(foreach=False), the op-by-op reference whose sequence zkern follows.
torch.compile gets that same single-tensor sequence as a function.  All
update p, m, v in place; the bytes are p, g, m, v read and p, m, v written.
Each io set has its own torch parameter copy and optimizer (kept outside
the io dict, which holds only tensors)."""
import ctypes
import math

import torch

LR, BETAS, EPS, WD, STEP = 1e-3, (0.9, 0.999), 1e-8, 1e-2, 10
SHAPES = [(8192, 8192, torch.float32)]


class AdamwParams(ctypes.Structure):
    """zk_adamw_step_params (include/zkern/optimizers.h)."""
    _fields_ = [("lr", ctypes.c_double), ("beta1", ctypes.c_double), ("beta2", ctypes.c_double),
                ("eps", ctypes.c_double), ("weight_decay", ctypes.c_double), ("step", ctypes.c_int64)]


def zk_adamw(z, p, g, m, v, lr=LR, betas=BETAS, eps=EPS, wd=WD, step=STEP):
    prm = AdamwParams(lr, betas[0], betas[1], eps, wd, step)
    z.call("adamw_step", [p, g, m, v], [ctypes.byref(prm)])


def single_tensor_step(p, g, m, v, lr=LR, betas=BETAS, eps=EPS, wd=WD, step=STEP):
    """torch.optim.AdamW(foreach=False)'s _single_tensor_adamw, op by op."""
    b1, b2 = betas
    bc1, bc2 = 1 - b1 ** step, 1 - b2 ** step
    p.mul_(1 - lr * wd)
    m.lerp_(g, 1 - b1)
    v.mul_(b2).addcmul_(g, g, value=1 - b2)
    denom = (v.sqrt() / math.sqrt(bc2)).add_(eps)
    p.addcdiv_(m, denom, value=-lr / bc1)


_OPTIMIZERS = {}


def torch_step(io, **kind):
    key = (id(io["g"]), tuple(sorted(kind.items())))
    if key not in _OPTIMIZERS:
        pt = torch.nn.Parameter(io["p"].detach().clone())
        pt.grad = io["g"]
        _OPTIMIZERS[key] = torch.optim.AdamW([pt], lr=LR, betas=BETAS, eps=EPS, weight_decay=WD, **kind)
    _OPTIMIZERS[key].step()


def make(R, D, dt):
    return dict(p=torch.randn(R, D, device="cuda", dtype=dt), g=torch.randn(R, D, device="cuda", dtype=dt),
                m=torch.randn(R, D, device="cuda") * 0.1, v=torch.rand(R, D, device="cuda") * 0.01)


def nbytes(io):
    return sum(io[k].numel() * io[k].element_size() for k in ("p", "g", "m", "v", "p", "m", "v"))


def entry(**kind):
    return dict(
        make=make,
        zk=lambda z, io: zk_adamw(z, io["p"], io["g"], io["m"], io["v"]),
        torch=lambda io: torch_step(io, **kind),
        comp=lambda io: single_tensor_step(io["p"], io["g"], io["m"], io["v"]),
        bytes=nbytes,
        shapes=SHAPES)


OPS = {
    "adamw_step": entry(fused=True),
    # Not a catalog name: the same op beside the foreach=False optimizer.
    "adamw_step_foreach_false": entry(foreach=False),
}
