"""Checks two onebit-train --report-memory runs of one F16 GGUF teacher,
with its linear weights kept in f16 (F16) and dequantized to f32 (F32).

usage: f16_teacher_check.py F16.txt F32.txt F16.jsonl F32.jsonl HEAD_MB TEACHER_MB

- The f16 teacher is smaller once loaded, by at least 3/4 of the bytes the
  head saves (HEAD_MB, its f32 size / 2: the largest weight).
- Generating gen:N data imports nothing again: the data phase's peak stays
  within TEACHER_MB / 2 (the teacher's f32 size) of the resident set before
  it, in both runs (a second import would add all of it).
- The losses agree to 1e-5 relative (the same f16 values, widened exactly;
  only the summation order of the kernels may differ).
"""
import json
import sys

from memory_phases import phases  # `memory: PHASE: rss .. MB, phase peak ..`


f16, f32 = phases(sys.argv[1]), phases(sys.argv[2])
head_mb, teacher_mb = float(sys.argv[5]), float(sys.argv[6])
for name, p in (("f16", f16), ("f32", f32)):
    for need in ("teacher loaded", "train step compiled", "data loaded"):
        if need not in p:
            sys.exit(f"{name}: no '{need}' phase")
saved = f32["teacher loaded"][0] - f16["teacher loaded"][0]
if saved < 0.75 * head_mb:
    sys.exit(f"the f16 teacher is only {saved:.1f} MB smaller once loaded "
             f"(its head alone saves {head_mb:.1f} MB)")
for name, p in (("f16", f16), ("f32", f32)):
    grew = p["data loaded"][1] - p["train step compiled"][0]
    if grew >= teacher_mb / 2:
        sys.exit(f"{name}: generating the data grew the resident set by "
                 f"{grew:.1f} MB: the teacher ({teacher_mb:.0f} MB in f32) "
                 "was imported again")
a = [json.loads(l) for l in open(sys.argv[3])]
b = [json.loads(l) for l in open(sys.argv[4])]
if len(a) != len(b) or not a:
    sys.exit(f"{len(a)} and {len(b)} steps")
for x, y in zip(a, b):
    for k in ("loss", "l_ce", "l_mse"):
        if abs(x[k] - y[k]) > 1e-5 * max(abs(y[k]), 1e-3):
            sys.exit(f"step {x['step']}: {k} {x[k]} (f16) vs {y[k]} (f32)")
print(f"f16 teacher smaller by at least {0.75 * head_mb:.0f} MB; data "
      f"generated without a second import; {len(a)} steps, losses agree")
