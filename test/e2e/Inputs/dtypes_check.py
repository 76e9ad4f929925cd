"""Writes the inputs of dtypes.mlir (`write DIR`) or checks its outputs
(`check DIR`): dtypes as numpy and ml_dtypes name them, values exact."""
import os
import sys

import ml_dtypes
import numpy as np

BF16 = ml_dtypes.bfloat16
INPUTS = [np.array([0, 200, 255], np.uint8),
          np.array([0, 40000, 65535], np.uint16),
          np.array([0, 3000000000, 2**32 - 1], np.uint32),
          np.array([0, 2**63 + 5, 2**64 - 1], np.uint64),
          np.array([1.5, -2.0, 3.140625], BF16)]

mode, work = sys.argv[1:3]
if mode == "write":
    for i, a in enumerate(INPUTS):
        np.save(os.path.join(work, "in%d.npy" % i), a)
    sys.exit(0)

failures = 0
def check(what, ok):
    global failures
    failures += not ok
    print(("ok " if ok else "FAIL ") + what)

outs = [np.load(os.path.join(work, "out%d.npy" % i)) for i in range(6)]
# The descr as written (np.load reports any void as '|V2').
with open(os.path.join(work, "out4.npy"), "rb") as f:
    descr = f.read(128).split(b"'descr': '")[1].split(b"'")[0].decode()
for i, a in enumerate(INPUTS[:4]):
    want = a + a.dtype.type(1)  # wraps: 255 + 1 == 0
    check("out%d %s" % (i, outs[i].dtype.str),
          outs[i].dtype == a.dtype and np.array_equal(outs[i], want))
# bf16 comes back as '<V2', ml_dtypes' .npy form of bfloat16.
check("out4 %s" % descr,
      descr == np.dtype(BF16).str and outs[4].dtype.itemsize == 2 and
      np.array_equal(outs[4].view(BF16).astype(np.float32),
                     np.array([2.5, -1.0, 4.140625], BF16).astype(np.float32)))
check("out5 %s" % outs[5].dtype.str,
      outs[5].dtype == np.float32 and
      np.array_equal(outs[5], INPUTS[4].astype(np.float32)))
print("dtypes-check: %d failures" % failures)
