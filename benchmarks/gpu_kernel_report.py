#!/usr/bin/env python3
"""Static report of the GPU kernels in a module compiled by
--onebit-gpu-pipeline (format=isa): enough to reason about their speed
without a GPU.

  gpu_kernel_report.py OUT.mlir [--ptxas PATH] [--json FILE] [--keep DIR]
                      [--mma-shapes MxNxK,...]

One row per kernel (gpu.binary; the PTX is extracted with
test/Pipelines/Inputs/gpu_ptx.py):

  kind        sign-flip GEMV (m-tile 1) / sign-flip GEMM (m-tile > 1) /
              post-norm / other. A kernel is a sign-flip kernel when a loop
              (or, failing that, the kernel) xor-s values loaded from shared
              memory (ld.shared -> xor.b32 -> add.f32) with bits of words
              loaded from global memory; post-norm is `*_norm` with rsqrt.
              The pipeline names both binary-layer kernels
              binary_linear_<i>_<layer>_gemv / _norm, whatever M is, so GEMV
              vs GEMM is told from the m-tile (below).
  regs, smem, spill   from `ptxas -arch=<.target> -v` (registers per thread,
              static shared memory bytes per block, spill stores + loads).

For sign-flip kernels, from the PTX of the sign-flip loop:

  The loop. The kernel body is split into basic blocks (at labels and after
  bra/ret), the control-flow graph built, dominators computed, and every
  back edge u -> h (h dominates u) gives a natural loop. This handles the
  rotated loops LLVM emits (the latch is often textually *before* the header
  in the dynamic-M kernel, so "a backward branch" is not enough). The
  sign-flip loop is the innermost loop (one that contains no other loop
  header) with the most xor.b32; the staging loop is the innermost loop with
  st.shared and no xor.b32.
  instr       PTX instructions per iteration: the longest path through the
              loop body (header -> latch, back edges removed; the body of an
              innermost loop is acyclic), counting every instruction,
              bra/mov/setp included. The longest path is the in-bounds one
              (the guarded sign-word load taken). When each lane loads its
              sign words once per K tile (128-bit loads) the flips sit in
              the K-tile loop (kind "..., tile loop") or, with one tile, in
              straight-line code ("..., straight-line"): then every
              instruction of that loop (or of the kernel) outside the loops
              it contains counts, an upper bound (both sides of the guarded
              load; for straight-line code the prologue and the warp
              reduction too).
  sign loads  the ld.global* in the loop whose destination registers feed
              shl/shr/and/bfe/lop3 (the sign-bit extraction); width from the
              type and vector suffix (ld.global.b32 = 4 B, .v4.b32 = 16 B).
              Weights per iteration = 8 x sign bytes (every bit is a weight).
  m-tile      xor.b32 per weight: activation rows that share one sign bit.
  B/w         sign bytes / weights per iteration: bytes of weights read from
              global memory per weight (0.125 = each 1-bit weight read once).
  instr/32w   loop instructions / sign words (32 weights) per iteration, per
              thread; instr/(w*row) = instr/32w / 32 / m-tile.

Staging (a model, not a measurement): per K tile the block stages
m-tile x 32*TW activations x*g into shared memory with `threads` threads and
each lane then consumes TW/32 sign words, so the staging loop runs
1024 * m-tile / threads iterations per sign word consumed (threads from
.maxntid; see docs/gpu.md "The binary-layer kernel").

  stage instr/32w   staging-loop instructions (longest path) x that ratio.
  stage B/w         its global-load bytes (x and g, served by L2 since every
                    block reads the same vectors) x that ratio / 32.

Tensor-core kernels (`*_mma`, kind "tensor-core GEMM": PTX with
mma.sync.aligned.m16n8k16), from the PTX of the K-tile loop (the loop with
the most mma.sync; it contains the staging loop):

  mma/tile    mma.sync per K tile per warp. Per tile and lane the kernel
              loads n8-tiles x K/8 bytes of signs (the ld.global shifted
              right), m16-tiles x K/4 A words (ld.shared) and issues
              K/16 x m16-tiles x n8-tiles mma, which gives the K tile and
              the tile counts; a block is 4 warps over 16 x m16-tiles rows
              and 4 x 8 x n8-tiles columns.
  instr/tile  PTX instructions per warp per K tile: every instruction of the
              K-tile loop outside the staging loop (both sides of the guarded
              loads: an upper bound), plus the staging loop's longest path x
              its iterations per thread (rows x tile / 2 / 128 threads).
  instr/mma   instr/tile / mma/tile.

With --mma-shapes, a model of each layer M x N x K on an A100 (SXM, 40 GB:
312 TFLOP/s dense f16 tensor cores, 1.555 TB/s DRAM, ~5 TB/s L2, 108 SMs x
4 schedulers x 1 warp instruction per clock at 1.41 GHz = 6.1e11 warp
instructions/s), with the kernel built for that M (16 rows per block when
M <= 16, else 32; the columns per block from the PTX):

  GFLOP       2 M N K (useful); the tensor time counts the padded tiles.
  DRAM MB     signs N K / 8, x M K and y M N in f16, g and h: each once.
  L2 MB       what the blocks read: signs once per block row
              (ceil(M / rows)), x once per block column (ceil(N / cols)).
  issue us    warps x K tiles x instr/tile / 6.1e11.
  bound us    the largest of tensor, DRAM, L2 and issue time; "by" names it.

PTX is not SASS: ptxas schedules, fuses (e.g. shl+and -> LOP3/SHF) and may
drop moves, so the counts are an upper-bound-ish proxy for issued
instructions. No cuobjdump/nvdisasm is needed.
"""
import argparse
import json
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "test", "Pipelines", "Inputs"))
import gpu_ptx  # noqa: E402

