"""The writer lease: one writer at a time, cluster-wide. A write application (on any server) or the
primary's apply of a queued write holds it in the cluster's state row; requests sent by the holder
carry its name, so the primary applies them while it is held. It expires if its holder stops
renewing it, and is released at once when its holder's server is known dead."""
import logging
import time

from django.db.models import Q
from django.utils import timezone

from execution.models import Server
from execution.services.servers import server_is_dead
from execution.topology import TOPOLOGY, lease_server
from inventory.models import InventoryState

log = logging.getLogger('dynamo.cluster')

LEASE_SECONDS = 60
_DEAD_CHECK_INTERVAL = 1.0
_checked = {}   # holder -> (monotonic time of the check, dead?): one server lookup a second at most


def _state_rows():
    alias = TOPOLOGY.cluster_alias
    InventoryState.objects.using(alias).get_or_create(id=1)
    return InventoryState.objects.using(alias).filter(id=1)


def _holder_dead(holder):
    now = time.monotonic()
    checked = _checked.get(holder)
    if checked is not None and now - checked[0] < _DEAD_CHECK_INTERVAL:
        return checked[1]
    server_id = lease_server(holder)
    server = Server.objects.filter(id=server_id).first() if server_id is not None else None
    dead = server is None or server_is_dead(server)
    if len(_checked) > 100:
        _checked.clear()
    _checked[holder] = (now, dead)
    return dead


def _release_if_dead(holder):
    """Free the lease when `holder` belongs to a server known dead; True if it was freed."""
    if not holder or not _holder_dead(holder):
        return False
    if _state_rows().filter(writer=holder[:255]).update(writer='', writer_expires=None):
        log.warning('writer lease of %s released: its server is dead', holder, extra={'lease': holder})
        return True
    return False


def lease_acquire(owner):
    """Take (or renew) the writer lease for `owner`; False if another live writer holds it."""
    now = timezone.now()
    free = Q(writer='') | Q(writer=owner[:255]) | Q(writer_expires__lt=now)
    expires = now + timezone.timedelta(seconds=LEASE_SECONDS)
    if _state_rows().filter(free).update(writer=owner[:255], writer_expires=expires):
        return True
    if _release_if_dead(_raw_holder()):
        return bool(_state_rows().filter(free).update(writer=owner[:255], writer_expires=expires))
    return False


def lease_release(owner):
    _state_rows().filter(writer=owner[:255]).update(writer='', writer_expires=None)


def _raw_holder():
    row = _state_rows().values_list('writer', 'writer_expires').first()
    if not row or not row[0] or (row[1] is not None and row[1] < timezone.now()):
        return ''
    return row[0]


def lease_holder():
    """The current holder's name, '' when the lease is free, expired, or held by a dead server."""
    holder = _raw_holder()
    if holder and _release_if_dead(holder):
        return ''
    return holder


def lease_release_dead():
    """Called at start-up and every turn of the primary: a crashed holder does not stall writers."""
    return _release_if_dead(_raw_holder())
