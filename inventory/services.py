"""The single write path: every change to the inventory (injection, applications, web, replay)
is applied here to the RAM image and the database together, as one change set, all or nothing.

The caller owns the RAM image and must hold its in-process writer lock; the database row lock on
the inventory state serializes writers across processes and gives each change set its sequence number.
"""
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from inventory import store
from inventory.errors import Fenced, ImageLost, OutOfSync  # noqa: F401  (raised here; callers catch them from this module too)
from inventory.models import ChangeSet, ChangeSetChunk, InventoryState
from inventory.objects import ObjectError, from_dict

log = logging.getLogger('dynamo.writes')
CHUNK = 5000                # operations per chunk of the change-set log, at most
CHUNK_BYTES = 1 << 20       # and about this much JSON
INSERT_BYTES = 4 << 20      # chunks written by one INSERT
_observers = []   # callables told of every committed change set (the server's metrics)


def add_observer(fn):
    """Have fn(AppliedChangeSet) called after every change set this process commits."""
    if fn not in _observers:
        _observers.append(fn)


@dataclass
class AppliedChangeSet:
    seq: int
    num_changes: int
    elapsed: float
    result: dict = field(default_factory=dict)


def decode_operations(operations):
    """[(op, object dict)] -> [(op, unlinked object)], checking every one; errors name the change."""
    decoded = []
    for index, item in enumerate(operations):
        try:
            op, data = item
        except (TypeError, ValueError):
            raise ObjectError(f'change {index}: expected [op, object], got {item!r:.80}') from None
        if op not in ('u', 'd'):
            raise ObjectError(f'change {index}: unknown operation {op!r} (expected "u" or "d")')
        try:
            decoded.append((op, store.bind_condition(from_dict(data))))
        except ObjectError as exc:
            raise ObjectError(f'change {index} ({op} {data.get("_t") if isinstance(data, dict) else "?"}): {exc}') from None
    return decoded


def apply_operations(inventory, operations, progress=None):
    """Apply ordered ('u'|'d', object or object dict) operations; errors name the operation."""
    count = 0
    for index, (op, obj) in enumerate(operations):
        try:
            if isinstance(obj, dict):
                obj = store.bind_condition(from_dict(obj))
            if op == 'u':
                inventory.update(obj)
            elif op == 'd':
                inventory.delete(obj)
            else:
                raise ObjectError(f'unknown operation {op!r} (expected "u" or "d")')
        except ObjectError as exc:
            raise ObjectError(f'change {index} ({op} {type(obj).__name__ if not isinstance(obj, dict) else obj.get("_t")}): {exc}') from None
        count += 1
        if progress and count % 10000 == 0:
            progress(count)
    return count


def read_changeset(seq, using='default'):
    """The logged operations of change set `seq`, in order."""
    for chunk in (ChangeSetChunk.objects.using(using).filter(changeset_id=seq).order_by('index')
                  .values_list('data', flat=True)):
        yield from json.loads(chunk)


def replay(inventory, seq, operations, digest=None):
    """Apply logged change set `seq` to the RAM image only (all or nothing)."""
    inventory.begin(keep_ids=True)
    try:
        apply_operations(inventory, operations)
    except Exception:
        if not inventory.abort():
            raise ImageLost(f'change set {seq} could not be replayed nor undone')
        raise
    journal = inventory.end()
    _invalidate(inventory, journal)
    inventory.seq = seq
    if digest is not None:
        inventory.digest = digest


def catch_up(inventory, upto=None):
    """Replay (RAM only) change sets that other writers committed after this image was loaded."""
    qs = ChangeSet.objects.filter(seq__gt=inventory.seq).order_by('seq')
    if upto is not None:
        qs = qs.filter(seq__lte=upto)
    applied = 0
    for seq, digest in qs.values_list('seq', 'digest'):
        replay(inventory, seq, read_changeset(seq), digest)
        applied += 1
    return applied


def _invalidate(inventory, journal):
    if inventory.files is not None and (journal.file_upserts or journal.file_deletes or journal.removed):
        blocks = {f.block.id for f in journal.file_upserts.values()}
        blocks.update(f.block.id for f in journal.file_deletes.values())
        inventory.files.invalidate(blocks)


