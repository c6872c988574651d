"""Server rows: registration, heartbeats, and telling the truth about servers that died."""
import json
import os
import socket
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from execution.models import Server, ServerState
from execution.topology import TOPOLOGY

# states of a server that takes part in the cluster (anything else is stopped, replaced or dead)
ACTIVE_STATES = (ServerState.STARTING, ServerState.LOADING, ServerState.ONLINE, ServerState.WAITING,
                 ServerState.SYNCING)


def server_register(*, bind, role='primary', epoch=0):
    now = timezone.now()
    address = json.dumps(TOPOLOGY.own_address()) if TOPOLOGY.clustered else ''
    return Server.objects.create(
        hostname=socket.getfqdn(), pid=os.getpid(), bind=bind, role=role, state=ServerState.STARTING,
        started=now, heartbeat=now, epoch=epoch, db_address=address)


def server_heartbeat(*, server_id, state=None, seq=None, digest=None, detail=None, role=None):
    fields = {'heartbeat': timezone.now()}
    for name, value in (('state', state), ('seq', seq), ('digest', digest), ('role', role)):
        if value is not None:
            fields[name] = value
    if detail is not None:
        fields['detail'] = detail[:255]
    return Server.objects.filter(id=server_id).update(**fields)


def server_unregister(*, server_id):
    Server.objects.filter(id=server_id).delete()


def _process_gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:   # alive, another user's
        return False
    return False


def server_is_dead(server, *, now=None):
    """A server is dead when its heartbeat is older than the failover timeout, or when it ran on
    this host and its process is gone (then it is known at once, without waiting)."""
    now = now or timezone.now()
    if server.state in (ServerState.DEAD, ServerState.GONE):
        return True
    if now - server.heartbeat > timedelta(seconds=settings.DYNAMO_FAILOVER_TIMEOUT):
        return True
    return server.hostname == socket.getfqdn() and server.pid != os.getpid() and _process_gone(server.pid)


def servers_mark_dead(*, exclude=()):
    """Record dead servers as `dead` (and remove those dead for longer than a day); returns the
    ids of the servers found dead now."""
    now = timezone.now()
    dead = [s.id for s in Server.objects.exclude(state__in=[ServerState.DEAD, ServerState.GONE])
            if s.id not in exclude and server_is_dead(s, now=now)]
    if dead:
        Server.objects.filter(id__in=dead).update(state=ServerState.DEAD, detail='no heartbeat: stopped or crashed')
    Server.objects.filter(state__in=[ServerState.DEAD, ServerState.GONE],
                          heartbeat__lt=now - timedelta(hours=settings.DYNAMO_SERVER_PRUNE_HOURS)).delete()
    return dead
