#!/usr/bin/env python3
"""zkern beside PyTorch on the same shapes, in one process.

Loads libzkern through ctypes; tensors go to it as DLPack views of PyTorch
tensors (no copies).  For each op and shape it times zkern, PyTorch eager
(the native op where one exists, else the plain composition) and
torch.compile of the same composition, with CUDA events, after warm-up,
rotating input sets so the L2 cache does not serve repeats, and prints one
table: microseconds, % of the copy bandwidth measured in the same process,
and the ratios.

    python3 bench/peers/torch_compare.py --lib build/libzkern.so [--json out.json] [--ops rmsnorm,swiglu]
"""
import argparse
import ctypes
import json
import statistics
import sys

import torch
import torch.nn.functional as F

# ----------------------------------------------------------------- zkern

class Zkern:
    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        self.ctx = ctypes.c_void_p()
        self.lib.zk_ctx_create.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
        self.lib.zk_ctx_last_error.restype = ctypes.c_char_p
        self.lib.zk_ctx_last_error.argtypes = [ctypes.c_void_p]
        kDLCUDA = 2
        s = self.lib.zk_ctx_create(ctypes.byref(self.ctx), kDLCUDA, torch.cuda.current_device())
        if s != 0:
            raise SystemExit(f"zk_ctx_create(cuda) failed with status {s}")
        stream = torch.cuda.current_stream().cuda_stream
        self.lib.zk_ctx_set_cuda_stream.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        self.lib.zk_ctx_set_cuda_stream(self.ctx, ctypes.c_void_p(stream))
        ctypes.pythonapi.PyCapsule_GetPointer.restype = ctypes.c_void_p
        ctypes.pythonapi.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
        self.views = {}

    def dl(self, t):
        """A DLTensor* viewing t.  The capsule is kept alive (never consumed)
        and cached, so timed calls pay no DLPack conversion."""
        if t is None:
            return None
        key = id(t)
        if key not in self.views:
            cap = torch.utils.dlpack.to_dlpack(t)
            # A DLManagedTensor starts with its DLTensor.
            ptr = ctypes.c_void_p(ctypes.pythonapi.PyCapsule_GetPointer(cap, b"dltensor"))
            self.views[key] = (ptr, cap, t)
        return self.views[key][0]

    def call(self, name, tensors, scalars=()):
        f = getattr(self.lib, "zk_" + name)
        args = [self.ctx] + [self.dl(t) for t in tensors]
        for s in scalars:
            args.append(s)
        s = f(*args)
        if s != 0:
            raise RuntimeError(f"zk_{name}: status {s}: {self.lib.zk_ctx_last_error(self.ctx).decode()}")


def f32(v):
    return ctypes.c_float(v)


def u64(v):
    return ctypes.c_uint64(v)


# ----------------------------------------------------------------- ops
# Each entry: make(R, D, dtype) -> inputs dict; zk(z, io) runs zkern;
# torch(io) the eager/native op; comp(io) the plain composition that
# torch.compile gets; bytes(io) the minimal bytes moved.

EPS_RMS, EPS_LN, P = 1e-6, 1e-5, 0.1


def nbytes(*ts):
    return sum(t.numel() * t.element_size() for t in ts if t is not None)


def rms_ref(x, w, eps=EPS_RMS):
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps) * w.float()).to(x.dtype)


def ln_ref(x, g, b, eps=EPS_LN):
    return F.layer_norm(x.float(), (x.shape[-1],), g.float(), b.float(), eps).to(x.dtype)


def rms_grad_ref(x, w, dy, eps=EPS_RMS):
    xf, g = x.float(), dy.float() * w.float()
    r = torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    xh = xf * r
    c = (g * xh).mean(-1, keepdim=True)
    return (r * (g - xh * c)).to(x.dtype), (dy.float() * xh).sum(0).to(w.dtype)


def ln_grad_ref(x, gam, dy, eps=EPS_LN):
    xf = x.float()
    mu = xf.mean(-1, keepdim=True)
    rstd = torch.rsqrt((xf - mu).pow(2).mean(-1, keepdim=True) + eps)
    xh = (xf - mu) * rstd
    g = dy.float() * gam.float()
    dx = rstd * (g - g.mean(-1, keepdim=True) - xh * (g * xh).mean(-1, keepdim=True))
    return dx.to(x.dtype), (dy.float() * xh).sum(0).to(gam.dtype), dy.float().sum(0).to(gam.dtype)


