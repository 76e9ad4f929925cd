"""The example script (python/onebit/examples) runs and its checks pass."""
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_export_and_quantize_example(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    script = ROOT / "python" / "onebit" / "examples" / "export_and_quantize.py"
    r = subprocess.run([sys.executable, str(script), str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "FP model through onebit vs torch: max relative error" in r.stdout
    assert "14 layers quantized, 1 kept FP" in r.stdout
    assert (tmp_path / "llama.onebit.mlirbc").exists()
