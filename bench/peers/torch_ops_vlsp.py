"""VLSP kernels (spec §5) for torch_compare.py.

The row ops take torch_compare's SHAPES (8192 x 4096 bf16 and f32, the
decode rows), as the built-in ops do:
- fused_recurrent_step (alpha 0.5, eps 1e-6): eager is F.rms_norm, F.silu,
  the gate product and the residual add in the tensors' dtype;
  torch.compile gets the f32 formula of the spec with one rounding.
- fused_recurrent_step_grad: dh, dw_norm and dgate, eager and compiled as
  torch.autograd.grad of that f32 formula.
- depth_gate_sigmoid (k_max 8, continuous): k_max·sigmoid(x); the
  non-catalog depth_gate_sigmoid_ste adds clamp(round(.), 1, k_max)
  (torch.round rounds ties to even where zkern's roundf rounds them away
  from zero: no matter for timing).  depth_gate_sigmoid_grad: dy·k_max·σ(1-σ).
- silu_mul_residual: silu(gate)·up + residual (eager in the dtype, compiled
  in f32); silu_mul_residual_grad: dgate, dup and the dresidual copy.
grpo_advantage_norm takes 8192 groups of 4096 (bf16, f32) and the realistic
2^20 groups of 16 (f32): zkern's defaults (eps 1e-6 inside the sqrt, ddof 0)
beside var_mean; the non-catalog grpo_advantage_norm_trl is TRL's setting
(eps 1e-4 added to the std, ddof 1).

Bytes: every tensor argument once (w_norm and dw_norm included)."""
import ctypes

import torch
import torch.nn.functional as F

ALPHA, EPS, K_MAX = 0.5, 1e-6, 8
CONTINUOUS, STE = 0, 1
INSIDE_SQRT, ADD_TO_STD = 0, 1
GRPO = [(8192, 4096, torch.bfloat16), (8192, 4096, torch.float32), (1 << 20, 16, torch.float32)]


def nbytes(*ts):
    return sum(t.numel() * t.element_size() for t in ts if t is not None)


def rows(R, D, dt):
    return torch.randn(R, D, device="cuda", dtype=dt)


def vec(D, dt):
    return torch.rand(D, device="cuda", dtype=dt) + 0.5


# ------------------------------------------------------- recurrent step

def make_rec(R, D, dt):
    return dict(h=rows(R, D, dt), w=vec(D, dt), g=rows(R, D, dt), out=torch.empty(R, D, device="cuda", dtype=dt))


def rec_f32(h, w, g):
    n = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + EPS) * w
    return h + ALPHA * F.silu(n) * g


def rec_eager(io):
    h = io["h"]
    return h + ALPHA * F.silu(F.rms_norm(h, (h.shape[-1],), io["w"], EPS)) * io["g"]


def rec_comp(io):
    return rec_f32(io["h"].float(), io["w"].float(), io["g"].float()).to(io["h"].dtype)


def make_rec_grad(R, D, dt):
    io = make_rec(R, D, dt)
    del io["out"]
    io.update(dout=rows(R, D, dt), dh=torch.empty(R, D, device="cuda", dtype=dt),
              dw=torch.empty(D, device="cuda", dtype=dt), dg=torch.empty(R, D, device="cuda", dtype=dt))
    return io


def rec_grad_ref(io):
    h, w, g = (io[k].detach().float().requires_grad_(True) for k in ("h", "w", "g"))
    dh, dw, dg = torch.autograd.grad(rec_f32(h, w, g), (h, w, g), io["dout"].float())
    dt = io["h"].dtype
    return dh.to(dt), dw.to(io["w"].dtype), dg.to(dt)


# ----------------------------------------------------------- depth gate

def make_unary(R, D, dt):
    return dict(x=rows(R, D, dt), y=torch.empty(R, D, device="cuda", dtype=dt))


def gate_comp(io, mode):
    v = K_MAX * torch.sigmoid(io["x"].float())
    if mode == STE:
        v = torch.clamp(torch.round(v), 1, K_MAX)
    return v.to(io["x"].dtype)


def gate_eager(io, mode):
    v = K_MAX * torch.sigmoid(io["x"])
    return torch.clamp(torch.round(v), 1, K_MAX) if mode == STE else v


def gate_entry(mode):
    return dict(
        make=make_unary,
        zk=lambda z, io: z.call("depth_gate_sigmoid", [io["x"], io["y"]], [ctypes.c_int32(K_MAX), ctypes.c_int(mode)]),
        torch=lambda io: gate_eager(io, mode),
        comp=lambda io: gate_comp(io, mode),
        bytes=lambda io: nbytes(io["x"], io["y"]))


def make_gate_grad(R, D, dt):
    return dict(x=rows(R, D, dt), dy=rows(R, D, dt), dx=torch.empty(R, D, device="cuda", dtype=dt))