def swiglu_ref(x):
    a, b = x.chunk(2, -1)
    return (F.silu(a.float()) * b.float()).to(x.dtype)


def geglu_ref(x):
    a, b = x.chunk(2, -1)
    return (F.gelu(a.float(), approximate="tanh") * b.float()).to(x.dtype)


def gated_grad_ref(x, dy, act):
    a, b = x.float().chunk(2, -1)
    a = a.detach().requires_grad_(True)
    y = act(a)
    (da,) = torch.autograd.grad(y, a, dy.float() * b)
    return torch.cat([da, dy.float() * y.detach()], -1).to(x.dtype)


def softmax_grad_ref(y, dy):
    yf, dyf = y.float(), dy.float()
    return (yf * (dyf - (dyf * yf).sum(-1, keepdim=True))).to(y.dtype)


def rows(R, D, dt, scale=1.0):
    return torch.randn(R, D, device="cuda", dtype=dt) * scale


def vec(D, dt):
    return torch.rand(D, device="cuda", dtype=dt) + 0.5


OPS = {
    "rmsnorm": dict(
        make=lambda R, D, dt: dict(x=rows(R, D, dt), w=vec(D, dt), y=rows(R, D, dt)),
        zk=lambda z, io: z.call("rmsnorm", [io["x"], io["w"], io["y"]], [f32(EPS_RMS)]),
        torch=lambda io: F.rms_norm(io["x"], (io["x"].shape[-1],), io["w"], EPS_RMS),
        comp=lambda io: rms_ref(io["x"], io["w"]),
        bytes=lambda io: nbytes(io["x"], io["w"], io["y"])),
    "rmsnorm_residual": dict(
        make=lambda R, D, dt: dict(x=rows(R, D, dt), r=rows(R, D, dt), w=vec(D, dt), y=rows(R, D, dt), h=rows(R, D, dt)),
        zk=lambda z, io: z.call("rmsnorm_residual", [io["x"], io["r"], io["w"], io["y"], io["h"]], [f32(EPS_RMS)]),
        torch=lambda io: (lambda h: (F.rms_norm(h, (h.shape[-1],), io["w"], EPS_RMS), h))(io["x"] + io["r"]),
        comp=lambda io: (lambda h: (rms_ref(h, io["w"]), h))(io["x"] + io["r"]),
        bytes=lambda io: nbytes(io["x"], io["r"], io["w"], io["y"], io["h"])),
    "fused_add_rmsnorm": dict(
        make=lambda R, D, dt: dict(x=rows(R, D, dt), r=rows(R, D, dt), w=vec(D, dt), y=rows(R, D, dt)),
        zk=lambda z, io: z.call("fused_add_rmsnorm", [io["x"], io["r"], io["w"], io["y"]], [f32(EPS_RMS)]),
        torch=lambda io: F.rms_norm(io["x"] + io["r"], (io["x"].shape[-1],), io["w"], EPS_RMS),
        comp=lambda io: rms_ref(io["x"] + io["r"], io["w"]),
        bytes=lambda io: nbytes(io["x"], io["r"], io["w"], io["y"])),
    "layernorm": dict(
        make=lambda R, D, dt: dict(x=rows(R, D, dt), g=vec(D, dt), b=vec(D, dt), y=rows(R, D, dt)),
        zk=lambda z, io: z.call("layernorm", [io["x"], io["g"], io["b"], io["y"]], [f32(EPS_LN)]),
        torch=lambda io: F.layer_norm(io["x"], (io["x"].shape[-1],), io["g"], io["b"], EPS_LN),
        comp=lambda io: ln_ref(io["x"], io["g"], io["b"]),
        bytes=lambda io: nbytes(io["x"], io["g"], io["b"], io["y"])),
    "layernorm_residual": dict(
        make=lambda R, D, dt: dict(x=rows(R, D, dt), r=rows(R, D, dt), g=vec(D, dt), b=vec(D, dt), y=rows(R, D, dt),
                                   h=rows(R, D, dt)),
        zk=lambda z, io: z.call("layernorm_residual", [io["x"], io["r"], io["g"], io["b"], io["y"], io["h"]],
                                [f32(EPS_LN)]),
        torch=lambda io: (lambda h: (F.layer_norm(h, (h.shape[-1],), io["g"], io["b"], EPS_LN), h))(io["x"] + io["r"]),
        comp=lambda io: (lambda h: (ln_ref(h, io["g"], io["b"]), h))(io["x"] + io["r"]),
        bytes=lambda io: nbytes(io["x"], io["r"], io["g"], io["b"], io["y"], io["h"])),
    "softmax_lastdim": dict(
        make=lambda R, D, dt: dict(x=rows(R, D, dt), y=rows(R, D, dt)),
        zk=lambda z, io: z.call("softmax_lastdim", [io["x"], io["y"]]),
        torch=lambda io: torch.softmax(io["x"], -1),
        comp=lambda io: torch.softmax(io["x"].float(), -1).to(io["x"].dtype),
        bytes=lambda io: nbytes(io["x"], io["y"])),
    "log_softmax_lastdim": dict(
        make=lambda R, D, dt: dict(x=rows(R, D, dt), y=rows(R, D, dt)),
        zk=lambda z, io: z.call("log_softmax_lastdim", [io["x"], io["y"]]),
        torch=lambda io: torch.log_softmax(io["x"], -1),
        comp=lambda io: torch.log_softmax(io["x"].float(), -1).to(io["x"].dtype),
        bytes=lambda io: nbytes(io["x"], io["y"])),
    "swiglu": dict(
        make=lambda R, D, dt: dict(x=rows(R, 2 * D, dt), y=rows(R, D, dt)),
        zk=lambda z, io: z.call("swiglu", [io["x"], io["y"]]),
        torch=lambda io: (lambda a, b: F.silu(a) * b)(*io["x"].chunk(2, -1)),
        comp=lambda io: swiglu_ref(io["x"]),
        bytes=lambda io: nbytes(io["x"], io["y"])),
    "geglu": dict(
        make=lambda R, D, dt: dict(x=rows(R, 2 * D, dt), y=rows(R, D, dt)),
        zk=lambda z, io: z.call("geglu", [io["x"], io["y"]]),
        torch=lambda io: (lambda a, b: F.gelu(a, approximate="tanh") * b)(*io["x"].chunk(2, -1)),
        comp=lambda io: geglu_ref(io["x"]),
        bytes=lambda io: nbytes(io["x"], io["y"])),
    "silu": dict(
        make=lambda R, D, dt: dict(x=rows(R, D, dt), y=rows(R, D, dt)),
        zk=lambda z, io: z.call("silu", [io["x"], io["y"]]),
        torch=lambda io: F.silu(io["x"]),
        comp=lambda io: F.silu(io["x"].float()).to(io["x"].dtype),
        bytes=lambda io: nbytes(io["x"], io["y"])),
    "gelu_tanh": dict(
        make=lambda R, D, dt: dict(x=rows(R, D, dt), y=rows(R, D, dt)),
        zk=lambda z, io: z.call("gelu_tanh", [io["x"], io["y"]]),
        torch=lambda io: F.gelu(io["x"], approximate="tanh"),
        comp=lambda io: F.gelu(io["x"].float(), approximate="tanh").to(io["x"].dtype),
        bytes=lambda io: nbytes(io["x"], io["y"])),
    "dropout": dict(
        make=lambda R, D, dt: dict(x=rows(R, D, dt), y=rows(R, D, dt)),
        zk=lambda z, io: z.call("dropout", [io["x"], io["y"]], [f32(P), u64(1234), u64(0)]),
        torch=lambda io: F.dropout(io["x"], P, training=True),
        comp=lambda io: F.dropout(io["x"], P, training=True),
        bytes=lambda io: nbytes(io["x"], io["y"])),
    "rmsnorm_grad": dict(
        make=lambda R, D, dt: dict(x=rows(R, D, dt), w=vec(D, dt), dy=rows(R, D, dt), dx=rows(R, D, dt),
                                   dw=vec(D, dt)),
        zk=lambda z, io: z.call("rmsnorm_grad", [io["x"], io["w"], io["dy"], io["dx"], io["dw"]], [f32(EPS_RMS)]),
        torch=lambda io: rms_grad_ref(io["x"], io["w"], io["dy"]),
        comp=lambda io: rms_grad_ref(io["x"], io["w"], io["dy"]),
        bytes=lambda io: nbytes(io["x"], io["w"], io["dy"], io["dx"], io["dw"])),
    "layernorm_grad": dict(
        make=lambda R, D, dt: dict(x=rows(R, D, dt), g=vec(D, dt), dy=rows(R, D, dt), dx=rows(R, D, dt),
                                   dg=vec(D, dt), db=vec(D, dt)),
        zk=lambda z, io: z.call("layernorm_grad", [io["x"], io["g"], io["dy"], io["dx"], io["dg"], io["db"]],
                                [f32(EPS_LN)]),
        torch=lambda io: ln_grad_ref(io["x"], io["g"], io["dy"]),
        comp=lambda io: ln_grad_ref(io["x"], io["g"], io["dy"]),
        bytes=lambda io: nbytes(io["x"], io["g"], io["dy"], io["dx"], io["dg"], io["db"])),
    "swiglu_grad": dict(
        make=lambda R, D, dt: dict(x=rows(R, 2 * D, dt), dy=rows(R, D, dt), dx=rows(R, 2 * D, dt)),
        zk=lambda z, io: z.call("swiglu_grad", [io["x"], io["dy"], io["dx"]]),
        torch=lambda io: gated_grad_ref(io["x"], io["dy"], F.silu),
        comp=lambda io: gated_grad_ref(io["x"], io["dy"], F.silu),
        bytes=lambda io: nbytes(io["x"], io["dy"], io["dx"])),
    "geglu_grad": dict(
        make=lambda R, D, dt: dict(x=rows(R, 2 * D, dt), dy=rows(R, D, dt), dx=rows(R, 2 * D, dt)),
        zk=lambda z, io: z.call("geglu_grad", [io["x"], io["dy"], io["dx"]]),
        torch=lambda io: gated_grad_ref(io["x"], io["dy"], lambda a: F.gelu(a, approximate="tanh")),
        comp=lambda io: gated_grad_ref(io["x"], io["dy"], lambda a: F.gelu(a, approximate="tanh")),
        bytes=lambda io: nbytes(io["x"], io["dy"], io["dx"])),
    "softmax_grad": dict(
        make=lambda R, D, dt: dict(y=torch.softmax(rows(R, D, dt), -1), dy=rows(R, D, dt), dx=rows(R, D, dt)),
        zk=lambda z, io: z.call("softmax_grad", [io["y"], io["dy"], io["dx"]]),
        torch=lambda io: torch._softmax_backward_data(io["dy"], io["y"], -1, io["y"].dtype),
        comp=lambda io: softmax_grad_ref(io["y"], io["dy"]),
        bytes=lambda io: nbytes(io["y"], io["dy"], io["dx"])),
}

