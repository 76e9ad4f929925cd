"""Compares .npy arrays: prints the relative error max|a - b| / max|b| of
each pair and 'ok' or 'FAIL' against --rtol; exits 1 on a failure.
usage: compare_npy.py --rtol R A.npy B.npy [A2.npy B2.npy ...]
"""
import argparse
import sys

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rtol", type=float, required=True)
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    if len(a.files) % 2:
        ap.error("files come in pairs")
    failures = 0
    for got_path, want_path in zip(a.files[::2], a.files[1::2]):
        got = np.load(got_path).astype(np.float64)
        want = np.load(want_path).astype(np.float64)
        if got.shape != want.shape:
            print(f"FAIL {got_path}: shape {got.shape} != {want.shape}")
            failures += 1
            continue
        err = np.abs(got - want).max() / max(np.abs(want).max(), 1e-30)
        ok = bool(np.isfinite(got).all()) and err <= a.rtol
        failures += not ok
        print(f"{'ok' if ok else 'FAIL'} {got_path.split('/')[-1]} "
              f"shape={list(got.shape)} rel_err={err:.2e}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
