#!/usr/bin/env python3
"""PyTorch peer for tapegrad's benchmarks: the W2, W3 and W4 training steps on one thread.

The step is what a PyTorch user writes for speed on a CPU:

    model = nn.Sequential(nn.Linear(784, 512), nn.BatchNorm1d(512), nn.ReLU(), ..., nn.Linear(512, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()          # runs under torch.no_grad() itself

with BatchNorm1d(eps=1e-5, momentum=0.1) as in tapegrad (PyTorch keeps the unbiased variance
as its running variance; the step's loss and gradients do not depend on it). Two variants are
timed and the faster one is used: SGD with foreach=False and with foreach=True (the
multi-tensor update); `nn.ReLU(inplace=True)` is used in both. One thread: OMP, OpenBLAS and
MKL thread counts are set to 1 before torch is imported, then torch.set_num_threads(1).

Two modes:

    python3 benchmarks/torch_peer.py --server
        JSON lines on stdin, one JSON line answered on stdout per request (run.ts uses this to
        interleave PyTorch samples with tapegrad's):
        {"cmd": "info"}
        {"cmd": "prepare", "key": k, "spec": {...}, "dtype": "float32", "variant": "auto"|"foreach"|"plain",
         "init": {"x": b64, "labels": b64, "weights": [{"w": b64, "fanIn": n, "fanOut": n}, ...]}}
            -> {"ok": true, "variant": ..., "variants": {name: median_ms}, "firstLoss": float}
        {"cmd": "sample", "key": k, "reps": n}  -> {"ok": true, "wallMs": per-call, "cpuMs": per-call}
        {"cmd": "loss", "key": k}               -> {"ok": true, "loss": float}
        {"cmd": "dispose", "key": k}
        {"cmd": "quit"}
        x, labels and W arrive as base64 of little-endian float32 / int32 (W as [fanIn, fanOut]),
        so PyTorch trains on exactly the data and initial weights the tfjs peers use.

    python3 benchmarks/torch_peer.py [--only W2,W4] [--dtypes float32,float64] [--seconds 2]
        standalone: seeded random data, prints one JSON line per figure with the median ms/step.
"""

import base64
import json
import os
import sys
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

torch.set_num_threads(1)
try:
    torch.set_num_interop_threads(1)
except RuntimeError:
    pass

