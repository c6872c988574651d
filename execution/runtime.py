"""The RAM image held by this server process, and the lock that keeps readers off half-applied
change sets. Process-local by nature: cross-process state lives in the database, not here; the
role and id of the server are in execution.topology."""
import threading


class RWLock:
    """Many readers or one writer; a waiting writer blocks new readers (no writer starvation)."""

    def __init__(self):
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting_writers = 0

    def acquire_read(self):
        with self._cond:
            while self._writer or self._waiting_writers:
                self._cond.wait()
            self._readers += 1

    def release_read(self):
        with self._cond:
            self._readers -= 1
            if not self._readers:
                self._cond.notify_all()

    def acquire_write(self):
        with self._cond:
            self._waiting_writers += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting_writers -= 1
            self._writer = True

    def release_write(self):
        with self._cond:
            self._writer = False
            self._cond.notify_all()

    class _Ctx:
        def __init__(self, acquire, release):
            self.acquire, self.release = acquire, release

        def __enter__(self):
            self.acquire()

        def __exit__(self, *exc):
            self.release()

    def read(self):
        return self._Ctx(self.acquire_read, self.release_read)

    def write(self):
        return self._Ctx(self.acquire_write, self.release_write)


class Runtime:
    """The RAM image of this process and what the loop shares with its threads (web, socket)."""

    def __init__(self):
        import queue
        self.inventory = None      # None until the image is loaded
        self.lock = RWLock()
        self.write_jobs = queue.Queue()   # WriteJob for the server loop (web writes)
        self.executor_active = False      # a server loop is running and takes write jobs
        self.wake = None                  # the loop's wake-up event
        self.hub = None                   # live application output
        self.follower = None              # a secondary's replay of the primary's log


RUNTIME = Runtime()
