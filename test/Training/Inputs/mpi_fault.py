"""Runs a command as one rank of an mpirun job, and makes rank RANK fail:
when WHEN comes it sends a signal (kill: SIGKILL, a dead rank; stop:
SIGSTOP, a hung rank) to its command. The other ranks exec the command.
WHEN is a number of seconds, or step:N:LOG, once LOG (rank 0's
train.jsonl) has N lines.

usage: mpirun -np N python mpi_fault.py RANK kill|stop WHEN -- CMD...

The stopped command is killed when this wrapper is asked to end (mpirun's
SIGTERM) or dies (PR_SET_PDEATHSIG), and after 300 s at the latest, so no
stopped process is left behind."""
import ctypes
import os
import signal
import subprocess
import sys
import time


def main():
    rank, how, when = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    cmd = sys.argv[sys.argv.index("--") + 1:]
    me = int(os.environ.get("OMPI_COMM_WORLD_RANK", os.environ.get("PMIX_RANK", "0")))
    if me != rank:
        os.execvp(cmd[0], cmd)

    def die_with_parent():
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG

    child = subprocess.Popen(cmd, preexec_fn=die_with_parent)

    def end(*_):
        child.kill()
        child.wait()
        sys.exit(1)

    signal.signal(signal.SIGTERM, end)
    if when.startswith("step:"):
        _, steps, log = when.split(":", 2)
        while child.poll() is None:
            try:
                if sum(1 for _ in open(log)) >= int(steps):
                    break
            except OSError:
                pass
            time.sleep(0.01)
    else:
        time.sleep(float(when))
    if how == "kill":
        child.kill()
        child.wait()
        sys.stderr.write("mpi_fault: rank %d killed\n" % rank)
        sys.exit(137)
    child.send_signal(signal.SIGSTOP)
    sys.stderr.write("mpi_fault: rank %d stopped\n" % rank)
    sys.stderr.flush()
    time.sleep(300)
    end()


if __name__ == "__main__":
    main()
