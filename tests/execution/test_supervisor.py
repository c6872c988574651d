"""The supervisor's hold on an application's process tree: what it signals is its own."""
import os
import signal
import subprocess
import time

from execution.supervisor import Tree


def state(pid):
    with open(f'/proc/{pid}/stat') as f:
        return f.read().rpartition(')')[2].split()[0]


def wait_state(pid, wanted, timeout=5):
    deadline = time.monotonic() + timeout
    while state(pid) != wanted:
        assert time.monotonic() < deadline, (pid, state(pid))
        time.sleep(0.01)


def test_a_listed_pid_now_held_by_a_process_outside_the_tree_is_never_signalled():
    # an outsider: a process whose parent is not in the tree (its shell ended: it went to init)
    outsider = int(subprocess.run(['sh', '-c', 'sleep 60 >/dev/null 2>&1 & echo $!'], capture_output=True,
                                  text=True, check=True).stdout)
    inside = subprocess.Popen(['sleep', '60'])
    try:
        tree = Tree()
        # the listing as it is when a descendant ended and its pid went to the outsider meanwhile
        tree.members = lambda: ([inside.pid, outsider], 0.)
        assert tree.signal_all(signal.SIGSTOP) == [inside.pid, outsider]
        wait_state(inside.pid, 'T')          # its own descendant is stopped
        time.sleep(0.2)
        assert state(outsider) == 'S'        # the outsider is not
    finally:
        for pid in (inside.pid, outsider):
            os.kill(pid, signal.SIGKILL)
        inside.wait()
