"""The onebit Python API: loading, printing, saving, quantizing, errors."""
import re
import subprocess

import pytest

import onebit


def test_load_print_save_roundtrip(example_mlir, tmp_path):
    m = onebit.load(example_mlir)
    assert m.functions == ["main"]
    text = str(m)
    assert "linalg.matmul" in text and "lm_head.weight" in text
    for name in ["copy.mlir", "copy.mlirbc"]:
        m.save(tmp_path / name)
        again = onebit.load(tmp_path / name)
        assert str(again) == text


def test_quantize_returns_new_model_and_stats(example_mlir):
    m = onebit.load(example_mlir)
    q = m.quantize(init="nmf")
    assert m.stats is None and "onebit.binary_linear" not in str(m)
    assert str(q).count("onebit.binary_linear") == 3
    names = [l.name for l in q.stats.layers]
    assert names == ["model.layers.0.mlp.gate_proj.weight",
                     "model.layers.0.mlp.up_proj.weight",
                     "model.layers.0.mlp.down_proj.weight"]
    for l in q.stats.layers:
        assert isinstance(l, onebit.LayerStats)
        assert 0.0 < l.rel_error < 1.0
        # 64x32 / 32x64 layers: 1 bit + 32 bits * (64 + 32) / 2048.
        assert l.bits_per_weight == pytest.approx(2.5)
    assert [(s.name, s.reason) for s in q.stats.skipped] == \
        [("lm_head.weight", "head")]
    assert q.stats.bytes_after < q.stats.bytes_before


def test_int8_weights_deployment_form(example_mlir):
    import numpy as np
    m = onebit.load(example_mlir)
    q = m.quantize(init="nmf")
    d = q.int8_weights()
    text = str(d)
    assert "onebit.int8_linear" not in str(q)
    assert text.count("onebit.int8_linear") == 1
    assert "lm_head.weight.int8" in text
    assert text.count("onebit.binary_linear") == 3
    # Same results as the FP head up to the int8 rounding of its weights.
    rng = np.random.default_rng(0)
    args = [rng.standard_normal(s).astype(dtype)
            for s, dtype in _entry_inputs(q)]
    want = q.compile()(*args)
    got = d.compile()(*args)
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 2e-2 * np.abs(want).max()


def _entry_inputs(model):
    """(shape, dtype) of the entry's arguments, read from the printed IR."""
    import numpy as np
    sig = re.search(r"func.func @main\(([^)]*)\)", str(model)).group(1)
    out = []
    for t in re.findall(r"tensor<([^>]*)>", sig):
        *dims, et = t.split("x")
        out.append((tuple(int(x) for x in dims),
                    {"f32": np.float32, "i64": np.int64}[et]))
    return out


def test_stats_equal_the_command_line_report(example_mlir, onebit_opt):
    q = onebit.load(example_mlir).quantize(init="svd", keep_head=False)
    res = subprocess.run(
        [str(onebit_opt), str(example_mlir),
         "--onebit-quantize=init=svd keep-head=false stats=true",
         "-o", "/dev/null"], capture_output=True, text=True, check=True)
    cli = {m.group(1): float(m.group(2)) for m in re.finditer(
        r"layer '([^']+)' .* rel_error=([0-9.]+)", res.stderr)}
    assert set(cli) == {l.name for l in q.stats.layers}
    for l in q.stats.layers:
        assert l.rel_error == pytest.approx(cli[l.name], abs=1e-6)


def test_selection_options(example_mlir):
    m = onebit.load(example_mlir)
    q = m.quantize(exclude=["*up_proj*"], keep_head=False)
    assert {l.name for l in q.stats.layers} == {
        "model.layers.0.mlp.gate_proj.weight",
        "model.layers.0.mlp.down_proj.weight", "lm_head.weight"}
    assert [s.reason for s in q.stats.skipped] == ["excluded"]
    q = m.quantize(min_elements=10**9, keep_head=False)
    assert q.stats.layers == []
    q = m.quantize(post_norm=False, value_type="f16", keep_head=False)
    assert "norm_eps" not in str(q) and "tensor<32xf16>" in str(q)


def test_errors_raise_with_diagnostics(example_mlir, tmp_path):
    with pytest.raises(onebit.Error, match="no such file"):
        onebit.load(tmp_path / "missing.mlir")
    bad = tmp_path / "bad.mlir"
    bad.write_text("func.func @f( {")
    with pytest.raises(onebit.Error, match="cannot load"):
        onebit.load(bad)
    m = onebit.load(example_mlir)
    with pytest.raises(onebit.Error, match="unknown init 'pca'"):
        m.quantize(init="pca")
    with pytest.raises(onebit.Error, match="unknown value-type 'f64'"):
        m.quantize(value_type="f64")
    with pytest.raises(onebit.Error, match="cannot write"):
        m.save(tmp_path / "no-such-dir" / "x.mlir")
    assert isinstance(onebit.Error("x"), RuntimeError)


def test_gguf_load_and_quantize(smollm2_gguf):
    m = onebit.load(smollm2_gguf, num_layers=1)
    text = str(m)
    assert "model.layers.0.self_attn.q_proj.weight" in text
    q = m.quantize()
    assert len(q.stats.layers) == 7
    # The tied embedding doubles as the head and stays in full precision.
    assert [(s.name, s.reason) for s in q.stats.skipped] == \
        [("model.embed_tokens.weight", "head")]
    for l in q.stats.layers:  # 1 bit a weight plus f32 g and h
        n, k = l.out_features, l.in_features
        assert l.bits_per_weight == pytest.approx(1 + 32 * (n + k) / (n * k))
    with pytest.raises(onebit.Error, match="exceeds the model's 30 blocks"):
        onebit.load(smollm2_gguf, num_layers=31)


def test_gguf_quantize_at_import(smollm2_gguf, tmp_path):
    # Quantized as it is imported (onebit-translate --quantize): the same
    # model and statistics as importing first, then quantizing.
    opts = dict(init="svd", keep_head=False)
    streamed = onebit.load(smollm2_gguf, num_layers=1, quantize=opts)
    whole = onebit.load(smollm2_gguf, num_layers=1).quantize(**opts)
    assert [(l.name, l.rel_error) for l in streamed.stats.layers] == \
        [(l.name, l.rel_error) for l in whole.stats.layers]
    assert len(streamed.stats.layers) == 8  # 7 projections and the head
    streamed.save(tmp_path / "s.mlirbc")
    whole.save(tmp_path / "w.mlirbc")
    assert (tmp_path / "s.mlirbc").read_bytes() == \
        (tmp_path / "w.mlirbc").read_bytes()
    assert onebit.load(smollm2_gguf, num_layers=1,
                       quantize=True).stats.skipped[0].reason == "head"


def test_quantize_at_import_errors(example_mlir, smollm2_gguf, tmp_path):
    # An MLIR file has no importer: it is loaded, then quantized.
    q = onebit.load(example_mlir, quantize={"init": "svd"})
    assert q.stats.layers
    with pytest.raises(TypeError, match="unknown quantize option.*'?inti"):
        onebit.load(example_mlir, quantize={"inti": "svd"})
    with pytest.raises(onebit.Error, match="no such file"):
        onebit.load(tmp_path / "missing.gguf", quantize=True)
    with pytest.raises(onebit.Error):
        onebit.load(smollm2_gguf, num_layers=1, quantize={"init": "pca"})
    art = tmp_path / "m.onebit"
    onebit.load(example_mlir).save_artifact(art)
    with pytest.raises(ValueError, match="compiled artifact"):
        onebit.load(art, quantize=True)
