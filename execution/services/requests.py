"""The queue of writes waiting for the primary (injections, forwarded change lists): submit,
claim, finish, wait. The primary's loop applies them in order through the inventory write path."""
import json
import time

from django.db import transaction
from django.utils import timezone

from execution.models import ChangeRequest, ChangeRequestChunk, RequestKind, RequestState

CHUNK_CHARS = 2_000_000


def request_submit(*, kind, origin, payload, lease=''):
    """Queue a write for the server. payload: the document text, or a JSON list of operations."""
    if kind not in RequestKind.values:
        raise ValueError(f'unknown request kind {kind!r}')
    with transaction.atomic(using=ChangeRequest.objects.db):
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


def request_claim_next(*, lease_holder=''):
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


def requests_interrupted(*, message):
    """Requests a dead primary was applying: failed (the change-set log says whether they landed)."""
    return ChangeRequest.objects.filter(state=RequestState.RUNNING).update(
        state=RequestState.FAILED, finished=timezone.now(), message=message)


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
