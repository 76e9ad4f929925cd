"""Inputs and numpy references for Inputs/contractions.mlir.

  contractions_check.py write DIR   random inputs in0..in7.npy
  contractions_check.py check DIR   compares out0..out3.npy with numpy (FP64)
"""
import sys

import numpy as np

SHAPES = [(37, 23), (23, 50), (3, 20, 9), (3, 9, 70), (1, 2, 3, 17, 8),
          (1, 40, 2, 8), (23, 37), (50, 23)]


def main():
    mode, d = sys.argv[1], sys.argv[2]
    if mode == "write":
        r = np.random.default_rng(0)
        for i, s in enumerate(SHAPES):
            np.save(f"{d}/in{i}.npy", r.standard_normal(s).astype(np.float32))
        return
    a, b, x, y, q, kc, at, bt = (np.load(f"{d}/in{i}.npy").astype(np.float64)
                                 for i in range(len(SHAPES)))
    ref = [a @ b, x @ y, np.einsum("bhgsd,bthd->bhgst", q, kc),
           a @ b + at.T @ bt.T]
    bad = 0
    for i, want in enumerate(ref):
        got = np.load(f"{d}/out{i}.npy")
        err = float(np.abs(got - want).max() / np.abs(want).max())
        ok = got.shape == want.shape and err < 1e-5
        bad += not ok
        print(f"result {i}: shape {list(got.shape)} max error {err:.1e}"
              f" {'ok' if ok else 'WRONG'}")
    print(f"contractions: {bad} wrong")


if __name__ == "__main__":
    main()
