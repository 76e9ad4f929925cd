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
config.substitutions.append(("%shlibext", config.llvm_shlib_ext))
config.substitutions.append(("%onebit_src_root", config.onebit_src_root))

llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP",
                                     "VIRTUAL_ENV"])
llvm_config.use_default_substitutions()

# Python with the test-tool packages (numpy, ...) when scripts/test.sh made a
# virtual environment; the plain interpreter otherwise.
venv_python = os.path.join(config.onebit_src_root, ".venv", "bin", "python")
python = venv_python if os.path.exists(venv_python) else config.python_executable
config.substitutions.append(("%python", python))
try:
    import subprocess
    subprocess.check_call([python, "-c", "import numpy"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    config.available_features.add("numpy")
except Exception:
    pass

tool_dirs = [config.onebit_tools_dir, config.llvm_tools_dir]
tools = ["onebit-opt"]
llvm_config.add_tool_substitutions(tools, tool_dirs)