LABEL = re.compile(r'^(\$?[A-Za-z_][\w$]*):')
PRED = re.compile(r'^@!?%\w+\s+')
REG = re.compile(r'%[A-Za-z_]+\d*')
SIGN_OPS = ("shl", "shr", "and", "bfe", "lop3", "shf")
MMA = "mma.sync.aligned.m16n8k16"
# A100 SXM 40 GB (docs/gpu.md, "Static kernel report").
A100_TENSOR_FLOPS = 312e12
A100_DRAM = 1.555e12
A100_L2 = 5e12
A100_WARP_INSTR = 108 * 4 * 1.41e9
MMA_WARPS = 4


class Instr:
    def __init__(self, text):
        self.text = text
        body = PRED.sub('', text)
        self.predicated = body != text
        parts = body.rstrip(';').split(None, 1)
        self.op = parts[0]
        ops = parts[1] if len(parts) > 1 else ""
        self.operands = [o.strip() for o in re.split(r',(?![^{]*})', ops)
                         if o.strip()]

    def base(self):
        return self.op.split('.')[0]

    def defs(self):
        if not self.operands or self.base() in ("st", "bra", "ret", "bar"):
            return []
        return REG.findall(self.operands[0])

    def uses(self):
        ops = self.operands if self.base() in ("st",) else self.operands[1:]
        return [r for o in ops for r in REG.findall(o)]


def entries(ptx):
    """[(name, [lines of the body])] for each .entry in the PTX."""
    out = []
    for m in re.finditer(r'\.entry\s+([\w$]+)\s*\(', ptx):
        start = ptx.index('{', ptx.index(')', m.end()))
        depth, i = 0, start
        while True:
            if ptx[i] == '{':
                depth += 1
            elif ptx[i] == '}':
                depth -= 1
                if depth == 0:
                    break
            i += 1
        out.append((m.group(1), ptx[start + 1:i].splitlines()))
    return out


def blocks(lines):
    """Basic blocks: list of (label or None, [Instr])."""
    result, cur = [], None

    def new(label):
        nonlocal cur
        cur = [label, []]
        result.append(cur)
    new(None)
    for raw in lines:
        line = raw.split('//')[0].strip()
        if not line or line in ('{', '}') or line.startswith('.'):
            continue
        m = LABEL.match(line)
        if m:
            if cur[1] or cur[0] is not None:
                new(m.group(1))
            else:
                cur[0] = m.group(1)
            continue
        ins = Instr(line)
        cur[1].append(ins)
        if ins.base() in ("bra", "ret", "exit", "trap"):
            new(None)
    return [b for b in result if b[1] or b[0] is not None]


