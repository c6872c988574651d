"""The fork gate: a server thread must not be inside libsqlite3 when the server forks an
application (the child would inherit the library's mutexes locked and hang on its first query).
Database calls hold the gate shared (re-entrant per thread); forking holds it exclusively."""
import threading
from contextlib import contextmanager


class ForkGate:
    def __init__(self):
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False
        self._local = threading.local()

    @contextmanager
    def shared(self):
        depth = getattr(self._local, 'depth', 0)
        if depth == 0:
            with self._cond:
                while self._exclusive:
                    self._cond.wait()
                self._shared += 1
        self._local.depth = depth + 1
        try:
            yield
        finally:
            self._local.depth = depth
            if depth == 0:
                with self._cond:
                    self._shared -= 1
                    if not self._shared:
                        self._cond.notify_all()

    @contextmanager
    def exclusive(self):
        with self._cond:
            while self._exclusive:
                self._cond.wait()
            self._exclusive = True          # no new shared holder from now on
            while self._shared:
                self._cond.wait()
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
