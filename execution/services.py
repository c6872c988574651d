"""Server registration and heartbeats, and queued write requests (submit, claim, finish, wait)."""
import json
import os
import socket
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from execution.cluster import cluster_db
from execution.models import (ChangeRequest, ChangeRequestChunk, RequestKind, RequestState,
                              Server, ServerState)

CHUNK_CHARS = 2_000_000


# ------------------------------------------------------------------------------ servers
# Servers, requests: in the cluster's database (the primary's; this server's own when it is the
# primary), where their models' managers (ClusterManager) send every query
def server_register(*, bind, role='primary', epoch=0):
    from execution.cluster import own_address
    now = timezone.now()
    address = json.dumps(own_address()) if settings.DATABASES['default']['ENGINE'].endswith('mysql') else ''
    return Server.objects.create(
        hostname=socket.getfqdn(), pid=os.getpid(), bind=bind, role=role, state=ServerState.STARTING,
        started=now, heartbeat=now, epoch=epoch, db_address=address)


def server_heartbeat(*, server_id, state=None, seq=None, digest=None, detail=None):
    fields = {'heartbeat': timezone.now()}
    if state is not None:
        fields['state'] = state
    if seq is not None:
        fields['seq'] = seq
    if digest is not None:
        fields['digest'] = digest
    if detail is not None:
        fields['detail'] = detail[:255]
    Server.objects.filter(id=server_id).update(**fields)


def server_unregister(*, server_id):
    Server.objects.filter(id=server_id).delete()


def live_servers():
    cutoff = timezone.now() - timedelta(seconds=settings.DYNAMO_HEARTBEAT_TIMEOUT)
    return list(Server.objects.filter(
        heartbeat__gte=cutoff, state__in=[ServerState.STARTING, ServerState.LOADING, ServerState.ONLINE,
                                          ServerState.WAITING, ServerState.SYNCING]))


def known_servers():
    return list(Server.objects.order_by('id'))


# ------------------------------------------------------------------------------ requests
def request_submit(*, kind, origin, payload, lease=''):
    """Queue a write for the server. payload: the document text, or a JSON list of operations."""
    if kind not in RequestKind.values:
        raise ValueError(f'unknown request kind {kind!r}')
    with transaction.atomic(using=cluster_db()):
        request = ChangeRequest.objects.create(kind=kind, origin=origin[:255], created=timezone.now(),
                                                         lease=lease[:255])
        ChangeRequestChunk.objects.bulk_create(
            ChangeRequestChunk(request=request, index=i, data=payload[start:start + CHUNK_CHARS])
            for i, start in enumerate(range(0, max(len(payload), 1), CHUNK_CHARS)))
    return request


def request_payload(request):
    return ''.join(ChangeRequestChunk.objects.filter(request=request).order_by('index')
                   .values_list('data', flat=True))


def request_pending():
    return ChangeRequest.objects.filter(state=RequestState.PENDING).exists()


def request_claim_next(lease_holder=''):
    """The oldest pending request, marked running; None if there is none. While a writer holds the
    lease (`lease_holder`), only the requests it sent are taken."""
    pending = ChangeRequest.objects.filter(state=RequestState.PENDING)
    if lease_holder:
        pending = pending.filter(lease=lease_holder)
    for request in pending.order_by('id')[:5]:
        if ChangeRequest.objects.filter(id=request.id, state=RequestState.PENDING).update(state=RequestState.RUNNING):
            request.state = RequestState.RUNNING
            return request
    return None


def request_finish(*, request, ok, message, seq=None, result=None):
    request.state = RequestState.APPLIED if ok else RequestState.FAILED
    request.message = message
    request.seq = seq
    request.result = json.dumps(result or {})
    request.finished = timezone.now()
    request.save(update_fields=['state', 'message', 'seq', 'result', 'finished'])
    ChangeRequestChunk.objects.filter(request=request).delete()


def request_wait(*, request_id, timeout=None, poll=0.05, on_poll=None):
    """Block until the request is applied or failed; returns the request."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        request = ChangeRequest.objects.get(id=request_id)
        if request.state in (RequestState.APPLIED, RequestState.FAILED):
            return request
        if on_poll:
            on_poll(request)
        if deadline is not None and time.monotonic() > deadline:
            return request
        time.sleep(poll)


# ------------------------------------------------------------------------------ applications
def application_create(*, user, server_id, hostname, script=None, title='DynamoExecutable', script_path='',
                       args='', write=False, timeout=None, interactive=False):
    """Queue an application on a server. The row is created complete (work area and script in
    place) so that the scheduler never sees half of it."""
    import tempfile

    from execution.authorization import checksum_bytes
    from execution.models import Application
    from execution.runner import SCRIPT_FILE
    os.makedirs(settings.DYNAMO_WORK_DIR, exist_ok=True)
    work_dir = tempfile.mkdtemp(prefix=timezone.now().strftime('%Y%m%d-%H%M%S-'), dir=settings.DYNAMO_WORK_DIR)
    os.chmod(work_dir, 0o755)
    if script is not None:
        with open(os.path.join(work_dir, SCRIPT_FILE), 'wb') as f:
            f.write(script)
    return Application.objects.create(
        user=user, server_id=server_id, hostname=hostname, created=timezone.now(), work_dir=work_dir,
        title=(title or 'DynamoExecutable')[:255], script_path=script_path[:1024], args=args,
        checksum=checksum_bytes(script) if script is not None else '', write_request=write,
        interactive=interactive, timeout=settings.DYNAMO_APP_TIMEOUT_HOURS if timeout is None else float(timeout))