def cfg(bbs):
    index = {b[0]: i for i, b in enumerate(bbs) if b[0]}
    succ = [[] for _ in bbs]
    for i, (_, ins) in enumerate(bbs):
        last = ins[-1] if ins else None
        if last and last.base() == "bra":
            succ[i].append(index[last.operands[-1]])
            if last.predicated and i + 1 < len(bbs):
                succ[i].append(i + 1)
        elif last and last.base() in ("ret", "exit", "trap"):
            pass
        elif i + 1 < len(bbs):
            succ[i].append(i + 1)
    return succ


def dominators(succ):
    n = len(succ)
    pred = [[] for _ in range(n)]
    for u, vs in enumerate(succ):
        for v in vs:
            pred[v].append(u)
    dom = [set(range(n)) for _ in range(n)]
    dom[0] = {0}
    changed = True
    while changed:
        changed = False
        for v in range(1, n):
            ps = [dom[p] for p in pred[v]]
            d = (set.intersection(*ps) if ps else set()) | {v}
            if d != dom[v]:
                dom[v], changed = d, True
    return dom, pred


def loops(succ):
    """{header: (body set, latches)} of the natural loops."""
    dom, pred = dominators(succ)
    result = {}
    for u, vs in enumerate(succ):
        for h in vs:
            if h in dom[u]:
                body, latches = result.get(h, ({h}, set()))
                latches.add(u)
                stack = [u]
                while stack:
                    x = stack.pop()
                    if x not in body:
                        body.add(x)
                        stack.extend(pred[x])
                result[h] = (body, latches)
    return result


def longest_path(bbs, succ, header, body, latches):
    """Instructions on the longest header -> latch path (back edges cut)."""
    memo = {}

    def go(b):
        if b in memo:
            return memo[b]
        best = None
        for s in succ[b]:
            if s == header or s not in body:
                continue
            r = go(s)
            if r is not None and (best is None or r > best):
                best = r
        if best is None and b not in latches:
            memo[b] = None
            return None
        memo[b] = len(bbs[b][1]) + (best or 0)
        return memo[b]
    return go(header)


