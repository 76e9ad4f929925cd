"""Model.generate: KV-cache decoding from Python, checked against a greedy
loop over the full forward."""
import importlib.util
import re
import subprocess
import sys

import numpy as np
import pytest

import onebit
from conftest import ROOT

pytest.importorskip("gguf")


@pytest.fixture
def tiny_gguf(tmp_path):
    path = tmp_path / "tiny.gguf"
    subprocess.check_call([sys.executable, str(
        ROOT / "test" / "Generation" / "Inputs" / "make_tiny_llama.py"),
        str(path), "--layers", "2"])
    return path


def greedy_recompute(model, prompt, n):
    """The reference: the full forward over the whole sequence per token."""
    f = model.compile(entry="main")
    ids = list(prompt)
    for _ in range(n):
        logits = f(np.array([ids], dtype=np.int64))
        ids.append(int(np.argmax(logits[0, -1])))
    return ids[len(prompt):]


def test_generate_matches_recompute(tiny_gguf):
    m = onebit.load(tiny_gguf, kv_cache=True)
    assert {"main", "prefill", "decode"} <= set(m.functions)
    prompt = [3, 1, 4, 1, 5]
    got = list(m.generate(prompt_ids=prompt, max_tokens=24))
    assert got == greedy_recompute(m, prompt, 24)
    # The compiled entries are reused; a second call gives the same tokens.
    assert list(m.generate(prompt_ids=prompt, max_tokens=24)) == got
    # A quantized copy keeps its cache entries. Decode (one activation row)
    # and the full forward (many rows) run different 1-bit kernels; EXACT
    # makes both FP32-exact, so the greedy tokens must match.
    q = m.quantize()
    onebit.set_kernel_mode("exact")
    try:
        assert list(q.generate(prompt_ids=prompt, max_tokens=16)) == \
            greedy_recompute(q, prompt, 16)
    finally:
        onebit.set_kernel_mode("int16")


def test_f16_cache_generates_the_recomputed_tokens(tiny_gguf):
    """kv_cache_type="f16": caches of f16 (what onebit-translate
    --kv-cache-type=f16 makes); on the tiny model the greedy tokens are
    those of recomputation in f32. A type onebit has no cache for is refused."""
    m = onebit.load(tiny_gguf, kv_cache=True, kv_cache_type="f16")
    assert re.search(r"k_cache.*tensor<\d+x\?x\?x\d+x\d+xf16>", str(m))
    prompt = [3, 1, 4, 1, 5]
    assert list(m.generate(prompt_ids=prompt, max_tokens=24)) == \
        greedy_recompute(m, prompt, 24)
    with pytest.raises(ValueError, match="kv_cache_type must be 'f32' or "
                       "'f16', not 'q8'"):
        onebit.load(tiny_gguf, kv_cache=True, kv_cache_type="q8")


def test_generate_streams_and_samples(tiny_gguf):
    m = onebit.load(tiny_gguf, kv_cache=True)
    it = m.generate(prompt_ids=[1, 2], max_tokens=8, temperature=0.8,
                    top_k=10, top_p=0.9, seed=3)
    first = next(it)
    assert 0 <= first < 256
    rest = list(it)
    assert len(rest) == 7
    again = list(m.generate(prompt_ids=[1, 2], max_tokens=8, temperature=0.8,
                            top_k=10, top_p=0.9, seed=3))
    assert again == [first] + rest


def test_generate_errors(tiny_gguf):
    plain = onebit.load(tiny_gguf)
    with pytest.raises(onebit.Error, match="no KV-cache entries"):
        list(plain.generate(prompt_ids=[1]))
    m = onebit.load(tiny_gguf, kv_cache=True)
    with pytest.raises(onebit.Error, match="carries no tokenizer"):
        list(m.generate("hello"))
    with pytest.raises(onebit.Error, match="outside the model's vocabulary"):
        list(m.generate(prompt_ids=[1, 999]))
    with pytest.raises(onebit.Error, match="do not fit the context"):
        list(m.generate(prompt_ids=[1, 2, 3], max_tokens=10, ctx=8))
    with pytest.raises(ValueError, match="top-p"):
        list(m.generate(prompt_ids=[1], top_p=0))
    with pytest.raises(ValueError, match="exactly one"):
        list(m.generate())


def test_generate_onnx_with_past(tmp_path):
    """A torch.onnx export with past key/values (test/e2e/models.py --past,
    GQA) generates torch's own cached greedy tokens; an ONNX model without a
    cache is refused when loaded with kv_cache=True."""
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    sys.path.insert(0, str(ROOT / "test" / "e2e"))
    import models
    path = tmp_path / "llama_past.onnx"
    torch_model = models.export_past("llama", str(path))
    m = onebit.load(path, kv_cache=True)
    assert {"main", "prefill", "decode"} <= set(m.functions)
    prompt = [3, 14, 15, 9, 26]
    want, _ = models.greedy(torch_model, prompt, 16)
    assert list(m.generate(prompt_ids=prompt, max_tokens=16)) == want
    plain = tmp_path / "llama.onnx"
    models.export("llama", str(plain), dynamic=True)
    with pytest.raises(onebit.Error, match="no KV cache onebit can recognise"):
        onebit.load(plain, kv_cache=True)
