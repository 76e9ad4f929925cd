"""Checks a run with bf16 Adam moments against the same run with f32 ones.

usage: compare_moments.py F32.jsonl BF16.jsonl

Every loss is finite, the bf16 run's last loss is below its first, and
every step's losses agree with the f32 run's to 1e-3 relative (the moments
are rounded to bf16, 2^-9 relative, after each update, and Adam divides by
sqrt(v); the parameters stay f32).
"""
import json
import math
import sys

a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
if len(a) != len(b) or len(a) < 2:
    sys.exit(f"{len(a)} and {len(b)} steps")
worst = 0.0
for x, y in zip(a, b):
    for k in ("loss", "l_ce", "l_mse"):
        if not (math.isfinite(x[k]) and math.isfinite(y[k])):
            sys.exit(f"step {x['step']}: {k} is not finite")
        rel = abs(x[k] - y[k]) / max(abs(x[k]), 1e-3)
        worst = max(worst, rel)
        if rel > 1e-3:
            sys.exit(f"step {x['step']}: {k} {y[k]} (bf16) vs {x[k]} (f32)")
if not b[-1]["loss"] < b[0]["loss"]:
    sys.exit(f"bf16 moments: loss {b[0]['loss']} -> {b[-1]['loss']}")
print(f"{len(a)} steps, finite, loss decreased; bf16 within 1e-3 of f32 "
      f"(largest relative difference {worst:.1e})")
