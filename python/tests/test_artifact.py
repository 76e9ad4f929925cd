"""Artifacts from Python: Model.save_artifact compiles ahead of time and
onebit.load of the .onebit file runs and generates what the JIT does,
without compiling."""
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
        str(path), "--layers", "2", "--vocab", "260", "--tokenizer"])
    return path


def test_artifact_generates_like_the_jit(tiny_gguf, tmp_path):
    m = onebit.load(tiny_gguf, kv_cache=True)
    path = tmp_path / "tiny.onebit"
    m.save_artifact(path)
    a = onebit.load(path)
    assert isinstance(a, onebit.Artifact)
    assert set(a.functions) == {"main", "prefill", "decode"}
    assert a.tokenizer() is not None
    got = list(a.generate("Hello the", max_tokens=16))
    assert got == list(m.generate("Hello the", max_tokens=16))
    assert len(got) == 16
    # The full forward, called like a compiled model.
    ids = np.array([[1, 2, 3, 4]], dtype=np.int64)
    f = a.compile(entry="main")
    assert f.compile_ms == 0
    want = m.compile(entry="main")(ids)
    np.testing.assert_allclose(f(ids), want, rtol=1e-5, atol=1e-5)


def test_artifact_errors(tiny_gguf, tmp_path):
    bad = tmp_path / "text.onebit"
    bad.write_text("hello")
    with pytest.raises(onebit.Error, match="not a onebit artifact"):
        onebit.load(bad)
    m = onebit.load(tiny_gguf, kv_cache=True)
    path = tmp_path / "main.onebit"
    m.save_artifact(path, entries=["main"])
    a = onebit.load(path)
    with pytest.raises(onebit.Error, match="no KV-cache entries"):
        list(a.generate(prompt_ids=[1, 2], max_tokens=2))
    with pytest.raises(onebit.Error, match="no entry 'nosuch'"):
        a.compile(entry="nosuch")
    with pytest.raises(onebit.Error, match="unknown target CPU"):
        m.save_artifact(tmp_path / "x.onebit", target_cpu="pentium9")