def gate_grad_ref(io):
    s = torch.sigmoid(io["x"].float())
    return (io["dy"].float() * K_MAX * s * (1 - s)).to(io["x"].dtype)


# ----------------------------------------------------------------- GRPO

def grpo_ref(io, eps, ddof, mode):
    r = io["r"].float()
    var, mu = torch.var_mean(r, -1, correction=ddof, keepdim=True)
    a = (r - mu) * torch.rsqrt(var + eps) if mode == INSIDE_SQRT else (r - mu) / (var.sqrt() + eps)
    return a.to(io["r"].dtype)


def grpo_entry(eps, ddof, mode):
    return dict(
        make=lambda R, G, dt: dict(r=rows(R, G, dt), adv=torch.empty(R, G, device="cuda", dtype=dt)),
        zk=lambda z, io: z.call("grpo_advantage_norm", [io["r"], io["adv"]],
                                [ctypes.c_float(eps), ctypes.c_int(ddof), ctypes.c_int(mode)]),
        torch=lambda io: grpo_ref(io, eps, ddof, mode),
        comp=lambda io: grpo_ref(io, eps, ddof, mode),
        bytes=lambda io: nbytes(io["r"], io["adv"]),
        shapes=GRPO)


# ---------------------------------------------------- silu_mul_residual

def make_smr(R, D, dt):
    return dict(g=rows(R, D, dt), u=rows(R, D, dt), r=rows(R, D, dt), y=torch.empty(R, D, device="cuda", dtype=dt))


def smr_comp(io):
    return (F.silu(io["g"].float()) * io["u"].float() + io["r"].float()).to(io["g"].dtype)


def make_smr_grad(R, D, dt):
    return dict(g=rows(R, D, dt), u=rows(R, D, dt), dy=rows(R, D, dt),
                dg=torch.empty(R, D, device="cuda", dtype=dt), du=torch.empty(R, D, device="cuda", dtype=dt),
                dr=torch.empty(R, D, device="cuda", dtype=dt))


def smr_grad_ref(io):
    g, u, dy = io["g"].float(), io["u"].float(), io["dy"].float()
    s = torch.sigmoid(g)
    dt = io["g"].dtype
    return (dy * u * s * (1 + g * (1 - s))).to(dt), (dy * g * s).to(dt), io["dy"].clone()


OPS = {
    "fused_recurrent_step": dict(
        make=make_rec,
        zk=lambda z, io: z.call("fused_recurrent_step", [io["h"], io["w"], io["g"], io["out"]],
                                [ctypes.c_float(ALPHA), ctypes.c_float(EPS)]),
        torch=rec_eager,
        comp=rec_comp,
        bytes=lambda io: nbytes(io["h"], io["w"], io["g"], io["out"])),
    "fused_recurrent_step_grad": dict(
        make=make_rec_grad,
        zk=lambda z, io: z.call("fused_recurrent_step_grad",
                                [io["h"], io["w"], io["g"], io["dout"], io["dh"], io["dw"], io["dg"]],
                                [ctypes.c_float(ALPHA), ctypes.c_float(EPS)]),
        torch=rec_grad_ref,
        comp=rec_grad_ref,
        bytes=lambda io: nbytes(io["h"], io["w"], io["g"], io["dout"], io["dh"], io["dw"], io["dg"])),
    "depth_gate_sigmoid": gate_entry(CONTINUOUS),
    # Not a catalog name: the straight-through (rounded, clamped) mode.
    "depth_gate_sigmoid_ste": gate_entry(STE),
    "depth_gate_sigmoid_grad": dict(
        make=make_gate_grad,
        zk=lambda z, io: z.call("depth_gate_sigmoid_grad", [io["x"], io["dy"], io["dx"]], [ctypes.c_int32(K_MAX)]),
        torch=gate_grad_ref,
        comp=gate_grad_ref,
        bytes=lambda io: nbytes(io["x"], io["dy"], io["dx"])),
    "grpo_advantage_norm": grpo_entry(EPS, 0, INSIDE_SQRT),
    # Not a catalog name: TRL's setting.
    "grpo_advantage_norm_trl": grpo_entry(1e-4, 1, ADD_TO_STD),
    "silu_mul_residual": dict(
        make=make_smr,
        zk=lambda z, io: z.call("silu_mul_residual", [io["g"], io["u"], io["r"], io["y"]]),
        torch=lambda io: F.silu(io["g"]) * io["u"] + io["r"],
        comp=smr_comp,
        bytes=lambda io: nbytes(io["g"], io["u"], io["r"], io["y"])),
    "silu_mul_residual_grad": dict(
        make=make_smr_grad,
        zk=lambda z, io: z.call("silu_mul_residual_grad", [io["g"], io["u"], io["dy"], io["dg"], io["du"], io["dr"]]),
        torch=smr_grad_ref,
        comp=smr_grad_ref,
        bytes=lambda io: nbytes(io["g"], io["u"], io["dy"], io["dg"], io["du"], io["dr"])),
}
