"""The RAM image held by this server process, and the lock that keeps readers off half-applied
change sets. Process-local by nature: cross-process state lives in the database, not here."""
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
    def __init__(self):
        import queue
        self.inventory = None      # None until the image is loaded
        self.lock = RWLock()
        self.server_id = None
        self.write_jobs = queue.Queue()   # WriteJob for the server loop (web writes)
        self.executor_active = False      # a server loop is running and takes write jobs
        self.wake = None                  # the loop's wake-up event
        self.hub = None                   # live application output
        self.role = 'primary'             # or 'secondary' (execution/cluster.py)
        self.follower = None              # a secondary's replay of the primary's log


RUNTIME = Runtime()


class WriteJob:
    """A write computed by a web module: run by the server loop inside the write path."""

    def __init__(self, fn, origin):
        self.fn = fn
        self.origin = origin
        self.done = threading.Event()
        self.cancelled = False
        self.result = None
        self.error = None
        self.forward = None    # id of the change request a secondary sent to the primary
        self.lease = None      # the writer lease it holds meanwhile


class WriterUnavailable(Exception):
    """No server loop to apply the write, or the write lock stayed busy: nothing was applied."""


def submit_write(fn, *, origin, timeout):
    """Have the server loop run fn(inventory) as one change set; returns fn's value.
    Raises WriterUnavailable if the write lock could not be had in time (nothing is applied then)."""
    if not RUNTIME.executor_active:
        raise WriterUnavailable('no server loop is running to apply writes')
    job = WriteJob(fn, origin)
    RUNTIME.write_jobs.put(job)
    if RUNTIME.wake is not None:
        RUNTIME.wake.set()
    if not job.done.wait(timeout):
        job.cancelled = True
        if not job.done.is_set():
            raise WriterUnavailable('the inventory write lock is busy (a write application is running); try again')
    if job.error is not None:
        raise job.error
    if job.forward is not None:
        from execution.cluster import wait_forwarded
        value, _ = job.result
        return value, wait_forwarded(RUNTIME, job.forward, timeout, lease=job.lease)
    if job.result[1] is None:   # a secondary's write that changed nothing
        return job.result[0], _NOTHING
    return job.result


class _Nothing:
    seq = 0
    num_changes = 0


_NOTHING = _Nothing()