SHAPES = {"train": [(8192, 4096, torch.bfloat16), (8192, 4096, torch.float32)],
          "decode": [(1, 4096, torch.bfloat16), (32, 4096, torch.bfloat16)],
          "long": [(64, 32768, torch.bfloat16), (16, 131072, torch.bfloat16)]}
# Families beyond these add their entries from torch_ops_<family>.py beside
# this file: an OPS dict in the same format, where an entry may also carry
# "shapes": the argument tuples its make() takes, in place of SHAPES.
def load_family_ops():
    import importlib.util
    import pathlib
    for path in sorted(pathlib.Path(__file__).parent.glob("torch_ops_*.py")):
        try:
            spec = importlib.util.spec_from_file_location(path.stem, path)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            OPS.update(mod.OPS)
        except Exception as e:  # one broken family must not cost the others their run
            print(f"warning: {path.name} not loaded: {type(e).__name__}: {e}", file=sys.stderr)


ROW_OPS = {"rmsnorm", "rmsnorm_residual", "fused_add_rmsnorm", "layernorm", "layernorm_residual",
           "softmax_lastdim", "log_softmax_lastdim"}


def time_fn(fn, sets, reps, batch=10):
    """Median µs per call.  A sample is `batch` calls back to back between
    two events (input sets rotating), so the host's per-call cost (Python,
    ctypes, PyTorch's dispatcher) overlaps the GPU work as in a real
    program; calls shorter than that cost are bound by it on both sides."""
    for io in sets[:3]:
        fn(io)
    torch.cuda.synchronize()
    times = []
    for i in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for k in range(batch):
            fn(sets[(i * batch + k) % len(sets)])
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) * 1e3 / batch)
    return statistics.median(times)


