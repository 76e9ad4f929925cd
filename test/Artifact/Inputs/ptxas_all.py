"""ptxas_all.py PTXAS CHIP DIR...: assembles every .ptx file in the DIRs for
CHIP (ptxas -arch=CHIP), prints each failure with ptxas's message and then
"ptxas CHIP: N modules, F failed"; exits 1 when any failed."""
import glob
import os
import subprocess
import sys


def main():
    ptxas, chip, dirs = sys.argv[1], sys.argv[2], sys.argv[3:]
    files = sorted(f for d in dirs for f in glob.glob(os.path.join(d, "*.ptx")))
    failed = 0
    for f in files:
        r = subprocess.run([ptxas, "-arch=" + chip, f, "-o", os.devnull],
                           capture_output=True, text=True)
        if r.returncode != 0:
            failed += 1
            print("FAILED %s: %s" % (f, r.stderr.strip()))
    print("ptxas %s: %d modules, %d failed" % (chip, len(files), failed))
    sys.exit(1 if failed or not files else 0)


if __name__ == "__main__":
    main()
