"""The execution package's errors. Client errors (the request itself is wrong: 4xx) and service
errors (the cluster cannot do it now: 503 with Retry-After) are separate hierarchies; the web maps
both to statuses in one table (webmodules/views.py)."""
from inventory.errors import ServiceError


class ClientError(Exception):
    """The request is wrong; nothing was done."""
    status = 400


class InvalidInput(ClientError):
    pass


class NotFound(ClientError):
    status = 404


class NotAllowed(ClientError):
    """The caller's identity does not have the right to do this."""
    status = 403


class Unavailable(ServiceError):
    """Nothing was done; try again later."""
    retry_after = 5


class WriterUnavailable(Unavailable):
    """No server loop to apply the write, or the writer lease stayed busy: nothing was applied."""


class NotPrimary(Unavailable):
    """Only the cluster's primary can do this, and no primary is reachable."""