SPECS = {
    "W2": {"batch": 256, "dims": [784, 512, 512, 10], "batchNorm": True, "lr": 0.01},
    "W3": {"batch": 256, "dims": [784, 512, 512, 10], "batchNorm": False, "lr": 0.01},
    "W4": {"batch": 64, "dims": [2, 64, 64, 3], "batchNorm": True, "lr": 0.01},
}
VARIANTS = ("plain", "foreach")
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def blas_library():
    """The BLAS shared library mapped into this process (from /proc/self/maps), or 'unknown'."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as f:
            libs = {line.split()[-1] for line in f if "blas" in line.lower() and "/" in line}
        return ", ".join(sorted(os.path.basename(x) for x in libs)) or "none found"
    except OSError:
        return "unknown"


def info():
    return {
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "threads": torch.get_num_threads(),
        "interopThreads": torch.get_num_interop_threads(),
        "blas": blas_library(),
        "cpuCapability": torch.backends.cpu.get_cpu_capability() if hasattr(torch.backends, "cpu") else "unknown",
    }


class Step:
    """One prepared workload: model, optimizer, data; step() runs one training step."""

    def __init__(self, spec, dtype, variant, init=None):
        dims = spec["dims"]
        layers = []
        for i in range(len(dims) - 1):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i + 2 < len(dims):
                if spec["batchNorm"]:
                    layers.append(nn.BatchNorm1d(dims[i + 1], eps=1e-5, momentum=0.1))
                layers.append(nn.ReLU(inplace=True))
        self.model = nn.Sequential(*layers).to(DTYPES[dtype]).train()
        gen = torch.Generator().manual_seed(0)
        if init is not None:
            x = np.frombuffer(base64.b64decode(init["x"]), dtype="<f4").reshape(spec["batch"], dims[0])
            labels = np.frombuffer(base64.b64decode(init["labels"]), dtype="<i4")
            linears = [m for m in self.model if isinstance(m, nn.Linear)]
            with torch.no_grad():
                for lin, w in zip(linears, init["weights"]):
                    wv = np.frombuffer(base64.b64decode(w["w"]), dtype="<f4").reshape(w["fanIn"], w["fanOut"])
                    lin.weight.copy_(torch.from_numpy(wv.T.copy()))
                    lin.bias.zero_()
            self.x = torch.from_numpy(x.copy()).to(DTYPES[dtype])
            self.y = torch.from_numpy(labels.astype(np.int64))
        else:
            self.x = torch.randn(spec["batch"], dims[0], generator=gen, dtype=DTYPES[dtype])
            self.y = torch.randint(0, dims[-1], (spec["batch"],), generator=gen)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=spec["lr"], foreach=(variant == "foreach"))
        self.variant = variant

    def step(self):
        self.opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(self.model(self.x), self.y)
        loss.backward()
        self.opt.step()
        return loss

    def sample(self, reps):
        """Mean wall and CPU (process) time per step over reps back-to-back steps, ms."""
        c0 = time.process_time()
        t0 = time.perf_counter()
        for _ in range(reps):
            self.step()
        wall = (time.perf_counter() - t0) / reps * 1e3
        cpu = (time.process_time() - c0) / reps * 1e3
        return wall, cpu


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def reps_for(step, min_sample_ms):
    """Calls per sample so one sample lasts at least min_sample_ms (from the fastest of 3 calls)."""
    fastest = min(step.sample(1)[0] for _ in range(3))
    return max(1, int(min_sample_ms / max(fastest, 1e-6)) + 1)


def pick_variant(spec, dtype, init, seconds=0.6):
    """Time both SGD variants in interleaved rounds; return (fastest, {variant: median ms})."""
    steps = {v: Step(spec, dtype, v, init) for v in VARIANTS}
    reps = {v: reps_for(s, 5.0) for v, s in steps.items()}
    times = {v: [] for v in VARIANTS}
    t_end = time.perf_counter() + seconds
    while min(len(t) for t in times.values()) < 5 or time.perf_counter() < t_end:
        for v, s in steps.items():
            times[v].append(s.sample(reps[v])[0])
        if min(len(t) for t in times.values()) >= 40:
            break
    med = {v: median(t) for v, t in times.items()}
    return min(med, key=med.get), med


def server():
    steps = {}
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            cmd = req["cmd"]
            if cmd == "info":
                out = {"ok": True, **info()}
            elif cmd == "prepare":
                spec, dtype, init = req["spec"], req["dtype"], req.get("init")
                variant = req.get("variant", "auto")
                variants = {}
                if variant == "auto":
                    variant, variants = pick_variant(spec, dtype, init)
                step = Step(spec, dtype, variant, init)
                first = float(step.step().item())
                # A fresh instance for timing, so the loss check below starts from the init.
                steps[req["key"]] = Step(spec, dtype, variant, init)
                out = {"ok": True, "variant": variant, "variants": variants, "firstLoss": first}
            elif cmd == "sample":
                wall, cpu = steps[req["key"]].sample(int(req["reps"]))
                out = {"ok": True, "wallMs": wall, "cpuMs": cpu}
            elif cmd == "loss":
                out = {"ok": True, "loss": float(steps[req["key"]].step().item())}
            elif cmd == "dispose":
                steps.pop(req["key"], None)
                out = {"ok": True}
            elif cmd == "quit":
                print(json.dumps({"ok": True}), flush=True)
                return
            else:
                out = {"ok": False, "error": f"unknown cmd {cmd!r}"}
        except Exception as e:  # reported to run.ts, which shows it in the torch cell
            out = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        print(json.dumps(out), flush=True)


def standalone(argv):
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", default="W2,W3,W4")
    p.add_argument("--dtypes", default="float32,float64")
    p.add_argument("--seconds", type=float, default=2.0, help="sampling time per figure")
    a = p.parse_args(argv)
    print(json.dumps({"info": info()}), flush=True)
    for wid in a.only.split(","):
        spec = SPECS[wid]
        for dtype in a.dtypes.split(","):
            variant, variants = pick_variant(spec, dtype, None)
            step = Step(spec, dtype, variant)
            reps = reps_for(step, 20.0)
            walls, cpus = [], []
            t_end = time.perf_counter() + a.seconds
            while len(walls) < 5 or time.perf_counter() < t_end:
                w, c = step.sample(reps)
                walls.append(w)
                cpus.append(c)
            print(json.dumps({
                "workload": wid, "dtype": dtype, "impl": "torch", "variant": variant, "variants": variants,
                "medianMs": median(walls), "cpuMedianMs": median(cpus), "samples": len(walls), "reps": reps,
                "loss": float(step.step().item()),
            }), flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--server"]:
        server()
    else:
        standalone(sys.argv[1:])
