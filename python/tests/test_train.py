"""onebit.train and onebit.evaluate: the runtime of onebit-train/onebit-eval."""
import json
import re
import subprocess

import numpy as np
import pytest

import onebit


def test_train_with_callback_then_evaluate(tiny_llama_onnx, tmp_path,
                                           onebit_eval):
    seen = []
    run = onebit.train(tiny_llama_onnx, data="gen:8", steps=3, lr=1e-3,
                       out=tmp_path / "run", threads=1,
                       trainable=["norms", "head"],
                       callback=lambda s: seen.append(s))
    assert [s.step for s in seen] == [1, 2, 3]
    assert all(np.isfinite([s.loss, s.l_ce, s.l_mse]).all() for s in seen)
    assert all(abs(s.loss - (s.l_ce + s.l_mse)) < 1e-4 for s in seen)
    assert run.final_loss == pytest.approx(seen[-1].loss, rel=1e-6)
    log = [json.loads(l) for l in open(run.log_path)]
    assert [r["step"] for r in log] == [1, 2, 3]
    assert log[-1]["loss"] == pytest.approx(seen[-1].loss, rel=1e-6)

    # The packed model evaluates to the same perplexity in Python and in
    # onebit-eval.
    tokens = np.random.default_rng(0).integers(0, 64, 100).astype(np.int64)
    np.save(tmp_path / "t.npy", tokens)
    ppl = onebit.evaluate(run.model_path, tokens=tokens.tolist())
    assert ppl.windows == 12 and ppl.predicted_tokens == 84
    out = subprocess.run([str(onebit_eval), run.model_path, "--tokens",
                          str(tmp_path / "t.npy")], capture_output=True,
                         text=True, check=True).stdout
    cli = float(out.split("perplexity:")[1].split()[0])
    assert ppl.perplexity == pytest.approx(cli, abs=1e-4)
    # A model object works too, and the 1-bit model is 1-bit.
    m = onebit.load(run.model_path)
    assert "onebit.binary_linear" in str(m)
    # trainable=["norms", ...]: the packed model holds the trained norm
    # weights, not the teacher's (blobs compared past their alignment word).
    def blob(text, name):
        found = re.search(re.escape(name) + r'(_\d+)?: "0x([0-9A-F]+)"', text)
        assert found, name
        return found.group(2)[8:]
    name = "model.layers.0.input_layernorm.weight"
    assert blob(str(m), name) != blob(str(onebit.load(tiny_llama_onnx)), name)
    assert onebit.evaluate(m, tokens=tokens.tolist()).perplexity == \
        pytest.approx(ppl.perplexity, rel=1e-12)


def test_callback_stops_and_errors_propagate(tiny_llama_onnx, tmp_path):
    run = onebit.train(tiny_llama_onnx, data="gen:8", steps=5, lr=1e-3,
                       out=tmp_path / "stop", callback=lambda s: s.step < 2)
    assert len(open(run.log_path).readlines()) == 2

    class Boom(Exception):
        pass

    def explode(step):
        raise Boom("from the callback")

    with pytest.raises(Boom):
        onebit.train(tiny_llama_onnx, data="gen:8", steps=3,
                     out=tmp_path / "boom", callback=explode)
    with pytest.raises(onebit.Error, match="does not exist"):
        onebit.train(tmp_path / "missing.onnx", data="gen:8", steps=1,
                     out=tmp_path / "x")
    with pytest.raises(onebit.Error, match="--lr must be a positive"):
        onebit.train(tiny_llama_onnx, data="gen:8", steps=1, lr=-1.0,
                     out=tmp_path / "x")
    with pytest.raises(onebit.Error, match="fewer than one window"):
        onebit.evaluate(tiny_llama_onnx, tokens=[1, 2, 3])
    with pytest.raises(ValueError):
        onebit.evaluate(tiny_llama_onnx)


def test_train_device(tiny_llama_onnx, tmp_path):
    # The extension has no CUDA runtime: cuda is refused before any work,
    # like compile(device="cuda"); gpu-emulation is checked against the CPU
    # step by test/Training/train-device.test.
    with pytest.raises(onebit.Error, match="device 'cuda' is not available"):
        onebit.train(tiny_llama_onnx, data="gen:8", steps=1,
                     out=tmp_path / "cuda", device="cuda")
    assert not (tmp_path / "cuda").exists()


def test_mse_last_layer(tiny_llama_onnx, tmp_path):
    # mse_last_layer=False compares the inputs of the layers (the reference
    # code's set): on the same first batch L_CE is the same and L_MSE, now
    # one layer's output instead of two, is smaller.
    ids = (np.arange(32, dtype=np.int64) * 7 % 64).reshape(4, 8)
    np.save(tmp_path / "ids.npy", ids)
    first = {}
    for last in (True, False):
        onebit.train(tiny_llama_onnx, data=f"tokens:{tmp_path / 'ids.npy'}",
                     steps=1, out=tmp_path / f"run-{last}", threads=1,
                     mse_last_layer=last,
                     callback=lambda s, last=last: first.update({last: s}))
    assert first[False].l_ce == pytest.approx(first[True].l_ce, rel=1e-6)
    assert 0 < first[False].l_mse < first[True].l_mse


def _losses_and_notes(model, tmp_path, name, capfd, **options):
    """The per-step losses and the printed notes of 4 steps on fixed tokens,
    one process, with `options` added."""
    ids = tmp_path / "ids.npy"
    if not ids.exists():
        tokens = np.random.default_rng(1).integers(0, 64, (16, 8))
        np.save(ids, tokens.astype(np.int64))
    losses = []
    capfd.readouterr()
    onebit.train(model, data=f"tokens:{ids}", steps=4, lr=1e-3, batch=2,
                 seq_len=8, threads=1, distributed="none", quiet=False,
                 out=tmp_path / name,
                 callback=lambda s: losses.append(s.loss), **options)
    assert len(losses) == 4
    return losses, capfd.readouterr().err


def test_shard_optimizer_single_process(tiny_llama_onnx, tmp_path, capfd):
    # One process with the optimizer state "sharded" over itself: the slice
    # update (@main_apply_update_slice over the parameters laid end to end)
    # gives the losses of the fused step.
    fused, notes = _losses_and_notes(tiny_llama_onnx, tmp_path, "fused", capfd)
    assert "optimizer state sharded" not in notes
    sharded, notes = _losses_and_notes(tiny_llama_onnx, tmp_path, "sharded",
                                       capfd, shard_optimizer=True)
    assert "optimizer state sharded over 1 rank(s)" in notes
    assert sharded == pytest.approx(fused, rel=1e-5)


def test_checkpoint_activations(tiny_llama_onnx, tmp_path, capfd):
    # Recomputing each layer's forward in its backward trains the same
    # model: the losses of the saved-activation step.
    saved, notes = _losses_and_notes(tiny_llama_onnx, tmp_path, "saved", capfd)
    assert "activation checkpointing" not in notes
    recomputed, notes = _losses_and_notes(tiny_llama_onnx, tmp_path, "ckpt",
                                          capfd, checkpoint_activations=True)
    assert re.search(r"activation checkpointing: [1-9][0-9]* layer form",
                     notes), notes
    assert recomputed == pytest.approx(saved, rel=1e-5)