def global_load_bytes(ins):
    m = re.search(r'\.([bsuf])(\d+)$', ins.op)
    v = re.search(r'\.v(\d)', ins.op)
    return (int(m.group(2)) // 8 if m else 4) * (int(v.group(1)) if v else 1)


def loop_stats(bbs, succ, header, body, latches, path=True):
    """Counts over a loop's blocks; `path`: also its longest header -> latch
    path (only for innermost loops: an inner loop's back edge is a cycle)."""
    ins = [i for b in sorted(body) for i in bbs[b][1]]
    used_as_bits = set()
    for i in ins:
        if i.base() in SIGN_OPS:
            used_as_bits.update(i.uses())
    sign_bytes = other_bytes = 0
    for i in ins:
        if i.op.startswith("ld.global"):
            if set(i.defs()) & used_as_bits:
                sign_bytes += global_load_bytes(i)
            else:
                other_bytes += global_load_bytes(i)
    mix = {}
    for i in ins:
        mix[i.base()] = mix.get(i.base(), 0) + 1
    return {"instr": (longest_path(bbs, succ, header, body, latches)
                      if latches and path else None),
            "sign_bytes": sign_bytes, "other_global_bytes": other_bytes,
            "xor": sum(1 for i in ins if i.op == "xor.b32"),
            "mma": sum(1 for i in ins if i.op.startswith(MMA)),
            "count": len(ins),
            "ld_shared": sum(1 for i in ins if i.op.startswith("ld.shared")),
            "st_shared": sum(1 for i in ins if i.op.startswith("st.shared")),
            "mix": mix}


def analyse(ptx):
    """Static figures of the first .entry of one kernel's PTX."""
    name, lines = entries(ptx)[0]
    bbs = blocks(lines)
    succ = cfg(bbs)
    ls = loops(succ)
    inner = {h: v for h, v in ls.items()
             if not any(h2 != h and h2 in v[0] for h2 in ls)}
    stats = {h: loop_stats(bbs, succ, h, *v) for h, v in inner.items()}
    threads = re.search(r'\.maxntid\s+(\d+)(?:,\s*(\d+))?(?:,\s*(\d+))?', ptx)
    nthreads = 1
    if threads:
        for g in threads.groups():
            nthreads *= int(g) if g else 1
    r = {"entry": name, "kind": "other", "loops": len(ls),
         "threads": nthreads if threads else None}
    flip = [h for h in stats if stats[h]["xor"] and stats[h]["sign_bytes"]]
    kind_suffix = ""
    if not flip and MMA not in ptx:
        # One sign load per lane and K tile (128-bit loads): the flips are
        # in the K-tile loop around the staging loop, or, with one tile,
        # straight-line code. The region is then that loop (or the whole
        # kernel) less the loops inside it; its instruction count takes
        # every instruction there (both sides of the guarded load, and for
        # the whole kernel the prologue and the warp reduction too): an
        # upper bound per tile.
        regions = [(h, v[0]) for h, v in ls.items()] + [
            (None, set(range(len(bbs))))]
        for h, body in sorted(regions, key=lambda hv: len(hv[1])):
            nested = set()
            for h2, v2 in ls.items():
                if h2 != h and h2 in body:
                    nested |= v2[0]
            region = body - nested
            st = loop_stats(bbs, succ, h if h is not None else 0, region,
                            set(), path=False)
            if st["xor"] and st["sign_bytes"]:
                st["instr"] = st["count"]
                stats[("region", h)] = st
                flip = [("region", h)]
                kind_suffix = (", tile loop" if h is not None
                               else ", straight-line")
                break
    if MMA in ptx:
        r.update(analyse_mma(bbs, succ, ls, inner, stats, nthreads))
    elif flip:
        h = max(flip, key=lambda h: stats[h]["xor"])
        s = stats[h]
        weights = 8 * s["sign_bytes"]
        words = weights / 32
        mtile = s["xor"] / weights
        r.update({
            "kind": ("sign-flip GEMV" if mtile == 1 else "sign-flip GEMM") +
                    kind_suffix,
            "m_tile": mtile,
            "loop_instr": s["instr"],
            "sign_bytes_per_iter": s["sign_bytes"],
            "weights_per_iter": weights,
            "bytes_per_weight": s["sign_bytes"] / weights,
            "instr_per_32w": s["instr"] / words,
            "instr_per_weight_row": s["instr"] / weights / mtile,
            "loop_mix": s["mix"]})
        stage = [h2 for h2 in stats if not isinstance(h2, tuple)
                 and stats[h2]["st_shared"] and not stats[h2]["xor"]]
        if stage and threads:
            st = stats[max(stage, key=lambda h2: stats[h2]["instr"] or 0)]
            ratio = 1024 * mtile / nthreads  # staging iterations per word
            r.update({
                "stage_instr": st["instr"],
                "stage_iters_per_word": ratio,
                "stage_instr_per_32w": st["instr"] * ratio,
                "stage_bytes_per_weight":
                    st["other_global_bytes"] * ratio / 32})
    elif name.endswith("_norm") and "rsqrt" in ptx:
        r["kind"] = "post-norm"
    elif name.endswith("_splitk"):
        r["kind"] = "split-K sum"
    else:
        # K <= 1024: the word and tile loops have one trip and are gone;
        # the sign flips are straight-line code (no per-iteration figures).
        whole = loop_stats(bbs, succ, 0, set(range(len(bbs))), set())
        if whole["xor"] and whole["sign_bytes"]:
            mtile = whole["xor"] / (8 * whole["sign_bytes"])
            r.update({"kind": "sign-flip %s, no loop" %
                      ("GEMV" if mtile == 1 else "GEMM"), "m_tile": mtile,
                      "bytes_per_weight": 1 / 8})
    return r


def analyse_mma(bbs, succ, ls, inner, stats, nthreads):
    """Figures of the tensor-core kernel's K-tile loop (see the docstring)."""
    r = {"kind": "tensor-core GEMM"}
    if not ls:
        return r
    allst = {h: loop_stats(bbs, succ, h, *v, path=h in inner)
             for h, v in ls.items()}
    h = max(allst, key=lambda h: allst[h]["mma"])
    body = ls[h][0]
    st = allst[h]
    nested = [h2 for h2 in inner if h2 != h and h2 in body]
    nested_blocks = set().union(*(ls[h2][0] for h2 in nested)) if nested else set()
    own = sum(len(bbs[b][1]) for b in body if b not in nested_blocks)
    # Sign words: the ld.global whose value is shifted right (by 2t).
    ins = [i for b in sorted(body) for i in bbs[b][1]]
    shifted = {u for i in ins if i.base() == "shr" for u in i.uses()}
    sign_bytes = sum(global_load_bytes(i) for i in ins
                     if i.op.startswith("ld.global")
                     and set(i.defs()) & shifted)
    # Per tile and lane: sign bytes = n8 tiles x K/8, ld.shared (A) =
    # m16 tiles x K/4, mma = K/16 x m16 tiles x n8 tiles.
    ld = st["ld_shared"]
    tile_k = 2 * ld * sign_bytes / st["mma"] if st["mma"] else 0
    m_tiles = 4 * ld / tile_k if tile_k else None
    rows = 16 * m_tiles if m_tiles else None
    stage_instr = stage_iters = None
    stage = [h2 for h2 in nested if stats[h2]["st_shared"]]
    if stage and rows:
        stage_instr = stats[stage[0]]["instr"]
        stage_iters = rows * tile_k / 2 / nthreads
    per_tile = own + (stage_instr or 0) * (stage_iters or 0)
    r.update({"mma_per_tile": st["mma"], "tile_k": tile_k,
              "m_tiles": m_tiles, "block_rows": rows,
              "n_tiles": 8 * sign_bytes / tile_k if tile_k else None,
              "sign_bytes_per_lane_tile": sign_bytes,
              "ld_shared_per_tile": st["ld_shared"],
              "loop_instr": own, "stage_instr": stage_instr,
              "stage_iters_per_tile": stage_iters,
              "instr_per_tile": per_tile,
              "instr_per_mma": per_tile / st["mma"] if st["mma"] else None,
              "loop_mix": st["mix"]})
    return r


def ceil_div(a, b):
    return -(-a // b)


def mma_model(r, m, n, k):
    """The A100 model of one M x N x K layer on tensor-core kernel `r`."""
    rows, tile_k = int(r["block_rows"]), int(r["tile_k"])
    cols = MMA_WARPS * 8 * int(r["n_tiles"])
    bm, bn, bk = ceil_div(m, rows), ceil_div(n, cols), ceil_div(k, tile_k)
    flops = 2.0 * m * n * k
    padded = 2.0 * bm * rows * bn * cols * bk * tile_k
    dram = n * k / 8 + 2.0 * (m * k + m * n + k + n)
    l2 = bm * n * k / 8 + bn * 2.0 * m * k + 2.0 * (m * n + k * bm + n)
    issue = bm * bn * MMA_WARPS * bk * r["instr_per_tile"]
    t = {"tensor": padded / A100_TENSOR_FLOPS, "DRAM": dram / A100_DRAM,
         "L2": l2 / A100_L2, "issue": issue / A100_WARP_INSTR}
    by = max(t, key=t.get)
    return {"kernel": r["kernel"], "shape": "%dx%dx%d" % (m, n, k),
            "gflop": flops / 1e9, "dram_mb": dram / 1e6, "l2_mb": l2 / 1e6,
            "tensor_us": t["tensor"] * 1e6, "dram_us": t["DRAM"] * 1e6,
            "l2_us": t["L2"] * 1e6, "issue_us": t["issue"] * 1e6,
            "bound_us": t[by] * 1e6, "bound_by": by,
            "bound_tflops": flops / t[by] / 1e12}


def fmt(v, spec="%.3g"):
    if v is None:
        return "-"
    if isinstance(v, float):
        return spec % v
    return str(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("module")
    ap.add_argument("--ptxas", default=os.environ.get(
        "PTXAS", "/usr/local/cuda/bin/ptxas"))
    ap.add_argument("--json")
    ap.add_argument("--keep", help="directory for the .ptx/.cubin files")
    ap.add_argument("--mma-shapes", default="",
                    help="MxNxK,...: A100 model of these layers on the "
                         "tensor-core kernels")
    args = ap.parse_args()
    shapes = []
    for text in filter(None, args.mma_shapes.split(",")):
        dims = text.split("x")
        if len(dims) != 3 or not all(d.isdigit() and int(d) > 0
                                     for d in dims):
            ap.error("--mma-shapes: '%s' is not MxNxK with positive sizes"
                     % text)
        shapes.append(tuple(int(d) for d in dims))

    outdir = args.keep or tempfile.mkdtemp(prefix="onebit-kernel-report-")
    os.makedirs(outdir, exist_ok=True)
    rows, failed = [], False
    for name, ptx in gpu_ptx.kernels(args.module):
        r = analyse(ptx)
        r["kernel"] = name
        info, log = gpu_ptx.run_ptxas(args.ptxas, outdir, name, ptx)
        if info is None:
            sys.stderr.write("%s: ptxas failed\n%s" % (name, log))
            failed = True
            info = {}
        r.update(info)
        r["spills"] = (info.get("spill_stores", 0) + info.get("spill_loads", 0)
                       if info else None)
        rows.append(r)

    cols = ["kernel", "kind", "regs", "smem B", "spill B", "m-tile",
            "B/w", "instr/32w", "instr/(w*row)", "stage instr/32w",
            "stage B/w"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join([
            r["kernel"], r["kind"], fmt(r.get("registers")),
            fmt(r.get("smem")), fmt(r["spills"]),
            fmt(r.get("m_tile"), "%g"),
            fmt(r.get("bytes_per_weight"), "%.3f"),
            fmt(r.get("instr_per_32w"), "%.1f"),
            fmt(r.get("instr_per_weight_row"), "%.2f"),
            fmt(r.get("stage_instr_per_32w"), "%.1f"),
            fmt(r.get("stage_bytes_per_weight"), "%.3f")]) + " |")
    print("kernels: %d" % len(rows))
    mma = [r for r in rows if r["kind"] == "tensor-core GEMM"
           and r.get("instr_per_tile")]
    if mma:
        print()
        cols = ["kernel", "rows x cols/block", "K tile", "mma/tile",
                "instr/tile", "instr/mma",
                "ld.shared/tile", "sign B/lane/tile"]
        print("| " + " | ".join(cols) + " |")
        print("|" + "---|" * len(cols))
        for r in mma:
            print("| " + " | ".join([
                r["kernel"], "%gx%g" % (r["block_rows"],
                                        MMA_WARPS * 8 * r["n_tiles"]),
                fmt(r["tile_k"], "%g"),
                fmt(r["mma_per_tile"]), fmt(r["instr_per_tile"], "%.0f"),
                fmt(r["instr_per_mma"], "%.1f"),
                fmt(r["ld_shared_per_tile"]),
                fmt(r["sign_bytes_per_lane_tile"])]) + " |")
    models = []
    for m, n, k in shapes:
        want = 16 if m <= 16 else 32
        fit = [r for r in mma if r["block_rows"] == want]
        if not fit:
            print("no tensor-core kernel with %d rows per block for %dx%dx%d"
                  % (want, m, n, k))
            failed = True
            continue
        models.append(mma_model(fit[0], m, n, k))
    if models:
        print()
        cols = ["layer MxNxK", "kernel", "GFLOP", "DRAM MB", "L2 MB",
                "tensor us", "DRAM us", "L2 us", "issue us", "bound us",
                "by", "TFLOP/s at bound"]
        print("| " + " | ".join(cols) + " |")
        print("|" + "---|" * len(cols))
        for x in models:
            print("| " + " | ".join([
                x["shape"], x["kernel"], "%.2f" % x["gflop"],
                "%.2f" % x["dram_mb"], "%.1f" % x["l2_mb"],
                "%.2f" % x["tensor_us"], "%.2f" % x["dram_us"],
                "%.2f" % x["l2_us"], "%.2f" % x["issue_us"],
                "%.2f" % x["bound_us"], x["bound_by"],
                "%.0f" % x["bound_tflops"]]) + " |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"kernels": rows, "mma_layers": models} if shapes
                      else rows, fh, indent=1, sort_keys=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
