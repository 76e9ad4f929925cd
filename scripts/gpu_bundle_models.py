"""The model part of the GPU bundle (docs/gpu.md, "The GPU bundle"): cuda
artifacts of the GPU tests' models, their inputs and the CPU's results,
prepared here, run there over the C API with no MLIR.

  gpu_bundle_models.py prepare DIR --build BUILD [--chip sm_90] [--set llama|tiny]
      here (needs the build's tools; torch and onnx for --set llama, gguf
      and numpy for both): writes DIR/models.json and, per model, a cuda
      artifact (onebit-compile --device cuda) and a CPU artifact of the same
      model, then runs the CPU artifacts through the C API and records their
      results as the expected ones; the CPU artifacts are deleted after.
  gpu_bundle_models.py check DIR --lib LIBDIR [--cpu]
      there (python3 and the C API's libraries only): loads each cuda
      artifact with libonebit.so from LIBDIR, runs it on the recorded
      inputs and prints one line per model, "ok: NAME ... rel_err=E" or
      "FAIL: NAME: why"; exit 0 when all pass, 1 otherwise. A machine with
      no GPU gets the loader's refusal as each model's FAIL line.

The models (--set llama, as test/e2e/gpu-emulation.test): the torch.onnx
LLaMA export (2 layers, batch 2 x 8 tokens) FP, 1-bit (--onebit-quantize)
and 1-bit with an int8 head (--onebit-int8-weights), @main compared with
the CPU to 1e-5 (max|gpu - cpu| / max|cpu|); and generation
(test/Generation/gpu-cuda.test): the tiny GGUF LLaMA (2 layers) quantized,
16 greedy tokens with the KV cache that must equal the CPU's, and the
prompt's logits within 1e-5. --set tiny uses the tiny GGUF LLaMA for all
four (1 layer), for tests. Tensors are stored raw (little-endian), shapes
and types in models.json, so the check needs no numpy.
"""
import argparse
import array
import ctypes
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
F32, I64 = 0, 3
ITEM = {F32: "f", I64: "q"}
TRAIN_LR = 1e-3
MAX_RANK = 8
DYNAMIC = -(1 << 63)


# ---- the C API over ctypes ---------------------------------------------

class Tensor(ctypes.Structure):
    _fields_ = [("dtype", ctypes.c_int), ("rank", ctypes.c_int32),
                ("shape", ctypes.c_int64 * MAX_RANK),
                ("data", ctypes.c_void_p), ("bytes", ctypes.c_size_t)]


class TensorInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int),
                ("rank", ctypes.c_int32),
                ("shape", ctypes.c_int64 * MAX_RANK)]


class Sampling(ctypes.Structure):
    _fields_ = [("temperature", ctypes.c_double), ("top_k", ctypes.c_int64),
                ("top_p", ctypes.c_double), ("seed", ctypes.c_uint64)]


CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int64, ctypes.c_void_p)


