"""What the Python benchmarks share: the CPU they ran on, how they time a
stage (wall seconds and peak RSS under /usr/bin/time), and how they hand
over their table (printed, and written to --out when given)."""
import os
import platform
import subprocess
import sys
import time


def cpu_name():
    """The CPU's model name from /proc/cpuinfo, as figures must name it."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def emit(text, out=None):
    """Prints `text` and writes it to `out` when given."""
    print(text)
    if out:
        with open(out, "w") as f:
            f.write(text)


def timed(cmd, what, log=None):
    """Runs `cmd` under /usr/bin/time; returns (wall s, max RSS in bytes,
    stdout+stderr text). Exits naming `what` on failure, after printing the
    output's tail."""
    tfile = os.path.join(os.environ.get("TMPDIR", "/tmp"),
                         f"onebit-bench.{os.getpid()}.time")
    if log:
        log("$ " + " ".join(cmd))
    start = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", tfile] + cmd,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    wall = time.monotonic() - start
    if p.returncode != 0:
        sys.stderr.write(p.stdout[-4000:])
        sys.exit(f"{what} failed (exit {p.returncode})")
    with open(tfile) as f:
        fields = f.read().split()
    os.unlink(tfile)
    return wall, int(fields[-1]) * 1024, p.stdout
