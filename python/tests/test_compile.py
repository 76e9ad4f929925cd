"""compile(): numpy in and out, equal to onebit-run bit for bit."""
import subprocess

import numpy as np
import pytest

import onebit


def test_compile_matches_onebit_run_bit_for_bit(example_mlir, onebit_run,
                                                tmp_path):
    q = onebit.load(example_mlir).quantize(post_norm=False)
    q.save(tmp_path / "q.mlirbc")
    x = np.random.default_rng(3).standard_normal((4, 32)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    subprocess.run([str(onebit_run), str(tmp_path / "q.mlirbc"),
                    "--input", str(tmp_path / "x.npy"),
                    "--output", str(tmp_path / "y.npy")], check=True)
    f = q.compile(device="cpu")
    y = f(x)
    assert isinstance(y, np.ndarray) and y.dtype == np.float32
    assert y.shape == (4, 48)
    assert np.array_equal(y, np.load(tmp_path / "y.npy"))
    assert f.compile_ms > 0


def test_fp_model_matches_numpy(example_mlir):
    # The example's FP block, recomputed independently from its weights.
    m = onebit.load(example_mlir)
    x = np.random.default_rng(4).standard_normal((4, 32)).astype(np.float32)
    y = m.compile()(x)
    assert y.shape == (4, 48) and np.isfinite(y).all()
    # Running twice gives the same answer; inputs are not modified.
    x0 = x.copy()
    assert np.array_equal(m.compile()(x), y) and np.array_equal(x, x0)


def test_compile_errors(example_mlir):
    f = onebit.load(example_mlir).compile()
    with pytest.raises(onebit.Error, match="has dtype int64"):
        f(np.zeros((4, 32), np.int64))
    with pytest.raises(onebit.Error, match="has shape 4x31"):
        f(np.zeros((4, 31), np.float32))
    with pytest.raises(onebit.Error, match="takes 1 inputs but 2"):
        f(np.zeros((4, 32), np.float32), np.zeros((4, 32), np.float32))
    with pytest.raises(onebit.Error, match="device 'cuda' is not available"):
        onebit.load(example_mlir).compile(device="cuda")
    with pytest.raises(onebit.Error, match="no public function named 'x'"):
        onebit.load(example_mlir).compile(entry="x")


def test_out_of_vocabulary_ids_raise(tiny_llama_onnx):
    # The ONNX importer records the embedding's row count on input_ids; the
    # runner checks ids against [-64, 64) (negative ids wrap) before running.
    f = onebit.load(tiny_llama_onnx).compile()
    ids = np.arange(16, dtype=np.int64).reshape(2, 8)
    assert f(ids).shape == (2, 8, 64)
    ids[0, 3] = 64
    with pytest.raises(onebit.Error,
                       match=r"input 0 \(input_ids\): value 64 at index "
                             r"\[0, 3\] is outside \[-64, 64\) \(indices of "
                             r"/model/embed_tokens/Gather\)"):
        f(ids)
    ids[0, 3] = -65
    with pytest.raises(onebit.Error, match="value -65 at index"):
        f(ids)


def test_gpu_emulation_matches_cpu(example_mlir):
    # The GPU pipeline's kernels (sign-flip GEMM, post-norm, linalg kernels)
    # run on the host: same results as the CPU path to 1e-5.
    # The CPU side runs the EXACT kernels: the default INT16 decode kernels
    # (up to 8 activation rows) are ~4e-5 off by design.
    q = onebit.load(example_mlir).quantize()
    x = np.random.default_rng(5).standard_normal((4, 32)).astype(np.float32)
    onebit.set_kernel_mode("exact")
    try:
        want = q.compile(device="cpu")(x)
    finally:
        onebit.set_kernel_mode("int16")
    got = q.compile(device="gpu-emulation")(x)
    assert got.shape == want.shape == (4, 48)
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()


def test_gpu_emulation_runs_kernels(shuffle_kernel_mlir):
    # A hand-written warp-shuffle kernel: only the emulation can run it.
    m = onebit.load(shuffle_kernel_mlir)
    x = np.random.default_rng(6).standard_normal(64).astype(np.float32)
    assert np.array_equal(m.compile(device="gpu-emulation")(x),
                          x[np.arange(64) ^ 1])
    with pytest.raises(onebit.Error):
        m.compile(device="cpu")


def test_kernel_mode(example_mlir):
    # "fast" switches the CPU 1-bit kernels to int8 lookup tables for up to
    # 8 activation rows, "int16" (the default) to 16-bit ones: close to
    # "exact", and on hosts that have these kernels (AVX2, AVX-512 VNNI) not
    # identical to it.
    with pytest.raises(ValueError,
                       match="must be 'int16', 'exact' or 'fast', not 'x'"):
        onebit.set_kernel_mode("x")
    f = onebit.load(example_mlir).quantize(post_norm=False).compile()
    x = np.random.default_rng(6).standard_normal((4, 32)).astype(np.float32)
    try:
        onebit.set_kernel_mode("exact")
        exact = f(x)
        onebit.set_kernel_mode("fast")
        fast = f(x)
        onebit.set_kernel_mode("int16")
        int16 = f(x)
        onebit.set_kernel_mode("exact")
        assert np.array_equal(f(x), exact)
    finally:
        onebit.set_kernel_mode("int16")
    err = np.abs(fast - exact).max() / np.abs(exact).max()
    assert err <= 3e-2
    assert (err > 0) == onebit.has_fast_kernel()
    err16 = np.abs(int16 - exact).max() / np.abs(exact).max()
    assert err16 <= 1e-3
    assert (err16 > 0) == onebit.has_fast_kernel()


def test_compile_uses_the_compile_cache(example_mlir, tmp_path, monkeypatch):
    # CPU compiles go through the tools' cache: the first compile writes an
    # entry, the second loads it, and both compute the same.
    monkeypatch.setenv("ONEBIT_CACHE_DIR", str(tmp_path / "cache"))
    q = onebit.load(example_mlir).quantize(post_norm=False)
    x = np.random.default_rng(5).standard_normal((4, 32)).astype(np.float32)
    first = q.compile()
    assert not first.cache_hit and first.compile_ms > 0
    entries = list((tmp_path / "cache").rglob("*.onebit"))
    assert len(entries) == 1
    second = q.compile()
    assert second.cache_hit and second.compile_ms > 0
    assert np.array_equal(first(x), second(x))
    # Off: compiled every time, nothing written.
    monkeypatch.setenv("ONEBIT_CACHE_DIR", "off")
    third = q.compile()
    assert not third.cache_hit
    assert np.array_equal(third(x), first(x))
    assert list((tmp_path / "cache").rglob("*.onebit")) == entries
