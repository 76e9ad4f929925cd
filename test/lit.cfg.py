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
config.substitutions.append(("%onebit_obj_root", config.onebit_obj_root))

llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP",
                                     "VIRTUAL_ENV"])
llvm_config.use_default_substitutions()

# %python is the interpreter CMake found (Debian's, with numpy/onnx/torch
# from python3-* packages). Tests that need a package REQUIRE its feature.
config.substitutions.append(("%python", config.python_executable))
import subprocess
for module in ["numpy", "onnx", "torch", "sklearn"]:
    try:
        subprocess.check_call([config.python_executable, "-c", "import " + module],
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
        config.available_features.add(module)
    except Exception:
        pass

tool_dirs = [config.onebit_tools_dir, config.llvm_tools_dir]
tools = ["onebit-opt", "not", "count"]
llvm_config.add_tool_substitutions(tools, tool_dirs)
