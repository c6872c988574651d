"""The `server` web module: this server's place in the cluster (docs/scaling.md).

`/data/server/status`: role (primary or secondary), state (`waiting`, `syncing`, `online`, ...;
an error is never reported as out of sync), the last change set in the RAM image and its chained
digest, the lag behind the primary (secondaries), and every server registered in the cluster."""
from django.utils import timezone

from execution import services
from execution.runtime import RUNTIME
from webmodules.base import WebModule


class Status(WebModule):
    def run(self, caller, request, inventory):
        me = None
        peers = []
        now = timezone.now()
        from django.conf import settings
        for server in services.known_servers():
            age = (now - server.heartbeat).total_seconds()
            row = {'id': server.id, 'hostname': server.hostname, 'bind': server.bind, 'role': server.role,
                   'state': server.state, 'seq': server.seq, 'digest': server.digest, 'detail': server.detail,
                   'heartbeat_age': round(age, 1), 'alive': age <= settings.DYNAMO_HEARTBEAT_TIMEOUT}
            if server.id == RUNTIME.server_id:
                me = row
            peers.append(row)
        follower = RUNTIME.follower
        return {
            'server_id': RUNTIME.server_id,
            'role': RUNTIME.role,
            'state': me['state'] if me else 'unregistered',
            'seq': inventory.seq,
            'digest': inventory.digest,
            'lag': follower.lag() if follower is not None else {'changesets': 0, 'seconds': 0.0},
            'primary_seq': follower.primary_seq if follower is not None else inventory.seq,
            'peers': peers,
        }


export_data = {'status': Status, '': Status}
