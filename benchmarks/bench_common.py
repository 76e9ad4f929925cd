"""What the Python benchmarks share: the CPU they ran on, and how they hand
over their table (printed, and written to --out when given)."""
import platform


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
