"""The inventory package's errors, in two kinds: the caller's (ObjectError: bad input, an unknown
object, a broken rule; nothing was applied) and the service's (ServiceError: the server cannot
apply anything now; the same request may succeed later or elsewhere). The web maps them to 4xx and
5xx in one table (webmodules/views.py)."""
from inventory.objects.base import ObjectError

__all__ = ['ObjectError', 'ServiceError', 'Fenced', 'ImageLost', 'OutOfSync']


class ServiceError(Exception):
    """The server cannot serve this now; nothing was applied. `retry_after` (seconds) when a retry
    is expected to work."""
    status = 503
    retry_after = None


class Fenced(ServiceError):
    """This server's database names another primary (failover): it must not commit anything."""
    retry_after = 5


class ImageLost(ServiceError):
    """A failed change set could not be undone in RAM: the image must be reloaded."""
    retry_after = 30


class OutOfSync(ServiceError):
    """A replayed change set does not follow this store (sequence gap) or does not produce the
    logged digest: nothing was applied, and the store must be resynchronized."""