def copy_gbps():
    n = 1 << 30
    a = torch.empty(n, dtype=torch.uint8, device="cuda")
    b = torch.empty_like(a)
    b.copy_(a)
    ts = time_fn(lambda io: b.copy_(a), [None], 20)
    return 2 * n / (ts * 1e3)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--json")
    load_family_ops()
    ap.add_argument("--ops", default=",".join(OPS))
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--shapes", default="train,decode,long", help="comma list of: " + ", ".join(SHAPES))
    ap.add_argument("--no-compile", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(0)
    z = Zkern(args.lib)
    copy = copy_gbps()
    l2 = torch.cuda.get_device_properties(0).L2_cache_size
    print(f"{torch.cuda.get_device_name(0)}: copy {copy:.0f} GB/s (read + write), torch {torch.__version__}")
    hdr = f"{'op':22} {'dtype':5} {'shape':>12} {'zkern us':>9} {'%copy':>6} {'eager us':>9} {'compile us':>10} {'x eager':>8} {'x compile':>9}"
    print(hdr)
    out = []
    for name in args.ops.split(","):
        op = OPS[name]
        own = op.get("shapes")
        compiled = None if args.no_compile else torch.compile(op["comp"], dynamic=False)
        for shape in own or [shape for group in args.shapes.split(",") for shape in SHAPES[group]]:
            R, D, dt = shape[:3]
            if not own and D > 4096 and name not in ROW_OPS:
                continue
            probe = op["make"](*shape)
            set_bytes = sum(t.numel() * t.element_size() for t in probe.values())
            nsets = max(1, min(16, (3 * l2) // max(set_bytes, 1) + 1))
            sets = [probe] + [op["make"](*shape) for _ in range(nsets - 1)]
            row = dict(op=name, dtype=str(dt).replace("torch.", ""), rows=R, cols=D)
            try:
                row["zkern_us"] = time_fn(lambda io: op["zk"](z, io), sets, args.reps)
                z.views.clear()
                row["eager_us"] = time_fn(op["torch"], sets, args.reps)
            except Exception as e:  # one op's failure must not cost the rest of a GPU run
                print(f"{name} {shape[:2]}: {type(e).__name__}: {e}", flush=True)
                z.views.clear()
                continue
            try:
                row["compile_us"] = time_fn(compiled, sets, args.reps) if compiled else float("nan")
            except Exception as e:
                print(f"{name} {shape[:2]}: torch.compile failed: {type(e).__name__}: {str(e)[:200]}", flush=True)
                row["compile_us"] = float("nan")
            gbps = op["bytes"](probe) / (row["zkern_us"] * 1e3)
            row["pct_copy"] = 100 * gbps / copy
            row["x_eager"] = row["eager_us"] / row["zkern_us"]
            row["x_compile"] = row["compile_us"] / row["zkern_us"]
            out.append(row)
            print(f"{name:22} {row['dtype'][:5]:5} {f'{R}x{D}':>12} {row['zkern_us']:9.1f} {row['pct_copy']:5.1f}% "
                  f"{row['eager_us']:9.1f} {row['compile_us']:10.1f} {row['x_eager']:7.2f}x {row['x_compile']:8.2f}x",
                  flush=True)
            del sets, probe
            torch.cuda.empty_cache()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(device=torch.cuda.get_device_name(0), copy_gbps=copy, torch=torch.__version__,
                           results=out), f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
