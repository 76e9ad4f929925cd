"""SIGKILLs onebit-train from outside right after step N.

    kill_after_step.py N OUT_DIR REFERENCE_STDERR -- onebit-train ... --out OUT_DIR

A step of the test model takes well under a millisecond, so the kill cannot
race the trainer: the trainer is held instead. Its stderr is a one-page pipe
that this script never reads, pre-filled so that the trainer can write what
it writes before the "step N/T ..." progress line and part of that line, not
all of it. That line is the first write after step N is logged and its
checkpoint (if due) written; the trainer blocks in it, and is killed there.
REFERENCE_STDERR is the stderr of an identical, uninterrupted run: it gives
the byte counts (run to run, only timings' digits differ, and the margin is
half a progress line).

Checked after the kill: the trainer was blocked writing to stderr, what it
wrote ends just before the "step N/" line, and OUT_DIR/train.jsonl holds
exactly steps 1..N, the state of a crash right after step N. Prints "killed
after step N".
"""
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time

PAGE = 4096


def fail(message):
    sys.exit("kill_after_step.py: " + message)


def logged_steps(path):
    try:
        with open(path) as f:
            return [json.loads(l)["step"] for l in f if l.endswith("\n")]
    except FileNotFoundError:
        return []


def blocked_on_stderr(pid):
    """Whether the main thread sleeps in write(2, ...)."""
    try:
        with open(f"/proc/{pid}/syscall") as f:
            fields = f.read().split()
        return fields[:2] == ["1", "0x2"]
    except OSError:
        with open(f"/proc/{pid}/wchan") as f:
            return "pipe_write" in f.read()


def main():
    if len(sys.argv) < 6 or sys.argv[4] != "--":
        fail("usage: kill_after_step.py N OUT_DIR REFERENCE_STDERR -- CMD...")
    step, out, reference = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    cmd = sys.argv[5:]
    ref = open(reference, "rb").read()
    line = re.search(rb"^step %d/[^\n]*" % step, ref, re.M)
    if not line:
        fail(f"no 'step {step}/' line in {reference}")
    room = line.start() + (line.end() - line.start()) // 2
    if room >= PAGE:
        fail(f"{reference} has {room} bytes before the cut, over a page")

    r, w = os.pipe()
    fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, PAGE)
    if fcntl.fcntl(w, fcntl.F_GETPIPE_SZ) != PAGE:
        fail("cannot make a one-page pipe")
    os.write(w, b"\0" * (PAGE - room))
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=w)
    os.close(w)
    log = os.path.join(out, "train.jsonl")
    # The trainer runs until it blocks on stderr (or ends, which is a
    # failure: the pipe was not full where it should have been).
    blocked_since = None
    while proc.poll() is None:
        if blocked_on_stderr(proc.pid):
            blocked_since = blocked_since or time.monotonic()
            if time.monotonic() - blocked_since > 1.0:
                break
        else:
            blocked_since = None
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    rc = proc.wait()
    written = os.read(r, 2 * PAGE).lstrip(b"\0").decode(errors="replace")
    if rc != -signal.SIGKILL:
        fail(f"onebit-train ended (exit code {rc}) before the kill:\n"
             + written)
    if not re.search(r"(^|\n)step %d/[^\n]*\n$" % (step - 1), written):
        fail(f"onebit-train was not held right before its 'step {step}/' "
             f"line; it wrote:\n{written}")
    steps = logged_steps(log)
    if steps != list(range(1, step + 1)):
        fail(f"{log} holds steps {steps}, not 1..{step}")
    print(f"killed after step {step}")


if __name__ == "__main__":
    main()
