#!/usr/bin/env python3
"""Writes scripts/gpu-check.sh's report: RESULTS/gpu-check.md (short, for
people) and RESULTS/gpu-check.json (everything), from the facts the script
collected in STATE (one "key<TAB>value" line each) and the files it left in
RESULTS (device.json and gpu_bench.json from gpu-bench, the train logs).
Standard library only.
usage: gpu_check_report.py STATE RESULTS
"""
import json
import os
import statistics
import sys


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def steps_per_s(path):
    """Median steps/s of a train.jsonl after its first (compiling) step."""
    try:
        rows = [json.loads(line) for line in open(path) if line.strip()]
    except (OSError, ValueError):
        return None
    secs = [r["seconds"] for r in rows[1:] if r.get("seconds")]
    return 1.0 / statistics.median(secs) if secs else None


def main():
    state, results = sys.argv[1:3]
    facts, tests = {}, []
    for line in open(state):
        key, _, value = line.rstrip("\n").partition("\t")
        if key.startswith("test:"):
            status, figures, file, what = (value.split("|", 3) + [""] * 4)[:4]
            tests.append({"name": key[5:], "status": status, "test": file,
                          "checks": what, "figures": figures})
        else:
            facts[key] = value
    device = load_json(os.path.join(results, "device.json"))
    bench = load_json(os.path.join(results, "gpu_bench.json"))
    kd = {dev: steps_per_s(facts[f"train_log:{dev}"])
          for dev in ("cpu", "cuda") if f"train_log:{dev}" in facts}
    bench_status, _, bench_note = facts.get("bench", "").partition("|")
    out = {
        "gpu": facts.get("gpu") == "yes",
        "forced": facts.get("gpu") == "forced",
        "reason": facts.get("gpu_reason"),
        "started": facts.get("started"),
        "elapsed_s": int(facts.get("elapsed_s", "0")),
        "host": {"name": facts.get("host"), "cpu": facts.get("cpu"),
                 "cores": facts.get("cores")},
        "nvidia_smi": facts.get("nvidia_smi"),
        "cuda_version": facts.get("cuda_version"),
        "probe": facts.get("probe"),
        "build": facts.get("build"),
        "bundle": facts.get("bundle"),
        "bundle_check": facts.get("bundle_check"),
        "device": device,
        "tests": tests,
        "kd_steps_per_s": kd or None,
        "bench": {"status": bench_status, "note": bench_note,
                  "results": bench},
        "status": int(facts.get("status", "0")),
    }
    with open(os.path.join(results, "gpu-check.json"), "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")

    md = ["# GPU check", ""]
    if facts.get("gpu") == "unusable":
        md += [f"nvidia-smi lists a GPU, but the driver API cannot use it: "
               f"{out['reason']}. Nothing was run; exit 1.", ""]
    elif out["forced"]:
        md += [f"No GPU ({out['reason']}): every step was run anyway "
               "(--force), so the GPU tests fail.", ""]
    elif not out["gpu"]:
        md += [f"No GPU: {out['reason']}. Nothing was run; exit 0.", ""]
    dev = (device or {}).get("device") or {}
    md += ["| | |", "|---|---|",
           f"| started | {out['started']} ({out['elapsed_s']} s) |",
           f"| host | {out['host']['cpu']}, {out['host']['cores']} cores |",
           f"| nvidia-smi | {out['nvidia_smi']} |",
           f"| CUDA (nvidia-smi) | {out['cuda_version'] or '?'} |"]
    if dev:
        md += [f"| device (driver API) | {dev.get('name')}, compute "
               f"{dev.get('compute_capability')}, {dev.get('sms')} SMs, "
               f"{dev.get('memory_mib')} MiB, {dev.get('peak_gb_s', 0):.0f} "
               f"GB/s peak, driver CUDA {dev.get('driver_cuda_version')} |"]
    if out["probe"]:
        md += [f"| onebitCudaProbe | {out['probe']} |"]
    if out["build"]:
        md += [f"| build | {out['build']} |"]
    if out["bundle"]:
        md += [f"| bundle | {out['bundle']}: {out['bundle_check'] or '?'} |"]
    md += ["", "| GPU test | status | checks | figures |",
           "|---|---|---|---|"]
    for t in tests:
        md += [f"| {t['name']} (`{t['test']}`) | {t['status']} | "
               f"{t['checks']} | {t['figures'].replace('|', '/')} |"]
    if kd:
        md += ["", "KD train step (the train test's tiny LLaMA, batch 2×8, "
               "median of steps 2-3): " + ", ".join(
                   f"{d} {v:.1f} steps/s" for d, v in kd.items() if v)]
    md += ["", f"gpu-bench: {bench_status or 'not run'}"
           + (f" ({bench_note})" if bench_note else "")]
    if bench and bench.get("gemm"):
        md += ["", "| M×N×K | 1-bit ms | 1-bit GB/s | cuBLAS FP16 ms | "
               "cuBLAS GB/s | speed-up | numerics |", "|---|---|---|---|---|---|---|"]

        def num(r, k, fmt):
            return format(r[k], fmt) if k in r else "n/a"
        for r in bench["gemm"]:
            ok = r.get("onebit_ok") and r.get("cublas_ok", True)
            md += [f"| {r['shape']} | {num(r, 'onebit_ms', '.4f')} | "
                   f"{num(r, 'onebit_gb_s', '.0f')} | "
                   f"{num(r, 'cublas_ms', '.4f')} | "
                   f"{num(r, 'cublas_gb_s', '.0f')} | "
                   f"{num(r, 'speedup', '.2f')} | "
                   f"{'ok' if ok else 'WRONG'} |"]
    for t in (bench or {}).get("targets") or []:
        md += [f"Target (issue 30) {t['shape']}: 1-bit >= "
               f"{t['want_speedup']:g}x cuBLAS FP16: "
               f"{'met' if t['met'] else 'NOT met'}"]
    decode = (bench or {}).get("decode")
    if decode and "onebit_tokens_s" in decode:
        md += ["", f"Decode ({decode['layers']} layers, dim {decode['dim']}, "
               f"FFN {decode['ffn']}, vocab {decode['vocab']}; linear layers "
               f"only): 1-bit {decode['onebit_tokens_s']:.1f} tokens/s"
               + (f", FP16 cuBLAS {decode['fp16_tokens_s']:.1f} tokens/s, "
                  f"{decode['speedup']:.2f}x" if "fp16_tokens_s" in decode
                  else "")]
    md += ["", f"Exit status: {out['status']}", ""]
    with open(os.path.join(results, "gpu-check.md"), "w") as f:
        f.write("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
