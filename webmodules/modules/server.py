"""The `server` web module: this server's place in the cluster (docs/scaling.md).

`/data/server/status`: role (primary or secondary), state (`waiting`, `syncing`, `online`, ...;
an error is never reported as out of sync), the last change set in the RAM image and its chained
digest, the lag behind the primary (secondaries), and every server registered in the cluster."""
from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from execution import selectors
from execution.runtime import RUNTIME
from execution.services.servers import server_is_dead
from execution.topology import TOPOLOGY
from webmodules.base import WebModule
from webmodules.schemas import BOOLEAN, INTEGER, NUMBER, STRING, array, nullable, obj

_PEER = obj({'id': INTEGER, 'hostname': STRING, 'bind': STRING, 'role': STRING, 'state': STRING,
             'seq': nullable(INTEGER), 'digest': nullable(STRING), 'detail': nullable(STRING),
             'heartbeat_age': NUMBER, 'alive': BOOLEAN})


class Status(WebModule):
    """This server's role and state, the last change set of its image and its digest, the lag
    behind the primary (on secondaries) and every server of the cluster."""
    parameters = ()
    response = obj({'server_id': nullable(INTEGER), 'role': nullable(STRING), 'state': STRING,
                    'cluster_reachable': BOOLEAN, 'error': STRING, 'seq': INTEGER, 'digest': nullable(STRING),
                    'lag': obj({'changesets': nullable(INTEGER), 'seconds': nullable(NUMBER)}),
                    'primary_seq': nullable(INTEGER), 'peers': array(_PEER)})

    def run(self, caller, request, inventory):
        me = None
        peers = []
        now = timezone.now()
        try:
            known = selectors.known_servers()
            error = ''
        except DatabaseError as exc:   # the cluster's database (the primary's) is out of reach
            known = []
            error = f'the cluster database does not answer: {str(exc).splitlines()[0][:200]}'
        for server in known:
            age = (now - server.heartbeat).total_seconds()
            dead = server.id != TOPOLOGY.server_id and server_is_dead(server, now=now)
            row = {'id': server.id, 'hostname': server.hostname, 'bind': server.bind, 'role': server.role,
                   'state': 'dead' if dead and server.state != 'gone' else server.state, 'seq': server.seq,
                   'digest': server.digest, 'detail': server.detail, 'heartbeat_age': round(age, 1),
                   'alive': not dead and age <= settings.DYNAMO_HEARTBEAT_TIMEOUT}
            if server.id == TOPOLOGY.server_id:
                me = row
            peers.append(row)
        follower = RUNTIME.follower
        return {
            'server_id': TOPOLOGY.server_id,
            'role': TOPOLOGY.role,
            'state': me['state'] if me else ('online' if error else 'unregistered'),
            'cluster_reachable': not error,
            'error': error,
            'seq': inventory.seq,
            'digest': inventory.digest,
            'lag': _lag(follower),
            'primary_seq': follower.primary_seq if follower is not None else inventory.seq,
            'peers': peers,
        }


def _lag(follower):
    if follower is None:
        return {'changesets': 0, 'seconds': 0.0}
    try:
        return follower.lag()
    except DatabaseError:
        return {'changesets': None, 'seconds': None}


export_data = {'status': Status, '': Status}
