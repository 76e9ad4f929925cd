"""onebit: turn a full-precision LLM into a OneBit 1-bit model, in Python.

The package binds the C++ toolchain (the same libraries as the onebit-*
command-line tools); nothing here re-implements compiler logic.

    import onebit
    m = onebit.load("model.gguf")          # or .onnx, .mlir, .mlirbc
    q = m.quantize(init="nmf", keep_head=True)
    for layer in q.stats.layers:
        print(layer.name, layer.rel_error, layer.bits_per_weight)
    q.save("model.onebit.mlirbc")
    f = q.compile(device="cpu")
    logits = f(ids)                        # numpy in, numpy out

    run = onebit.train("teacher.onnx", data="gen:256", steps=300, out="run",
                       callback=lambda s: print(s.step, s.loss))
    print(onebit.evaluate(run.model_path, text="heldout.txt").perplexity)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from os import PathLike, fspath
from typing import (Callable, Iterator, List, Mapping, Optional, Sequence,
                    Union)

from . import _onebit
from ._onebit import Error, Tokenizer

__all__ = ["Artifact", "CompiledModel", "Error", "LayerStats", "Model", "Perplexity",
           "QuantizeStats", "SkippedLayer", "Tokenizer", "TrainResult",
           "TrainStep", "evaluate", "has_fast_kernel", "load",
           "set_kernel_mode", "set_num_threads", "train"]


@dataclass(frozen=True)
class LayerStats:
    """One linear layer rewritten into OneBit form."""
    name: str
    out_features: int
    in_features: int
    iterations: int
    rel_error: float        #: ||W - S.(h g^T)||_F / ||W||_F
    bits_per_weight: float  #: signs plus g and h at their stored width


@dataclass(frozen=True)
class SkippedLayer:
    """A matched linear layer left in full precision, and why."""
    name: str
    out_features: int
    in_features: int
    reason: str  #: "excluded", "head" or "min-elements"


@dataclass(frozen=True)
class QuantizeStats:
    layers: List[LayerStats] = field(default_factory=list)
    skipped: List[SkippedLayer] = field(default_factory=list)
    linear_bits_per_weight: float = 0.0
    model_bits_per_weight: float = 0.0
    bytes_before: int = 0
    bytes_after: int = 0


_QUANTIZE_DEFAULTS = dict(init="nmf", post_norm=True, exclude=(),
                          keep_head=True, min_elements=0, value_type="f32",
                          max_iters=200, tolerance=1e-6, seed=0,
                          norm_eps=1e-5)


def _quantize_config(**options) -> "_onebit.QuantizeConfig":
    unknown = sorted(set(options) - set(_QUANTIZE_DEFAULTS))
    if unknown:
        raise TypeError("unknown quantize option(s): " + ", ".join(unknown) +
                        "; the options are " +
                        ", ".join(sorted(_QUANTIZE_DEFAULTS)))
    values = dict(_QUANTIZE_DEFAULTS, **options)
    cfg = _onebit.QuantizeConfig()
    for name, value in values.items():
        setattr(cfg, name, list(value) if name == "exclude" else value)
    return cfg


def _quantize_stats(raw) -> QuantizeStats:
    return QuantizeStats(
        layers=[LayerStats(*t) for t in raw["layers"]],
        skipped=[SkippedLayer(*t) for t in raw["skipped"]],
        linear_bits_per_weight=raw["linear_bits_per_weight"],
        model_bits_per_weight=raw["model_bits_per_weight"],
        bytes_before=raw["bytes_before"],
        bytes_after=raw["bytes_after"])


class Model:
    """A model held as MLIR (linalg on tensors plus onebit ops)."""

    def __init__(self, impl: "_onebit.Model",
                 stats: Optional[QuantizeStats] = None):
        self._impl = impl
        #: Per-layer statistics when this model came from quantize().
        self.stats = stats

    def __str__(self) -> str:
        return str(self._impl)

    def save(self, path: Union[str, PathLike]) -> None:
        """Writes MLIR bytecode for ``.mlirbc`` paths, text otherwise."""
        self._impl.save(fspath(path))

    def save_artifact(self, path: Union[str, PathLike],
                      target_cpu: str = "native",
                      entries: Sequence[str] = ()) -> None:
        """Compiles the model ahead of time into a ``.onebit`` artifact, as
        ``onebit-compile`` does: ``onebit.load(path)`` (or the C API, or
        ``onebit-generate``) then runs it without compiling. ``target_cpu``
        is ``"native"``, ``"x86-64-v3"`` (any AVX2 machine), ... ;
        ``entries`` defaults to every public function."""
        self._impl.save_artifact(fspath(path), target_cpu, list(entries))

    @property
    def functions(self) -> List[str]:
        return list(self._impl.functions())

    def generate(self, prompt: Optional[str] = None, *,
                 prompt_ids: Optional[Sequence[int]] = None,
                 max_tokens: int = 128, temperature: float = 0.0,
                 top_k: int = 0, top_p: float = 1.0, seed: int = 0,
                 ctx: int = 0, tokenizer: Optional[Tokenizer] = None,
                 stop_at_eos: bool = True) -> Iterator[int]:
        """Yields generated token ids as they are chosen, decoding with the
        model's KV cache (one prefill of the prompt, then one decode step per
        token; see ``onebit-generate``). The model needs its KV-cache entries:
        load a GGUF, or an ONNX decoder exported with past key/values, with
        ``onebit.load(path, kv_cache=True)`` (quantize() and
        int8_weights() keep them). ``prompt`` is text, tokenized with
        ``tokenizer`` or the model's own; ``prompt_ids`` are token ids.
        ``temperature`` 0 is greedy; ``top_k`` 0 and ``top_p`` 1 keep every
        token. ``ctx`` is the cache size in tokens (default: prompt plus
        max_tokens). Generation stops at the tokenizer's EOS when
        ``stop_at_eos``. The compiled entries are kept for the next call."""
        if getattr(self, "_generation_fn", None) is None:
            funcs = self.functions
            if "prefill" not in funcs or "decode" not in funcs:
                raise Error("the model has no KV-cache entries (@prefill and "
                            "@decode): load the GGUF, or the ONNX decoder "
                            "exported with past key/values, with "
                            "onebit.load(path, kv_cache=True)")
            self._generation_fn = self._impl.compile_entries(
                "cpu", ["prefill", "decode"])
        return _generate(self._generation_fn, tokenizer or self.tokenizer(),
                         prompt, prompt_ids, max_tokens, temperature, top_k,
                         top_p, seed, ctx, stop_at_eos)

    def tokenizer(self) -> Optional[Tokenizer]:
        """The tokenizer the model carries (a GGUF import's), or None."""
        return self._impl.tokenizer()

    def compile(self, device: str = "cpu",
                entry: str = "") -> "CompiledModel":
        """Compiles the model for ``device`` with the same pipeline as
        ``onebit-run``: ``"cpu"`` (the host CPU) or ``"gpu-emulation"`` (the
        GPU pipeline's kernels run as host loops, to check their numerics);
        call the result on numpy arrays. On the CPU it goes through the
        tools' compile cache, as ``onebit-run`` does (``ONEBIT_CACHE_DIR``,
        read at each call; ``off`` disables it): a model compiled before
        loads in a fraction of a second."""
        return CompiledModel(self._impl.compile(device, entry))

    def quantize(self, init: str = "nmf", post_norm: bool = True,
                 exclude: Sequence[str] = (), keep_head: bool = True,
                 min_elements: int = 0, value_type: str = "f32",
                 max_iters: int = 200, tolerance: float = 1e-6,
                 seed: int = 0, norm_eps: float = 1e-5) -> "Model":
        """Returns a copy whose linear layers are OneBit layers initialised by
        SVID (see ``onebit-opt --onebit-quantize``); ``.stats`` holds the
        per-layer relative errors and bits per weight."""
        cfg = _quantize_config(
            init=init, post_norm=post_norm, exclude=exclude,
            keep_head=keep_head, min_elements=min_elements,
            value_type=value_type, max_iters=max_iters, tolerance=tolerance,
            seed=seed, norm_eps=norm_eps)
        impl, raw = self._impl.quantize(cfg)
        return Model(impl, _quantize_stats(raw))


    def int8_weights(self, tables: bool = True,
                     min_elements: int = 0) -> "Model":
        """Returns a copy whose remaining full-precision linear layers (the
        logits layer OneBit keeps) are weight-only int8 with per-row scales,
        and, with ``tables``, whose embedding lookups read int8 too (see
        ``onebit-opt --onebit-int8-weights``)."""
        return Model(self._impl.int8_weights(tables, min_elements))


class CompiledModel:
    """A compiled entry function: ``outputs = f(*arrays)``. One result comes
    back as an array, several as a tuple. Inputs must have the dtypes and
    shapes of the entry's signature (onebit.Error otherwise)."""

    def __init__(self, impl: "_onebit.CompiledFunction"):
        self._impl = impl

    def __call__(self, *arrays):
        return self._impl(*arrays)

    @property
    def compile_ms(self) -> float:
        """Start-up time: the JIT compile, or, on the CPU, the compile into
        the compile cache or the load from it (``cache_hit``)."""
        return self._impl.compile_ms

    @property
    def cache_hit(self) -> bool:
        """Whether the compiled code came from the compile cache
        (``ONEBIT_CACHE_DIR``, docs/artifacts.md) instead of a compile."""
        return self._impl.cache_hit


def _generate(fn, tok, prompt, prompt_ids, max_tokens, temperature, top_k,
              top_p, seed, ctx, stop_at_eos):
    """Model.generate and Artifact.generate: prefill, then decode steps."""
    if (prompt is None) == (prompt_ids is None):
        raise ValueError("give exactly one of prompt or prompt_ids")
    if prompt is not None:
        if tok is None:
            raise Error("this model carries no tokenizer: pass "
                        "tokenizer=onebit.Tokenizer(path) or prompt_ids")
        ids = list(tok.encode(prompt))
    else:
        ids = [int(i) for i in prompt_ids]
    context = ctx if ctx > 0 else len(ids) + max_tokens
    g = _onebit.Generation(fn, context, temperature, top_k, top_p, seed)
    eos = tok.eos_id if (stop_at_eos and tok is not None) else -1
    g.start(ids, max_tokens, eos)
    while True:
        t = g.next()
        if t is None or t == eos:
            return
        yield t


class Artifact:
    """A compiled model loaded from a ``.onebit`` file (``onebit-compile``):
    its entries run at once, without compiling."""

    def __init__(self, impl: "_onebit.Artifact"):
        self._impl = impl
        self._generation_fn = None

    @property
    def functions(self) -> List[str]:
        return list(self._impl.functions())

    def tokenizer(self) -> Optional[Tokenizer]:
        """The tokenizer the artifact carries, or None."""
        return self._impl.tokenizer()

    def compile(self, device: str = "cpu",
                entry: str = "") -> "CompiledModel":
        """The entry ``entry`` (default: the only one) as a callable; nothing
        is compiled (``compile_ms`` is 0)."""
        return CompiledModel(self._impl.function(device, entry))

    def generate(self, prompt: Optional[str] = None, *,
                 prompt_ids: Optional[Sequence[int]] = None,
                 max_tokens: int = 128, temperature: float = 0.0,
                 top_k: int = 0, top_p: float = 1.0, seed: int = 0,
                 ctx: int = 0, tokenizer: Optional[Tokenizer] = None,
                 stop_at_eos: bool = True) -> Iterator[int]:
        """As Model.generate, on the artifact's @prefill and @decode."""
        if self._generation_fn is None:
            funcs = self.functions
            if "prefill" not in funcs or "decode" not in funcs:
                raise Error("the artifact has no KV-cache entries (@prefill "
                            "and @decode): compile it from a GGUF model")
            self._generation_fn = self._impl.function("cpu", "prefill")
        return _generate(self._generation_fn, tokenizer or self.tokenizer(),
                         prompt, prompt_ids, max_tokens, temperature, top_k,
                         top_p, seed, ctx, stop_at_eos)


def set_num_threads(n: int) -> None:
    """Threads of the 1-bit kernels (<= 0: all hardware threads)."""
    _onebit.set_num_threads(n)


def set_kernel_mode(mode: str) -> None:
    """Arithmetic of the CPU 1-bit decode kernels (up to 8 activation rows;
    larger ones are always exact): "int16" (the default: the lookup tables
    of every 4 activations rounded to 16-bit integers, one scale per row,
    integer sums; about 3e-5 of a row's largest output off), "exact" (FP32
    tables, ~1e-6 relative; use it for training and reference checks) or
    "fast" (int8 tables: about 1e-2 off). The environment variable
    ONEBIT_KERNEL_MODE sets it at import. Raises ValueError for anything
    else."""
    _onebit.set_kernel_mode(mode)


def has_fast_kernel() -> bool:
    """Whether this CPU has the kernels of set_kernel_mode("int16") and
    ("fast") (AVX2, or AVX-512 with VBMI + VNNI); without them both compute
    exactly."""
    return _onebit.has_fast_kernel()


def load(path: Union[str, PathLike], num_layers: int = -1,
         kv_cache: bool = False,
         kv_cache_type: str = "f32",
         quantize: Union[bool, Mapping[str, object], None] = None
         ) -> Union[Model, Artifact]:
    """Loads ``.mlir``/``.mlirbc`` (MLIR), ``.gguf`` (llama; ``num_layers``
    keeps only the first blocks) or ``.onnx`` models, or a compiled
    ``.onebit`` artifact (an Artifact, which runs without compiling).
    ``kv_cache`` adds the @prefill/@decode entries that Model.generate runs
    to a GGUF model or to an ONNX decoder exported with past key/values (an
    ONNX model without such a cache is refused, saying why).
    ``kv_cache_type="f16"`` gives a GGUF model f16 caches (half the memory
    and the bytes a decode step reads; keys and values rounded).

    ``quantize=True`` (default options) or a dict of ``Model.quantize``'s
    keyword arguments quantizes the linear layers as the model is imported
    (``onebit-translate --quantize``): a GGUF model block by block, an ONNX
    model one weight at a time from its mapped data, so the FP32 model is
    never whole in memory. The result equals ``load(path).quantize(...)``
    and has the same ``.stats``."""
    p = fspath(path)
    if _onebit.is_artifact(p):
        if quantize:
            raise ValueError(
                "'" + p + "' is a compiled artifact; quantize the model it "
                "was compiled from")
        return Artifact(_onebit.Artifact.open(p))
    if not quantize:
        return Model(_onebit.Model.load(p, num_layers, kv_cache,
                                        kv_cache_type))
    options = {} if quantize is True else dict(quantize)
    impl, raw = _onebit.Model.load_quantized(p, num_layers, kv_cache,
                                             kv_cache_type,
                                             _quantize_config(**options))
    return Model(impl, _quantize_stats(raw))


@dataclass(frozen=True)
class TrainStep:
    """What ``train``'s callback receives after every step."""
    step: int
    lr: float
    loss: float
    l_ce: float
    l_mse: float
    seconds: float


@dataclass(frozen=True)
class TrainResult:
    model_path: str     #: the packed 1-bit model (MLIR bytecode)
    final_loss: float
    log_path: str       #: one JSON line per step


def train(teacher: Union[str, PathLike], data: str, steps: int,
          out: Union[str, PathLike], *, lr: float = 4e-4, warmup: int = 0,
          alpha: float = 1.0, init: str = "nmf", batch: int = 0,
          seq_len: int = 0, weight_decay: float = 0.0, threads: int = 0,
          resume: bool = False, checkpoint_every: int = 50, seed: int = 0,
          callback: Optional[Callable[[TrainStep], Optional[bool]]] = None,
          quiet: bool = True, trainable: Sequence[str] = (),
          tokenizer: Optional[Union[str, PathLike]] = None,
          device: str = "cpu", mse_last_layer: bool = True,
          grad_accum: int = 1, distributed: str = "auto",
          collective_timeout: float = 300.0,
          shard_optimizer: bool = False,
          checkpoint_activations: bool = False,
          bucket_mb: float = 25.0) -> TrainResult:
    """Knowledge-distillation training of a OneBit student, the runtime of
    ``onebit-train`` (docs/training.md). ``data`` is ``gen:N``,
    ``text:FILE`` or ``tokens:FILE.npy``. ``callback(step)`` runs after
    every step; returning False stops the run after that step (a checkpoint
    is written). ``trainable`` adds full-precision weights to the trained
    parameters: any of ``"embeddings"``, ``"norms"``, ``"head"`` (default:
    only the 1-bit layers, as in the paper). ``tokenizer`` (a ``.gguf``
    model or a Hugging Face ``tokenizer.json``) tokenizes ``text:FILE``
    data; without it text is byte-level. ``device`` is ``"cpu"`` or
    ``"gpu-emulation"`` (the step's GPU kernels run as host loops, to check
    them; ``onebit-train --device cuda`` runs them on a GPU).
    ``mse_last_layer=False`` leaves the last decoder layer's output out of
    L_MSE, comparing the inputs of the layers as the OneBit reference code
    does (``onebit-train --mse-last-layer=false``). Under ``mpirun`` or
    ``srun`` every rank calls ``train`` with the same arguments and the
    ranks train one model (``distributed``, ``grad_accum``,
    ``collective_timeout``, ``shard_optimizer`` and ``bucket_mb`` as
    onebit-train's ``--distributed``, ``--grad-accum``,
    ``--collective-timeout``, ``--shard-optimizer`` and ``--bucket-mb``;
    docs/training.md, "Data parallel"); only rank 0
    prints and writes. ``checkpoint_activations=True`` recomputes each
    decoder layer's forward in its backward instead of keeping its
    activations (``onebit-train --checkpoint-activations``). Errors raise
    ``onebit.Error``; an exception raised by the callback stops the run and
    propagates."""
    cb = None
    if callback is not None:
        def cb(step, lr_, loss, ce, mse, secs):
            return callback(TrainStep(step, lr_, loss, ce, mse, secs))
    model_path, loss = _onebit.train(
        fspath(teacher), data, steps, fspath(out), lr, warmup, alpha, init,
        batch, seq_len, weight_decay, threads, resume, checkpoint_every, seed,
        cb, quiet, ",".join(trainable),
        fspath(tokenizer) if tokenizer is not None else "", device,
        mse_last_layer, grad_accum, distributed, collective_timeout,
        shard_optimizer, checkpoint_activations, bucket_mb)
    return TrainResult(model_path, loss, fspath(out) + "/train.jsonl")


@dataclass(frozen=True)
class Perplexity:
    perplexity: float
    mean_nll: float
    windows: int
    predicted_tokens: int


def evaluate(model: Union[str, PathLike, Model, CompiledModel], *,
             text: Optional[Union[str, PathLike]] = None,
             tokens: Optional[Sequence[int]] = None,
             tokenizer: Optional[Union[str, PathLike, "Tokenizer"]] = None
             ) -> Perplexity:
    """Perplexity by the GPTQ protocol (the same code as ``onebit-eval``):
    non-overlapping windows of the model's sequence length, tail dropped.
    ``text`` is read as byte-level tokens, or tokenized by ``tokenizer`` (a
    ``Tokenizer``, a ``.gguf`` file or a ``tokenizer.json``); ``tokens`` are
    token ids."""
    if (text is None) == (tokens is None):
        raise ValueError("give exactly one of text= or tokens=")
    if isinstance(model, (str, PathLike)):
        model = load(model)
    if isinstance(model, Model):
        model = model.compile()
    if text is not None:
        if tokenizer is None:
            with open(fspath(text), "rb") as f:
                ids = list(f.read())
        else:
            if not isinstance(tokenizer, Tokenizer):
                tokenizer = Tokenizer(fspath(tokenizer))
            with open(fspath(text), encoding="utf-8") as f:
                ids = tokenizer.encode(f.read())
    else:
        ids = [int(t) for t in tokens]
    ppl, nll, windows, count = _onebit.evaluate_perplexity(model._impl, ids)
    return Perplexity(ppl, nll, windows, count)

