#!/usr/bin/env python3
"""Export a small LLaMA-style torch model to ONNX, compile it with onebit,
check it against torch, quantize it to OneBit form and print the statistics.

Uses the torch modules the test suite exports (test/e2e/models.py), so it
runs from a source checkout after `pip install .`:

    python3 python/onebit/examples/export_and_quantize.py [OUTDIR]
"""
import os
import pathlib
import sys
import tempfile

import numpy as np
import torch

import onebit

ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "test" / "e2e"))
import models  # noqa: E402


def main():
    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp())
    out.mkdir(parents=True, exist_ok=True)
    path = out / "llama.onnx"
    torch_model, ids = models.export("llama", str(path), opset=17, batch=2,
                                     seq=8)
    with torch.no_grad():
        want = torch_model(ids).numpy()

    fp = onebit.load(path)
    got = fp.compile()(ids.numpy())
    err = np.abs(got - want).max() / np.abs(want).max()
    print(f"FP model through onebit vs torch: max relative error {err:.2e}")
    assert err < 1e-5, "the compiled FP model does not match torch"

    q = fp.quantize(init="nmf", keep_head=True)
    for layer in q.stats.layers:
        print(f"  {layer.name:28s} {layer.out_features}x{layer.in_features} "
              f"rel_error {layer.rel_error:.4f} "
              f"bits/weight {layer.bits_per_weight:.3f}")
    s = q.stats
    print(f"{len(s.layers)} layers quantized, {len(s.skipped)} kept FP; "
          f"linear layers {s.linear_bits_per_weight:.3f} bits/weight; "
          f"constants {s.bytes_before} -> {s.bytes_after} bytes")
    one = q.compile()(ids.numpy())
    agree = (one.argmax(-1) == want.argmax(-1)).mean()
    corr = np.corrcoef(one.ravel(), want.ravel())[0, 1]
    print(f"1-bit model before training: logits correlation {corr:.3f}, "
          f"argmax agreement {agree:.0%} (distillation closes the gap: "
          f"onebit.train)")
    assert np.isfinite(one).all()
    q.save(out / "llama.onebit.mlirbc")
    print(f"wrote {out / 'llama.onebit.mlirbc'}")


if __name__ == "__main__":
    main()
