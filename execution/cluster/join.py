"""A secondary joins the cluster: it waits for the primary, then loads its image from its local
store when that is still on the primary's history, else from a copy of the primary's store
(storecopy.py), or, without a local store, straight from the primary's."""
import time
from datetime import timedelta

from django.conf import settings
from django.db import connections
from django.utils import timezone

from execution.cluster import storecopy
from execution.models import Server, ServerState
from execution.topology import PRIMARY, TOPOLOGY
from inventory import store
from inventory.models import ChangeSet, Dataset, Site


def wait_for_primary(stop_event, say):
    """Block until the primary's database answers and a live primary is registered in it.
    `say(text)` reports what is being waited for (every 5 s at most). False if stopped meanwhile."""
    last = ''
    last_said = 0.
    while not stop_event.is_set():
        try:
            connections[PRIMARY].close_if_unusable_or_obsolete()
            cutoff = timezone.now() - timedelta(seconds=settings.DYNAMO_HEARTBEAT_TIMEOUT)
            if Server.objects.filter(role='primary', state=ServerState.ONLINE, heartbeat__gte=cutoff).exists():
                return True
            reason = (f'waiting for the primary server: none is online in {TOPOLOGY.describe_primary()} '
                      f'(start the primary first)')
        except Exception as exc:   # noqa: BLE001 - any driver error: the primary's database is not there yet
            connections[PRIMARY].close()
            reason = f'waiting for the primary database {TOPOLOGY.describe_primary()}: {str(exc).splitlines()[0][:200]}'
        if reason != last or time.monotonic() - last_said > 5:
            say(reason)
            last, last_said = reason, time.monotonic()
        stop_event.wait(1.0)
    return False


def _store_empty(using):
    return not Site.objects.using(using).exists() and not Dataset.objects.using(using).exists()


def local_store_usable():
    """True when the local store is on the primary's history and the primary still logs every
    change set after it (then loading it and replaying is enough)."""
    local = TOPOLOGY.state_row()
    seq, digest = local['seq'], local['digest']
    primary_seq = TOPOLOGY.state_row(PRIMARY)['seq']
    if seq > primary_seq:
        return False
    if seq == 0:
        # nothing tells what the primary's store held at change set 0 but an empty store at 0
        return primary_seq == 0 and _store_empty('default') and _store_empty(PRIMARY)
    logged = ChangeSet.objects.using(PRIMARY).filter(seq=seq).values_list('digest', flat=True).first()
    if logged is None or logged != digest:
        return False
    return ChangeSet.objects.using(PRIMARY).filter(seq__gt=seq).count() == primary_seq - seq


def load_image(say):
    """The secondary's RAM image, ready to follow the primary (from its local store, from a copy
    of the primary's, or, without a local store, straight from the primary's)."""
    def progress(what, count, elapsed):
        say(f'loading: {count} {what} ({elapsed:.0f} s)')
    if not settings.DYNAMO_LOCAL_STORE:
        say(f'loading the inventory from the primary {TOPOLOGY.describe_primary()} (no local store)')
        inventory, seq = store.load(progress=progress, using=PRIMARY)
        inventory.seq = seq
        return inventory
    if local_store_usable():
        say('loading the local store (it is on the primary\'s history)')
        inventory, seq = store.load(progress=progress)
        inventory.seq = seq
        return inventory
    say(f'copying the primary\'s store from {TOPOLOGY.describe_primary()} while loading the image from it')
    return storecopy.copy_and_load(say, progress)