class Api:
    """libonebit.so from `libdir`: the kernel library is loaded first from
    the same folder (so the C API finds it whatever its RUNPATH says), and
    the loader finds the CUDA runtime next to it."""

    def __init__(self, libdir):
        mode = getattr(ctypes, "RTLD_GLOBAL", 0)
        ctypes.CDLL(os.path.join(libdir, "libonebit_runtime.so"), mode=mode)
        lib = ctypes.CDLL(os.path.join(libdir, "libonebit.so"))
        lib.onebit_last_error.restype = ctypes.c_char_p
        lib.onebit_model_load.argtypes = [ctypes.c_char_p,
                                          ctypes.POINTER(ctypes.c_void_p)]
        lib.onebit_model_free.argtypes = [ctypes.c_void_p]
        lib.onebit_model_entry_arity.argtypes = [
            ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_size_t),
            ctypes.POINTER(ctypes.c_size_t)]
        lib.onebit_model_entry_input.argtypes = [
            ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t,
            ctypes.POINTER(TensorInfo)]
        lib.onebit_model_entry_result.argtypes = [
            ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t,
            ctypes.POINTER(TensorInfo)]
        lib.onebit_model_run.argtypes = [
            ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(Tensor),
            ctypes.c_size_t, ctypes.POINTER(Tensor), ctypes.c_size_t]
        lib.onebit_generator_create.argtypes = [
            ctypes.c_void_p, ctypes.c_int64, ctypes.POINTER(ctypes.c_void_p)]
        lib.onebit_generator_free.argtypes = [ctypes.c_void_p]
        lib.onebit_generator_vocab.argtypes = [ctypes.c_void_p]
        lib.onebit_generator_vocab.restype = ctypes.c_int64
        lib.onebit_generator_prefill.argtypes = [
            ctypes.c_void_p, ctypes.POINTER(ctypes.c_int64), ctypes.c_size_t,
            ctypes.POINTER(ctypes.c_float)]
        lib.onebit_generator_reset.argtypes = [ctypes.c_void_p]
        lib.onebit_sampler_create.argtypes = [
            ctypes.POINTER(Sampling), ctypes.POINTER(ctypes.c_void_p)]
        lib.onebit_sampler_free.argtypes = [ctypes.c_void_p]
        lib.onebit_generate.argtypes = [
            ctypes.c_void_p, ctypes.POINTER(ctypes.c_int64), ctypes.c_size_t,
            ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64, CALLBACK,
            ctypes.c_void_p, ctypes.POINTER(ctypes.c_int64)]
        self.lib = lib

    def check(self, status, what):
        if status != 0:
            raise RuntimeError("%s: %s" % (
                what, self.lib.onebit_last_error().decode(errors="replace")))

    def load(self, path):
        model = ctypes.c_void_p()
        self.check(self.lib.onebit_model_load(path.encode(),
                                              ctypes.byref(model)), "load")
        return model

    def run(self, model, entry, inputs):
        """`inputs`: (dtype, shape, array.array) each; the results as the
        same triples."""
        e = entry.encode()
        ni, nr = ctypes.c_size_t(), ctypes.c_size_t()
        self.check(self.lib.onebit_model_entry_arity(
            model, e, ctypes.byref(ni), ctypes.byref(nr)), "arity")
        ins = (Tensor * len(inputs))()
        for t, (dtype, shape, data) in zip(ins, inputs):
            t.dtype, t.rank = dtype, len(shape)
            for k, d in enumerate(shape):
                t.shape[k] = d
            address, count = data.buffer_info()
            t.data, t.bytes = address, count * data.itemsize
        outs = (Tensor * nr.value)()
        buffers = []
        for k in range(nr.value):
            info = TensorInfo()
            self.check(self.lib.onebit_model_entry_result(
                model, e, k, ctypes.byref(info)), "result signature")
            # Room for what a result can be: the static dims and, for a
            # dynamic one, the largest input dim (batch, sequence).
            bound = max([1] + [d for _, s, _ in inputs for d in s])
            count = 1
            for d in info.shape[:info.rank]:
                count *= bound if d == DYNAMIC else d
            buf = array.array(ITEM[info.dtype], bytes(count * 8))
            buffers.append(buf)
            outs[k].dtype = info.dtype
            outs[k].data = buf.buffer_info()[0]
            outs[k].bytes = len(buf) * buf.itemsize
        self.check(self.lib.onebit_model_run(model, e, ins, len(inputs), outs,
                                             nr.value), "run @" + entry)
        results = []
        for t, buf in zip(outs, buffers):
            shape = list(t.shape[:t.rank])
            n = 1
            for d in shape:
                n *= d
            results.append((t.dtype, shape, buf[:n]))
        return results

    def input_dtype(self, model, entry, index):
        info = TensorInfo()
        self.check(self.lib.onebit_model_entry_input(
            model, entry.encode(), index, ctypes.byref(info)),
            "input signature")
        return info.dtype

    def train(self, model, ids, steps, lr):
        """`steps` KD steps from @main_train_init's parameters with zero
        Adam moments, each step's state fed into the next (the trainer's
        loop): the losses (loss, ce, mse) of each step and the final
        parameters."""
        params = self.run(model, "main_train_init", [])
        n = len(params)
        zeros = [(d, sh, array.array(ITEM[d], bytes(len(x) * 4 if d == F32
                                                      else len(x) * 8)))
                 for d, sh, x in params]
        m, v = zeros, [(d, sh, array.array(x.typecode, x)) for d, sh, x in
                       zeros]
        lr_type = self.input_dtype(model, "main_train_step", 3 * n + 1)
        step_type = self.input_dtype(model, "main_train_step", 3 * n + 2)
        losses = []
        for k in range(1, steps + 1):
            scalars = [(lr_type, [], array.array(ITEM[lr_type], [lr])),
                       (step_type, [], array.array(
                           ITEM[step_type],
                           [float(k) if step_type == F32 else k]))]
            out = self.run(model, "main_train_step",
                           params + m + v + [ids] + scalars)
            if len(out) != 3 * n + 3:
                raise RuntimeError("@main_train_step returned %d results, "
                                   "not %d" % (len(out), 3 * n + 3))
            params, m, v = out[:n], out[n:2 * n], out[2 * n:3 * n]
            losses.append([float(t[2][0]) for t in out[3 * n:]])
        return losses, params

    def generate(self, model, prompt, max_tokens, context):
        """Greedy tokens after `prompt`, and the prompt's last logits."""
        gen = ctypes.c_void_p()
        self.check(self.lib.onebit_generator_create(model, context,
                                                    ctypes.byref(gen)),
                   "generator")
        try:
            vocab = self.lib.onebit_generator_vocab(gen)
            ids = (ctypes.c_int64 * len(prompt))(*prompt)
            logits = (ctypes.c_float * vocab)()
            self.check(self.lib.onebit_generator_prefill(
                gen, ids, len(prompt), logits), "prefill")
            self.lib.onebit_generator_reset(gen)
            sampler = ctypes.c_void_p()
            opts = Sampling(0.0, 0, 1.0, 0)
            self.check(self.lib.onebit_sampler_create(ctypes.byref(opts),
                                                      ctypes.byref(sampler)),
                       "sampler")
            tokens = []

            def keep(token, _user):
                tokens.append(int(token))
                return 1
            callback = CALLBACK(keep)
            try:
                self.check(self.lib.onebit_generate(
                    gen, ids, len(prompt), max_tokens, sampler, -1, callback,
                    None, None), "generate")
            finally:
                self.lib.onebit_sampler_free(sampler)
            return tokens, array.array("f", logits)
        finally:
            self.lib.onebit_generator_free(gen)


