"""The signal mask a Dynamo process starts with."""
import signal


def unblock_inherited():
    """Unblock every signal this process inherited blocked. A signal mask survives fork and exec: a
    parent that made a gfal2 context in its main thread (that blocks 51 signals and leaves them so),
    or any tool that blocks signals, would hand us a mask under which SIGTERM, SIGINT and SIGUSR1
    never arrive, and the server, a worker or a pool would not stop when asked."""
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
