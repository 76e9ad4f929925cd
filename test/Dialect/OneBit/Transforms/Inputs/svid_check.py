"""Checks --onebit-quantize numerically against an independent SVID.

Builds a module of linear layers with random weights (K x N and N x K
storage, f32/f16/bf16, dense_resource data), runs onebit-opt, decodes the
packed signs and value vectors from the printed resources, and compares
them with numpy (rank-1 SVD of |W|) and, when available, scikit-learn's NMF
as the OneBit reference code uses it.
"""
import argparse
import re
import subprocess
import sys

import numpy as np

LAYERS = [
    # name, N (out), K (in), storage, dtype
    ("l0.q_proj.weight", 64, 100, "kxn", "f32"),
    ("l0.o_proj.weight", 37, 96, "nxk", "f32"),
    ("l0.up_proj.weight", 50, 33, "kxn", "f16"),
    ("l0.down_proj.weight", 33, 50, "nxk", "bf16"),
    ("l1.gate_proj.weight", 128, 64, "nxk", "f32"),
]


def make_weight(rng, n, k):
    # Realistic structure: per-row and per-column magnitude scales.
    return (rng.standard_normal((n, k)) * rng.uniform(0.2, 3.0, (n, 1))
            * rng.uniform(0.2, 3.0, (1, k))).astype(np.float32)


def to_storage(w, dtype):
    """Returns (rounded f32 weights, raw bytes, MLIR element type)."""
    if dtype == "f32":
        return w, w.astype("<f4").tobytes(), "f32"
    if dtype == "f16":
        h = w.astype("<f2")
        return h.astype(np.float32), h.tobytes(), "f16"
    bits = (w.astype("<f4").view("<u4") >> 16).astype("<u2")  # truncate
    back = (bits.astype("<u4") << 16).view("<f4")
    return back, bits.tobytes(), "bf16"


def build_module(rng):
    funcs, resources, weights = [], [], {}
    for name, n, k, storage, dtype in LAYERS:
        w, raw_bytes, mt = to_storage(make_weight(rng, n, k), dtype)
        weights[name] = w
        if storage == "kxn":
            stored = w.T.copy()
            raw_bytes = to_storage(stored, dtype)[1] if dtype != "bf16" else \
                (stored.view("<u4") >> 16).astype("<u2").tobytes()
            shape, maps = f"{k}x{n}", ""
        else:
            shape = f"{n}x{k}"
            maps = ("indexing_maps = [affine_map<(m, n, k) -> (m, k)>, "
                    "affine_map<(m, n, k) -> (n, k)>, "
                    "affine_map<(m, n, k) -> (m, n)>] ")
        fn = name.replace(".", "_")
        funcs.append(f"""
func.func @{fn}(%x: tensor<3x{k}xf32>) -> tensor<3x{n}xf32> {{
  %w = arith.constant dense_resource<{name}> : tensor<{shape}x{mt}>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<3x{n}xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<3x{n}xf32>) -> tensor<3x{n}xf32>
  %y = linalg.matmul {maps}ins(%x, %w : tensor<3x{k}xf32>, tensor<{shape}x{mt}>) outs(%f : tensor<3x{n}xf32>) -> tensor<3x{n}xf32>
  return %y : tensor<3x{n}xf32>
}}""")
        align = 4 if mt == "f32" else 2
        resources.append(f'      {name}: "0x{align:02X}000000{raw_bytes.hex().upper()}"')
    text = "\n".join(funcs) + "\n{-#\n  dialect_resources: {\n    builtin: {\n" + \
        ",\n".join(resources) + "\n    }\n  }\n#-}\n"
    return text, weights


def parse_resources(text):
    out = {}
    for m in re.finditer(r'^\s*([\w.]+): "0x([0-9A-Fa-f]+)"', text, re.M):
        out[m.group(1)] = bytes.fromhex(m.group(2))[4:]  # drop alignment
    return out


def unpack_signs(raw, n, k):
    words = np.frombuffer(raw, dtype="<u4").reshape(n, (k + 31) // 32)
    cols = np.arange(k)
    bits = (words[:, cols // 32] >> (cols % 32).astype(np.uint32)) & 1
    return np.where(bits == 1, -1.0, 1.0)


def rel_err(w, s, h, g):
    return np.linalg.norm(w - s * np.outer(h, g)) / np.linalg.norm(w)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("onebit_opt")
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    rng = np.random.default_rng(1234)
    module, weights = build_module(rng)
    src = args.work + ".mlir"
    with open(src, "w") as f:
        f.write(module)

    try:
        from sklearn.decomposition import NMF
    except ImportError:
        NMF = None

    failures = 0
    for init in ["nmf", "svd", "mean"]:
        res = subprocess.run(
            [args.onebit_opt, src,
             f"--onebit-quantize=keep-head=false post-norm=false init={init}"],
            capture_output=True, text=True)
        if res.returncode != 0:
            print(res.stderr)
            return 1
        if "linalg.matmul" in res.stdout:
            print(f"FAIL {init}: a linalg.matmul survived")
            failures += 1
        blobs = parse_resources(res.stdout)
        for name, n, k, _, _ in LAYERS:
            w = weights[name]
            s = unpack_signs(blobs[name + ".signs"], n, k)
            g = np.frombuffer(blobs[name + ".g"], dtype="<f4")
            h = np.frombuffer(blobs[name + ".h"], dtype="<f4")
            if not np.array_equal(s, np.where(w < 0, -1.0, 1.0)):
                print(f"FAIL {init} {name}: packed signs differ from sign(W)")
                failures += 1
            ours = rel_err(w, s, h, g)
            absw = np.abs(w).astype(np.float64)
            if init == "mean":
                ref = rel_err(w, s, np.full(n, absw.mean()), np.ones(k))
                tol = 1e-5
            else:
                u, sv, vt = np.linalg.svd(absw)
                ref = rel_err(w, s, np.abs(u[:, 0]) * sv[0], np.abs(vt[0]))
                tol = 1e-3
                # The paper's proposition: SVID beats rank-1 SVD of W itself.
                u2, s2, vt2 = np.linalg.svd(w.astype(np.float64))
                svd_w = np.linalg.norm(w - s2[0] * np.outer(u2[:, 0], vt2[0])) / np.linalg.norm(w)
                if ours > svd_w + 1e-6:
                    print(f"FAIL {init} {name}: {ours} > rank-1 SVD error {svd_w}")
                    failures += 1
            ok = abs(ours - ref) <= tol
            failures += not ok
            line = f"{'ok' if ok else 'FAIL'} init={init} {name} {n}x{k} rel_error={ours:.6f} reference={ref:.6f}"
            if NMF is not None and init == "nmf":
                m = NMF(n_components=1, init="random", random_state=0, max_iter=200)
                W1 = m.fit_transform(absw)
                sk = rel_err(w, s, W1[:, 0], m.components_[0])
                line += f" sklearn_nmf={sk:.6f}"
                if ours > sk + 1e-3:
                    print(f"FAIL nmf {name}: worse than scikit-learn ({ours} > {sk})")
                    failures += 1
            print(line)
    print(f"svid-check: {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
