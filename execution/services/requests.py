"""The queue of writes waiting for the primary (injections, forwarded change lists): submit,
claim, finish, wait. The primary's loop applies them in order through the inventory write path.

A payload is stored as chunks of CHUNK_CHARS characters, one INSERT each (a statement stays far
below MariaDB's max_allowed_packet), and a document is read back one chunk at a time."""
import json
import logging
import time

from django.db import transaction
from django.db.models import Sum
from django.db.models.functions import Length
from django.utils import timezone

from execution.models import ChangeRequest, ChangeRequestChunk, RequestKind, RequestState

CHUNK_CHARS = 1_000_000
# kinds whose payload the write path reads as a stream of chunks (documents); the others are
# change lists, read whole
STREAMED_KINDS = (RequestKind.INJECT, RequestKind.DELETE)
log = logging.getLogger('dynamo.requests')


def request_submit(*, kind, origin, payload=None, pieces=None, lease='', on_chunk=None):
    """Queue a write for the server. payload: the document text, or a JSON list of operations; or
    `pieces`, an iterable of text pieces (a document read from a file as it is sent). The request
    becomes visible to the server only once every chunk is in. `on_chunk(characters so far)`."""
    if kind not in RequestKind.values:
        raise ValueError(f'unknown request kind {kind!r}')
    if pieces is None:
        pieces = [payload or '']
    with transaction.atomic(using=ChangeRequest.objects.db):
        request = ChangeRequest.objects.create(kind=kind, origin=origin[:255], created=timezone.now(),
                                               lease=lease[:255])
        index, sent, pending = 0, 0, ''
        for piece in pieces:
            pending += piece
            while len(pending) >= CHUNK_CHARS:
                _chunk(request, index, pending[:CHUNK_CHARS])
                index, sent, pending = index + 1, sent + CHUNK_CHARS, pending[CHUNK_CHARS:]
                if on_chunk:
                    on_chunk(sent)
        if pending or index == 0:
            _chunk(request, index, pending)
            sent += len(pending)
            if on_chunk:
                on_chunk(sent)
    return request


def _chunk(request, index, data):
    ChangeRequestChunk.objects.create(request=request, index=index, data=data)


class ChunkedPayload:
    """A queued document read back from its chunks, one at a time, each time it is walked: a
    source of text pieces for inventory.injection (`pieces()`, `size`); str() joins it."""

    def __init__(self, request):
        self.request_id = request.id
        chunks = ChangeRequestChunk.objects.filter(request_id=request.id)
        self.count = chunks.count()
        self.size = chunks.aggregate(n=Sum(Length('data')))['n'] or 0
        self.passes = 0

    def __len__(self):
        return self.size

    def pieces(self):
        """The chunks in order; a large document says in the log how far each pass over it is."""
        self.passes += 1
        step = max(self.count // 10, 1) if self.count >= 50 else 0
        for index in range(self.count):
            if step and index and index % step == 0:
                log.info('request %d: reading chunk %d of %d (pass %d)', self.request_id, index, self.count,
                         self.passes)
            yield ChangeRequestChunk.objects.filter(request_id=self.request_id, index=index) \
                .values_list('data', flat=True).first() or ''

    def __str__(self):
        return ''.join(self.pieces())


def request_payload(request):
    """The payload of a request: a ChunkedPayload for documents, the text of a change list."""
    if request.kind in STREAMED_KINDS:
        return ChunkedPayload(request)
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
