"""Compares Sluice with ONNX Runtime on the half-precision folders of export_more.py (half, mixed), at a tolerance
suited to fp16, and with the float64 reference (ref64_K.npy) where they differ: ORT's CPU provider computes many fp16
ops in fp32 internally, so a difference from ORT is a Sluice bug only where Sluice is also further from float64.

Tolerance: |sluice - ort| <= 1e-2 * |ort| + 4e-3 * max|ort| per element (fp16 has an 11-bit significand, 4.9e-4
relative per rounding; a few dozen layers of roundings and accumulations stay well inside 1e-2). Where that fails,
the relative error to float64 (max|x - ref64| / max|ref64|) of each is printed; Sluice's is acceptable when it is at
most 1.5x ORT's.
"""
# usage: compare_half.py SLUICE_LAUNCHER DIR...
import os, re, sys, subprocess, tempfile
import numpy as np, onnx
from onnx import numpy_helper

launcher, dirs = sys.argv[1], sys.argv[2:]
bad = 0
for d in dirs:
    ds = os.path.join(d, "test_data_set_0")
    if not os.path.isdir(ds):
        print(f"{os.path.basename(d)}: no test data (ONNX Runtime refused the export)"); continue
    m = onnx.load(os.path.join(d, "model.onnx"), load_external_data=False)
    ins = sorted(f for f in os.listdir(ds) if f.startswith("input_"))
    outs = sorted((f for f in os.listdir(ds) if f.startswith("output_")), key=lambda f: int(f[7:-3]))
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [launcher, "run", os.path.join(d, "model.onnx"), "--output-dir", tmp]
        for f in ins:
            t = onnx.TensorProto(); t.ParseFromString(open(os.path.join(ds, f), "rb").read())
            cmd += ["--input", f"{t.name}={os.path.join(ds, f)}"]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            print(f"{os.path.basename(d)}: ERROR {(p.stdout + p.stderr).strip().splitlines()[-1][:300]}"); bad += 1; continue
        verdicts = []
        for k, f in enumerate(outs):
            t = onnx.TensorProto(); t.ParseFromString(open(os.path.join(ds, f), "rb").read())
            e = numpy_helper.to_array(t)
            sp = os.path.join(tmp, re.sub(r"[^A-Za-z0-9._-]", "_", t.name) + ".pb")  # as sluice run names files
            st = onnx.TensorProto(); st.ParseFromString(open(sp, "rb").read())
            a = numpy_helper.to_array(st)
            if a.dtype != e.dtype or a.shape != e.shape:
                verdicts.append(f"out{k} dtype/shape {a.dtype}{a.shape} vs ORT {e.dtype}{e.shape}"); bad += 1; continue
            a64, e64 = a.astype(np.float64), e.astype(np.float64)
            scale = np.abs(e64).max() if e64.size else 0.0
            ok = np.all(np.abs(a64 - e64) <= 1e-2 * np.abs(e64) + 4e-3 * scale) if np.issubdtype(e.dtype, np.floating) else np.array_equal(a, e)
            rp = os.path.join(d, f"ref64_{k}.npy")
            ref = ""
            if os.path.exists(rp) and np.issubdtype(e.dtype, np.floating):
                r = np.load(rp).astype(np.float64)
                if r.shape == e.shape:
                    rs = np.abs(r).max() or 1.0
                    es, eo = np.abs(a64 - r).max() / rs, np.abs(e64 - r).max() / rs
                    ref = f" err-vs-f64 sluice {es:.2e} ort {eo:.2e}"
                    if not ok and es <= 1.5 * eo: ok = True; ref += " (sluice as close)"
            rel = np.abs(a64 - e64).max() / (scale or 1.0) if e64.size else 0.0
            verdicts.append(f"out{k} {'ok' if ok else 'MISMATCH'} max|s-ort|/max|ort| {rel:.2e}{ref}")
            if not ok: bad += 1
        print(f"{os.path.basename(d)}: " + "; ".join(verdicts), flush=True)
print("mismatches:", bad)
sys.exit(1 if bad else 0)
