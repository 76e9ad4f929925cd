"""The verdicts of the GPU-mode checks (gpu_run_check.py,
cuda_generate_check.py, device_check.py): printed for FileCheck and appended
to WORKDIR/result.txt, which scripts/gpu-check.sh reads since FileCheck
consumes the output; and the one rule for a device run that failed."""
import os


class Verdicts:
    def __init__(self, work, prefix=""):
        self.path = os.path.join(work, "result.txt")
        self.prefix = prefix

    def say(self, line):
        print(line)
        with open(self.path, "a") as f:
            f.write(self.prefix + line + "\n")

    def device_failed(self, tool, stderr):
        """The exit status for a --device=cuda run of `tool` that failed:
        0 when it stopped with the tool's no-driver/GPU message (printed), 1
        for any other failure, or for that message under ONEBIT_REQUIRE_GPU=1
        (a GPU machine, where the message means the GPU went unused)."""
        lines = stderr.strip().splitlines()
        msg = lines[-1] if lines else ""
        self.say(msg)
        no_gpu = msg.startswith(f"{tool}: error: ") and \
            "--device=cuda: no CUDA driver/GPU found (" in msg
        if no_gpu and os.environ.get("ONEBIT_REQUIRE_GPU") == "1":
            self.say("FAIL: ONEBIT_REQUIRE_GPU=1 but no GPU was found")
            return 1
        return 0 if no_gpu else 1