# ---- files ---------------------------------------------------------------

def save(folder, name, dtype, shape, data):
    with open(os.path.join(folder, name), "wb") as f:
        data.tofile(f)
    return {"file": name, "dtype": dtype, "shape": list(shape)}


def load(folder, t):
    data = array.array(ITEM[t["dtype"]])
    with open(os.path.join(folder, t["file"]), "rb") as f:
        data.frombytes(f.read())
    return t["dtype"], t["shape"], data


def rel_err(got, want):
    """max|got - want| / max|want|; infinite when `got` holds a NaN or an
    infinity (max() would pass over a NaN)."""
    if any(g != g or g in (float("inf"), float("-inf")) for g in got):
        return float("inf")
    top = max((abs(w) for w in want), default=0.0)
    diff = max((abs(g - w) for g, w in zip(got, want)), default=0.0)
    return diff / max(top, 1e-30)


# ---- prepare (here) --------------------------------------------------------

def sh(*cmd):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("gpu_bundle_models: %s failed:\n%s" % (
            " ".join(str(c) for c in cmd), (r.stderr or r.stdout)[-2000:]))
    return r.stdout


def prepare(a):
    out, tools = os.path.abspath(a.dir), os.path.join(a.build, "bin")
    work = os.path.join(out, "work")
    os.makedirs(work, exist_ok=True)
    py = sys.executable

    def tool(name, *args):
        return sh(os.path.join(tools, name), *args)

    tiny_llama = os.path.join(ROOT, "test", "Generation", "Inputs",
                              "make_tiny_llama.py")
    models = []
    wanted = set(a.models.split(","))
    # Inference: FP, 1-bit, 1-bit with an int8 head.
    if a.set == "llama":
        onnx = os.path.join(work, "llama.onnx")
        ids = os.path.join(work, "ids.npy")
        sh(py, os.path.join(ROOT, "test", "e2e", "models.py"), "llama", onnx,
           "--opset", "17", "--batch", "2", "--seq", "8", "--inputs", ids)
        fp = os.path.join(work, "fp.mlirbc")
        tool("onebit-translate", "--import-onnx", onnx, "--emit-bytecode",
             "-o", fp)
        entry = None
    else:
        gguf = os.path.join(work, "tiny.gguf")
        sh(py, tiny_llama, gguf, "--layers", "1", "--dim", "32", "--heads",
           "2", "--kv-heads", "1")
        fp = os.path.join(work, "fp.mlirbc")
        tool("onebit-translate", "--import-gguf", gguf, "--emit-bytecode",
             "-o", fp)
        ids = None
        entry = "main"
    q = os.path.join(work, "q.mlirbc")
    q8 = os.path.join(work, "q8.mlirbc")
    tool("onebit-opt", fp, "--onebit-quantize", "--emit-bytecode", "-o", q)
    tool("onebit-opt", fp, "--onebit-quantize", "--onebit-int8-weights",
         "--emit-bytecode", "-o", q8)
    if ids:
        import numpy as np
        x = np.load(ids).astype(np.int64)
    else:
        import numpy as np
        x = (np.arange(16, dtype=np.int64).reshape(2, 8) * 7) % 256
    shape = list(x.shape)
    inputs = [save(out, "ids.bin", I64, shape, array.array("q", x.ravel()))]
    for name, src in [("fp", fp), ("q", q), ("q8", q8)]:
        if name not in wanted:
            continue
        models.append({"name": name, "kind": "run", "entry": entry or "main",
                       "source": src, "inputs": inputs, "rtol": 1e-5,
                       "what": {"fp": "FP", "q": "1-bit",
                                "q8": "1-bit, int8 head"}[name] +
                               " model, @main vs the CPU"})
    # KD train steps (test/Training/train-device.test): the torch export as
    # the teacher, its 1-bit student's generated step, 3 steps.
    if "train" in wanted and a.set == "llama":
        step = os.path.join(work, "step.mlirbc")
        text = os.path.join(work, "llama.mlir")
        # The step finds the decoder layers by their names: keep locations.
        tool("onebit-translate", "--import-onnx", onnx,
             "--mlir-print-debuginfo", "-o", text)
        tool("onebit-opt", text, "--onebit-quantize=keep-teacher=true",
             "--onebit-build-train-step", "--emit-bytecode", "-o", step)
        models.append({"name": "train", "kind": "train", "source": step,
                       "entries": "main_train_init,main_train_step",
                       "inputs": inputs, "steps": 3, "lr": TRAIN_LR,
                       "rtol": 1e-4,
                       "what": "3 KD train steps of the 1-bit student, "
                               "losses and parameters vs the CPU"})
    # Generation with the KV cache.
    if "generate" in wanted:
        gguf2 = os.path.join(work, "gen.gguf")
        sh(py, tiny_llama, gguf2, "--layers",
           "2" if a.set == "llama" else "1")
        gen = os.path.join(work, "gen.mlirbc")
        genq = os.path.join(work, "genq.mlirbc")
        tool("onebit-translate", "--import-gguf", "--kv-cache", gguf2,
             "--emit-bytecode", "-o", gen)
        tool("onebit-opt", gen, "--onebit-quantize", "--emit-bytecode", "-o",
             genq)
        models.append({"name": "generate", "kind": "generate",
                       "source": genq, "entries": "prefill,decode",
                       "prompt": [1, 5, 9, 2, 7], "max_tokens": 16,
                       "context": 64, "rtol": 1e-5,
                       "what": "1-bit model, 16 greedy tokens with the KV "
                               "cache vs the CPU"})
    if not models:
        sys.exit("gpu_bundle_models: no model to prepare (--models %s with "
                 "--set %s)" % (a.models, a.set))

    api = Api(os.path.join(a.build, "lib"))
    for m in models:
        src = m.pop("source")
        entries = m.pop("entries", m.get("entry"))
        m["cuda"] = m["name"] + ".cuda.onebit"
        cpu = os.path.join(work, m["name"] + ".cpu.onebit")
        common = ["--entries", entries, "--target-cpu", a.target_cpu]
        if a.no_cuda:
            del m["cuda"]
        else:
            tool("onebit-compile", src, "--device", "cuda", "--chip", a.chip,
                 *common, "-o", os.path.join(out, m["cuda"]))
        tool("onebit-compile", src, *common, "-o", cpu)
        if a.keep_cpu or a.no_cuda:
            m["cpu"] = m["name"] + ".cpu.onebit"
            subprocess.run(["cp", cpu, os.path.join(out, m["cpu"])],
                           check=True)
        model = api.load(cpu)
        try:
            if m["kind"] == "run":
                results = api.run(model, m["entry"],
                                  [load(out, t) for t in m["inputs"]])
                m["expected"] = [
                    save(out, "%s.cpu%d.bin" % (m["name"], k), *r)
                    for k, r in enumerate(results)]
            elif m["kind"] == "train":
                losses, params = api.train(model, load(out, m["inputs"][0]),
                                           m["steps"], m["lr"])
                m["expected_losses"] = losses
                m["expected_params"] = [
                    save(out, "%s.cpu-param%d.bin" % (m["name"], k), *p)
                    for k, p in enumerate(params)]
            else:
                tokens, logits = api.generate(model, m["prompt"],
                                              m["max_tokens"], m["context"])
                m["expected_tokens"] = tokens
                m["expected_logits"] = save(out, m["name"] + ".cpu-logits.bin",
                                            F32, [len(logits)], logits)
        finally:
            api.lib.onebit_model_free(model)
        print("gpu_bundle_models: %s: %s, CPU results recorded" % (
            m["name"], m["what"]))
    with open(os.path.join(out, "models.json"), "w") as f:
        json.dump({"chip": a.chip, "set": a.set, "models": models}, f,
                  indent=1)
    subprocess.run(["rm", "-rf", work])


