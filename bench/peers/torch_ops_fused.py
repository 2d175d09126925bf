"""Fused elementwise ops (spec §9) for torch_compare.py, on its SHAPES like
the built-in elementwise ops (8192 x 4096 bf16 and f32, and the decode
rows); bias [C] in x's dtype.

Eager runs the ops a PyTorch user writes, in the tensors' dtype: a + b,
a * b, x + bias, F.gelu(x + bias, approximate="tanh"), F.silu(x + bias),
F.silu(a) * b.  torch.compile gets the spec's formula in f32 with one
rounding.  (For add, mul and add_bias the two agree bit for bit: torch
computes bf16 arithmetic in f32 and rounds once, too.)

The gradients, eager and compiled alike, run the f32 formulas:
bias_gelu_tanh_grad and bias_silu_grad as torch.autograd.grad of the
activation at v = x + bias, then dbias = the column sum of the f32 dx;
silu_mul_grad_grad (the VJP of silu(a)·b; "silu_mul_grad" is the catalog's
name for that forward) as da = dy·b·silu'(a), db = dy·silu(a).

Bytes: every tensor argument once."""
import torch
import torch.nn.functional as F


def nbytes(*ts):
    return sum(t.numel() * t.element_size() for t in ts if t is not None)


def rows(R, D, dt):
    return torch.randn(R, D, device="cuda", dtype=dt)


def out(R, D, dt):
    return torch.empty(R, D, device="cuda", dtype=dt)


def make_binary(R, D, dt):
    return dict(a=rows(R, D, dt), b=rows(R, D, dt), y=out(R, D, dt))


def make_bias(R, D, dt):
    return dict(x=rows(R, D, dt), bias=torch.randn(D, device="cuda", dtype=dt) * 0.1, y=out(R, D, dt))


def make_bias_grad(R, D, dt):
    return dict(x=rows(R, D, dt), bias=torch.randn(D, device="cuda", dtype=dt) * 0.1, dy=rows(R, D, dt),
                dx=out(R, D, dt), dbias=torch.empty(D, device="cuda", dtype=dt))


def make_binary_grad(R, D, dt):
    return dict(a=rows(R, D, dt), b=rows(R, D, dt), dy=rows(R, D, dt), da=out(R, D, dt), db=out(R, D, dt))


def gelu(v):
    return F.gelu(v, approximate="tanh")


def bias_act_comp(io, act):
    return act(io["x"].float() + io["bias"].float()).to(io["x"].dtype)


def bias_act_grad_ref(io, act):
    v = (io["x"].float() + io["bias"].float()).detach().requires_grad_(True)
    (dv,) = torch.autograd.grad(act(v), v, io["dy"].float())
    return dv.to(io["x"].dtype), dv.sum(0).to(io["bias"].dtype)


def silu_mul_grad_grad_ref(io):
    a, b, dy = io["a"].float(), io["b"].float(), io["dy"].float()
    s = torch.sigmoid(a)
    dt = io["a"].dtype
    return (dy * b * s * (1 + a * (1 - s))).to(dt), (dy * a * s).to(dt)


def entry(name, keys, make, eager, comp):
    return dict(make=make,
                zk=lambda z, io: z.call(name, [io[k] for k in keys]),
                torch=eager,
                comp=comp,
                bytes=lambda io: nbytes(*(io[k] for k in keys)))


BIN = ("a", "b", "y")
BIAS = ("x", "bias", "y")
BIAS_GRAD = ("x", "bias", "dy", "dx", "dbias")

OPS = {
    "add": entry("add", BIN, make_binary, lambda io: io["a"] + io["b"],
                 lambda io: (io["a"].float() + io["b"].float()).to(io["a"].dtype)),
    "mul": entry("mul", BIN, make_binary, lambda io: io["a"] * io["b"],
                 lambda io: (io["a"].float() * io["b"].float()).to(io["a"].dtype)),
    "add_bias": entry("add_bias", BIAS, make_bias, lambda io: io["x"] + io["bias"],
                      lambda io: bias_act_comp(io, lambda v: v)),
    "bias_gelu_tanh": entry("bias_gelu_tanh", BIAS, make_bias, lambda io: gelu(io["x"] + io["bias"]),
                            lambda io: bias_act_comp(io, gelu)),
    "bias_silu": entry("bias_silu", BIAS, make_bias, lambda io: F.silu(io["x"] + io["bias"]),
                       lambda io: bias_act_comp(io, F.silu)),
    "silu_mul_grad": entry("silu_mul_grad", BIN, make_binary, lambda io: F.silu(io["a"]) * io["b"],
                           lambda io: (F.silu(io["a"].float()) * io["b"].float()).to(io["a"].dtype)),
    "bias_gelu_tanh_grad": entry("bias_gelu_tanh_grad", BIAS_GRAD, make_bias_grad,
                                 lambda io: bias_act_grad_ref(io, gelu), lambda io: bias_act_grad_ref(io, gelu)),
    "bias_silu_grad": entry("bias_silu_grad", BIAS_GRAD, make_bias_grad,
                            lambda io: bias_act_grad_ref(io, F.silu), lambda io: bias_act_grad_ref(io, F.silu)),
    "silu_mul_grad_grad": entry("silu_mul_grad_grad", ("a", "b", "dy", "da", "db"), make_binary_grad,
                                silu_mul_grad_grad_ref, silu_mul_grad_grad_ref),
}
