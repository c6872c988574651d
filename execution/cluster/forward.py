"""A secondary's writes go to the primary, the cluster's single committer: as change requests in
the primary's write queue, sent under the writer lease, applied there and replayed here."""
import json
import time

from execution.cluster.lease import lease_acquire, lease_release
from execution.errors import WriterUnavailable
from execution.models import RequestKind, RequestState
from execution.services import requests
from execution.topology import TOPOLOGY, lease_owner
from inventory import services as inventory_services
from inventory.objects import ObjectError


def send_changes(operations, *, origin, lease):
    """Queue ordered [op, object] changes in the cluster's write queue, sent by the holder of the
    writer lease `lease`; returns the request."""
    return requests.request_submit(kind=RequestKind.CHANGES, origin=origin, lease=lease,
                                   payload=json.dumps(operations, separators=(',', ':')))


def forward_write(runtime, job):
    """Run a web write on this (secondary) image without keeping it: its changes, collected in
    order, become a change request on the primary. The web thread then waits for the primary to
    apply it and for this image to replay it (see writepath.submit_write)."""
    operations = []
    value = None
    owner = lease_owner(server_id=TOPOLOGY.server_id, what='web write')
    if not lease_acquire(owner):
        if not job.cancelled:
            runtime.write_jobs.put(job)   # another writer works: try again on the next turn
        return False
    job.lease = owner
    try:
        if runtime.follower is not None:
            runtime.follower.catch_up(runtime.inventory)   # the write must see every committed change
        with runtime.lock.write():
            inventory = runtime.inventory
            journal = inventory.begin(sink=lambda op, data: operations.append([op, data]))
            journal.portable_files = True
            try:
                value = job.fn(inventory)
            finally:
                if not inventory.abort():
                    raise inventory_services.ImageLost('a forwarded web write could not be undone here')
        if operations:
            job.forward = send_changes(operations, origin=job.origin, lease=owner).id
        else:
            lease_release(owner)
        job.result = (value, None)
    except inventory_services.ImageLost as exc:
        lease_release(owner)
        job.error = exc
        job.done.set()
        raise
    except BaseException as exc:   # reported to the web caller; nothing was sent
        lease_release(owner)
        job.error = exc
    job.done.set()
    return True


def wait_forwarded(runtime, request_id, timeout, lease=None):
    """Wait for a forwarded write: applied on the primary, then replayed here. Returns an
    AppliedChangeSet; raises ObjectError if the primary refused it (nothing changed then)."""
    deadline = time.monotonic() + timeout
    try:
        request = requests.request_wait(request_id=request_id, timeout=timeout)
    finally:
        if lease:
            lease_release(lease)
    if request.state == RequestState.FAILED:
        raise ObjectError(request.message)
    if request.state != RequestState.APPLIED:
        raise WriterUnavailable(f'the primary has not applied request {request_id} yet (it is {request.state}); '
                                'it may still be applied')
    while request.seq and runtime.inventory.seq < request.seq and time.monotonic() < deadline:
        time.sleep(0.005)
    result = json.loads(request.result or '{}')
    return inventory_services.AppliedChangeSet(request.seq or 0, result.get('num_changes', 0),
                                               result.get('elapsed', 0.), result)
