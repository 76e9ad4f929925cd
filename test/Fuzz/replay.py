#!/usr/bin/env python3
"""Replays every input in DIR through a tool, as the default test suite does
with the fuzzers' regression corpus: each run must end by itself (exit code
0 or 1, within the time limit) with no sanitizer report. A signal, a hang or
a report is a failure naming the input.

Usage: replay.py DIR -- TOOL ARGS...   ({} in ARGS is replaced by the input;
       without {}, the input is appended)
"""
import os
import subprocess
import sys


def main():
    if "--" not in sys.argv:
        sys.exit(__doc__)
    sep = sys.argv.index("--")
    dirs, cmd = sys.argv[1:sep], sys.argv[sep + 1:]
    inputs = sorted(os.path.join(d, f) for d in dirs for f in os.listdir(d)
                    if os.path.isfile(os.path.join(d, f)))
    if not inputs:
        sys.exit("replay.py: no inputs in " + " ".join(dirs))
    bad = 0
    for path in inputs:
        argv = [a.replace("{}", path) for a in cmd]
        if argv == cmd:
            argv.append(path)
        try:
            r = subprocess.run(argv, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, timeout=60)
        except subprocess.TimeoutExpired:
            print("HANG %s" % path)
            bad += 1
            continue
        err = r.stderr.decode(errors="replace")
        if r.returncode not in (0, 1) or "Sanitizer" in err:
            print("FAIL %s: exit %d\n%s" % (path, r.returncode, err[-2000:]))
            bad += 1
        else:
            print("ok   %s (exit %d)" % (os.path.basename(path), r.returncode))
    print("replayed %d inputs, %d failed" % (len(inputs), bad))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