# ---- check (there) ---------------------------------------------------------

def check(a):
    folder = os.path.abspath(a.dir)
    with open(os.path.join(folder, "models.json")) as f:
        spec = json.load(f)
    try:
        api = Api(a.lib)
    except OSError as e:
        print("FAIL: the C API cannot be loaded from %s: %s" % (a.lib, e))
        return 1
    failed = 0
    for m in spec["models"]:
        name = m["name"]
        try:
            model = api.load(os.path.join(folder, m["cpu" if a.cpu else
                                                     "cuda"]))
        except RuntimeError as e:
            print("FAIL: %s: %s" % (name, e))
            failed += 1
            continue
        try:
            if m["kind"] == "run":
                got = api.run(model, m["entry"],
                              [load(folder, t) for t in m["inputs"]])
                worst = 0.0
                for (dtype, shape, data), want in zip(got, m["expected"]):
                    _, wshape, wdata = load(folder, want)
                    if shape != wshape:
                        raise RuntimeError("shape %s, the CPU's %s" %
                                           (shape, wshape))
                    worst = max(worst, rel_err(data, wdata))
                verdict = "ok" if worst <= m["rtol"] else "FAIL"
                print("%s: %s: GPU matches CPU (%s), rel_err=%.2e (tolerance "
                      "%.0e)" % (verdict, name, m["what"], worst, m["rtol"])
                      if verdict == "ok" else
                      "FAIL: %s: rel_err=%.2e over %.0e (%s)" %
                      (name, worst, m["rtol"], m["what"]))
                failed += verdict != "ok"
            elif m["kind"] == "train":
                losses, params = api.train(model, load(folder,
                                                       m["inputs"][0]),
                                           m["steps"], m["lr"])
                loss_err = max(
                    rel_err([g], [w])
                    for got, want in zip(losses, m["expected_losses"])
                    for g, w in zip(got, want))
                param_err = 0.0
                for (_, shape, data), want in zip(params,
                                                  m["expected_params"]):
                    _, wshape, wdata = load(folder, want)
                    if shape != wshape:
                        raise RuntimeError("parameter shape %s, the CPU's %s"
                                           % (shape, wshape))
                    param_err = max(param_err, rel_err(data, wdata))
                ok = (len(losses) == len(m["expected_losses"]) and
                      max(loss_err, param_err) <= m["rtol"])
                print("%s: %s: %d steps, losses rel_err=%.2e, %d parameters "
                      "rel_err=%.2e (tolerance %.0e; %s)" % (
                          "ok" if ok else "FAIL", name, len(losses), loss_err,
                          len(params), param_err, m["rtol"], m["what"]))
                failed += not ok
            else:
                tokens, logits = api.generate(model, m["prompt"],
                                              m["max_tokens"], m["context"])
                _, _, want = load(folder, m["expected_logits"])
                err = rel_err(logits, want)
                same = tokens == m["expected_tokens"]
                if same and err <= m["rtol"]:
                    print("ok: %s: %d tokens equal the CPU's, prompt logits "
                          "rel_err=%.2e (%s)" % (name, len(tokens), err,
                                                 m["what"]))
                else:
                    print("FAIL: %s: tokens %s, the CPU's %s; prompt logits "
                          "rel_err=%.2e" % (name, tokens,
                                            m["expected_tokens"], err))
                    failed += 1
        except RuntimeError as e:
            print("FAIL: %s: %s" % (name, e))
            failed += 1
        finally:
            api.lib.onebit_model_free(model)
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("dir")
    p.add_argument("--build", required=True)
    p.add_argument("--chip", default="sm_90")
    p.add_argument("--set", choices=["llama", "tiny"], default="llama")
    # The GPU machine's CPU is not this one: AVX2 is the safe floor.
    p.add_argument("--target-cpu", default="x86-64-v3")
    p.add_argument("--models", default="fp,q,q8,train,generate",
                   help="which models (train: --set llama only)")
    p.add_argument("--no-cuda", action="store_true",
                   help="no cuda artifacts, only the CPU ones (kept): a "
                        "test of this script that skips the GPU compile")
    p.add_argument("--keep-cpu", action="store_true",
                   help="keep the CPU artifacts too (check --cpu runs them: "
                        "a test of this script without a GPU)")
    c = sub.add_parser("check")
    c.add_argument("dir")
    c.add_argument("--lib", required=True)
    c.add_argument("--cpu", action="store_true",
                   help="run the CPU artifacts kept by prepare --keep-cpu")
    a = ap.parse_args()
    if a.command == "prepare":
        prepare(a)
        return 0
    return check(a)


if __name__ == "__main__":
    sys.exit(main())