class _NoLock:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def apply_changeset(*, inventory, origin, operations=None, builder=None, keep_ids=False, progress=None,
                    ram_lock=None, expect=None):
    """Apply one change set to RAM and database atomically; returns AppliedChangeSet.

    Either `operations` (ordered ('u'|'d', dict) pairs) or `builder(inventory) -> result dict`
    (which calls inventory.update/delete itself, e.g. injection) describes the changes.
    On any error nothing changes, in RAM or in the database, and the error is raised.

    `ram_lock()` (the server's writer lock) is held only while RAM objects change: operations are
    decoded before it is taken and the database is written after it is released, so readers wait
    for the RAM mutation alone. They see the whole change set or none of it; should the database
    then refuse it, it is undone in RAM under the lock again.
    """
    start = time.monotonic()
    ram_lock = ram_lock or _NoLock
    journal = None
    if operations is not None:
        operations = decode_operations(operations)
    try:
        with transaction.atomic():
            state, _ = InventoryState.objects.select_for_update().get_or_create(id=1)
            seq = state.seq + 1
            if expect is None and state.primary_at:
                raise Fenced(f'this server is no longer the primary (epoch {state.epoch}: the primary is '
                             f'{state.primary_at}); nothing was applied')
            if expect is not None and expect[0] != seq:
                raise OutOfSync(f'change set {expect[0]} does not follow this store (at {state.seq})')
            ram_start = time.monotonic()
            with ram_lock():
                locked_at = time.monotonic()
                if state.seq != inventory.seq:
                    catch_up(inventory, upto=state.seq)
                log_writer = _ChangeSetWriter(seq, origin, state.digest)
                journal = inventory.begin(keep_ids=keep_ids, sink=log_writer.add)
                result = {}
                if builder is not None:
                    result = builder(inventory) or {}
                if operations is not None:
                    apply_operations(inventory, operations, progress)
                ram_done = time.monotonic()
            if journal.num_ops:
                store.persist(journal)
                digest = log_writer.close(journal.num_ops)
                if expect is not None and expect[1] and expect[1] != digest:
                    raise OutOfSync(f'change set {seq} replayed with digest {digest[:12]}, '
                                    f'the primary logged {expect[1][:12]}')
                state.seq = seq
                state.digest = digest
                state.updated = timezone.now()
                state.save(update_fields=['seq', 'digest', 'updated'])
            else:
                if expect is not None:
                    raise OutOfSync(f'change set {expect[0]} changed nothing here')
                log_writer.discard()
    except BaseException:
        if journal is not None and inventory.journal is journal:
            with ram_lock():
                if not inventory.abort():
                    raise ImageLost('a failed change set was too large to undo in RAM')
        raise
    # committed
    journal = inventory.end()
    if journal.num_ops:
        inventory.seq = state.seq
        inventory.digest = state.digest
    _invalidate(inventory, journal)
    elapsed = time.monotonic() - start
    log.info('applied change set %s from %s: %d changes in %.2f s (readers locked out %.2f s after '
             'waiting %.2f s for them)', inventory.seq, origin, journal.num_ops, elapsed,
             ram_done - locked_at, locked_at - ram_start,
             extra={'seq': inventory.seq, 'origin': origin, 'changes': journal.num_ops, 'seconds': round(elapsed, 3)})
    applied = AppliedChangeSet(inventory.seq if journal.num_ops else 0, journal.num_ops, elapsed, result)
    for observer in _observers:
        observer(applied)
    return applied


class _ChangeSetWriter:
    """Streams the resolved operations of the change set being applied into the log, in chunks,
    inside the write transaction. Operations are buffered while RAM changes (readers are locked
    out then) and written after; only a huge change set is written as it goes, so that a million
    changes never sit in memory at once. The chained digest covers every chunk written:
    sha256(previous digest, chunk 0, chunk 1, ...)."""
    BUFFER = 50000

    def __init__(self, seq, origin, previous_digest):
        self.seq = seq
        self.buffer = []
        self.index = 0
        self.hash = hashlib.sha256(previous_digest.encode())
        self.changeset = ChangeSet.objects.create(
            seq=seq, origin=origin[:255], applied_at=timezone.now(), num_changes=0)

    def add(self, op, data):
        self.buffer.append((op, data))
        if len(self.buffer) >= self.BUFFER:
            self._flush()

    def _flush(self):
        # a chunk holds at most CHUNK operations and about CHUNK_BYTES of JSON (one bigger operation
        # is a chunk of its own), and one INSERT at most INSERT_BYTES: far below the 16 MiB and
        # more of a MariaDB max_allowed_packet, whatever the size of the objects
        chunks, batch, ops, size = [], 0, [], 0
        for op in self.buffer:
            text = json.dumps(op, separators=(',', ':'))
            if ops and (len(ops) >= CHUNK or size + len(text) > CHUNK_BYTES):
                batch = self._chunk(ops, chunks, batch)
                ops, size = [], 0
            ops.append(text)
            size += len(text) + 1
        if ops:
            self._chunk(ops, chunks, batch)
        if chunks:
            ChangeSetChunk.objects.bulk_create(chunks)
        self.buffer = []

    def _chunk(self, ops, chunks, batch):
        data = '[' + ','.join(ops) + ']'
        encoded = data.encode()
        self.hash.update(encoded)
        if chunks and batch + len(encoded) > INSERT_BYTES:
            ChangeSetChunk.objects.bulk_create(chunks)
            chunks.clear()
            batch = 0
        chunks.append(ChangeSetChunk(changeset_id=self.seq, index=self.index, data=data))
        self.index += 1
        return batch + len(encoded)

    def close(self, num_changes):
        self._flush()
        digest = self.hash.hexdigest()
        ChangeSet.objects.filter(seq=self.seq).update(
            num_changes=num_changes, applied_at=timezone.now(), digest=digest)
        return digest

    def discard(self):
        ChangeSet.objects.filter(seq=self.seq).delete()


def apply_request(*, inventory, kind, text, origin, progress=None, ram_lock=None):
    """Apply a queued write: an injection or invalidation document, or a JSON list of operations."""
    from inventory import injection
    if kind in ('inject', 'delete'):
        doc = injection.parse_document(text)
        action = injection.inject if kind == 'inject' else injection.invalidate
        return apply_changeset(inventory=inventory, origin=origin, ram_lock=ram_lock,
                               builder=lambda inv: action(inv, doc, progress=progress))
    try:
        operations = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ObjectError(f'malformed JSON change list: {exc.msg} at line {exc.lineno}') from None
    if not isinstance(operations, list):
        raise ObjectError('a change list must be a JSON list of [op, object]')
    return apply_changeset(inventory=inventory, origin=origin, operations=operations, ram_lock=ram_lock)


def summarize(applied):
    """{'seq', 'num_changes', 'elapsed', counts..., 'names', 'warnings'} for clients."""
    result = dict(applied.result)
    for extra in ('names', 'warnings'):
        value = getattr(applied.result, extra, None)
        if value:
            result[extra] = value
    result.update(seq=applied.seq, num_changes=applied.num_changes, elapsed=round(applied.elapsed, 3))
    return result
