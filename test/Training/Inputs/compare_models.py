"""Checks that two packed models (onebit-opt's text of model.mlirbc) hold the
same parameters: every dense_resource blob of the same name, byte for byte
or, where the bytes differ (g, h: f32), to REL relative to the tensor's
largest magnitude; .signs words must be equal.
usage: compare_models.py A.mlir B.mlir [REL]"""
import re
import sys

import numpy as np


def blobs(path):
    text = open(path).read()
    section = text[text.index("dialect_resources"):]
    found = {}
    for name, hexdata in re.findall(r'^\s*([\w.]+): "0x([0-9A-F]+)"', section,
                                    re.M):
        # The first 4 bytes are the blob's alignment.
        found[name] = bytes.fromhex(hexdata)[4:]
    return found


a, b = blobs(sys.argv[1]), blobs(sys.argv[2])
rel = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-6
if sorted(a) != sorted(b):
    sys.exit(f"different tensors: {sorted(set(a) ^ set(b))}")
worst, worst_name = 0.0, ""
for name in sorted(a):
    if a[name] == b[name]:
        continue
    if name.endswith(".signs") or len(a[name]) != len(b[name]) or \
            len(a[name]) % 4:
        sys.exit(f"FAIL {name}: the words differ")
    x = np.frombuffer(a[name], dtype=np.float32)
    y = np.frombuffer(b[name], dtype=np.float32)
    scale = max(np.abs(x).max(), np.abs(y).max(), 1e-30)
    err = float(np.abs(x - y).max() / scale)
    if err > worst:
        worst, worst_name = err, name
    if err > rel:
        sys.exit(f"FAIL {name}: relative difference {err:.3g} > {rel}")
print(f"{len(a)} tensors, signs equal, float tensors within {rel} "
      f"(largest {worst:.2g}{' in ' + worst_name if worst_name else ''})")
