"""The fork gate: a server thread must not be inside libsqlite3 when the server forks an
application (the child would inherit the library's mutexes locked and hang on its first query).

Database work holds the gate shared: a cursor from its first execute until it is closed (so a
statement in progress is never stopped half way by a waiting fork), other calls for their
duration. A thread that already holds it is never made to wait. Forking holds it exclusively.
"""
import logging
import threading
import time
from contextlib import contextmanager

log = logging.getLogger('dynamo.server')


class _Holder:
    """One thread's holdings (a cursor may be released from another thread when collected)."""
    __slots__ = ('count',)

    def __init__(self):
        self.count = 0


class ForkGate:
    def __init__(self):
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False
        self._local = threading.local()

    def _holder(self):
        holder = getattr(self._local, 'holder', None)
        if holder is None:
            holder = self._local.holder = _Holder()
        return holder

    def enter(self):
        """Take the gate shared; returns the token to give back to leave()."""
        holder = self._holder()
        with self._cond:
            if holder.count == 0:
                while self._exclusive:
                    self._cond.wait()
            holder.count += 1
            self._shared += 1
        return holder

    def leave(self, holder):
        with self._cond:
            holder.count -= 1
            self._shared -= 1
            if not self._shared:
                self._cond.notify_all()

    @contextmanager
    def shared(self):
        holder = self.enter()
        try:
            yield
        finally:
            self.leave(holder)

    @contextmanager
    def exclusive(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._exclusive:
                self._cond.wait()
            self._exclusive = True          # no new shared holder from now on
            while self._shared:
                left = deadline - time.monotonic()
                if left <= 0:
                    # a statement left open somewhere: fork anyway rather than stall the server
                    log.warning('forking while %d database call(s) are in progress', self._shared)
                    break
                self._cond.wait(left)
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()

    def reset_in_child(self):
        """In a forked child (one thread): forget the parent's holders."""
        self.__init__()


GATE = ForkGate()
