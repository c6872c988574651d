"""The queue of writes, driven one turn at a time: documents are applied in order as one change
set each; a refused one changes nothing and says why; while a writer holds the lease only the
requests it sent are applied."""
import json

import pytest

from execution.cluster.lease import lease_acquire, lease_release
from execution.models import RequestKind, RequestState
from execution.services import requests
from execution.topology import lease_owner
from inventory.objects import Dataset, to_dict
from tests.execution.conftest import run_until
from tests.support import row_counts

pytestmark = pytest.mark.django_db(transaction=True)


def doc(*names):
    return json.dumps({'dataset': [{'name': name} for name in names]})


def state(request):
    request.refresh_from_db()
    return request.state


def test_queued_documents_are_applied_in_order_as_one_change_set_each(make_server):
    server = make_server()
    first = requests.request_submit(kind=RequestKind.INJECT, origin='test', payload=doc('/Q/One/RAW'))
    second = requests.request_submit(kind=RequestKind.INJECT, origin='test', payload=doc('/Q/Two/RAW', '/Q/Three/RAW'))
    run_until(server, lambda: state(second) == RequestState.APPLIED, what='both requests applied')
    first.refresh_from_db()
    assert first.state == RequestState.APPLIED and second.seq == first.seq + 1
    assert json.loads(second.result)['datasets'] == 2
    assert {'/Q/One/RAW', '/Q/Two/RAW', '/Q/Three/RAW'} <= set(server.scheduler.runtime.inventory.datasets)


def test_a_refused_document_changes_nothing_and_says_why(make_server):
    server = make_server()
    before = row_counts()
    bad = requests.request_submit(kind=RequestKind.INJECT, origin='test',
                                  payload=json.dumps({'datasetreplica': [{'dataset': '/No/Such/RAW', 'site': 'T2_X'}]}))
    run_until(server, lambda: state(bad) == RequestState.FAILED, what='the refusal')
    assert '/No/Such/RAW' in bad.message
    assert row_counts() == before


def test_while_a_writer_holds_the_lease_only_its_requests_are_applied(make_server, make_server_row):
    server = make_server()
    writer = make_server_row(role='secondary')
    holder = lease_owner(server_id=writer.id, what='application 1')
    assert lease_acquire(holder)
    try:
        other = requests.request_submit(kind=RequestKind.INJECT, origin='test', payload=doc('/Q/Other/RAW'))
        own = requests.request_submit(kind=RequestKind.CHANGES, origin='application 1', lease=holder,
                                      payload=json.dumps([['u', to_dict(Dataset('/Q/Own/RAW'))]]))
        run_until(server, lambda: state(own) == RequestState.APPLIED, what='the holder\'s request applied')
        for _ in range(5):
            server.turn()
        assert state(other) == RequestState.PENDING
    finally:
        lease_release(holder)
    run_until(server, lambda: state(other) == RequestState.APPLIED, what='the other request after the release')


def test_a_web_write_sent_while_the_server_finishes_starting_is_applied_not_refused(make_server, monkeypatch):
    # the image is served (reads answer 200) a moment before the loop's first turn: a write sent
    # then waits for the loop instead of being answered 503 "no server loop is running"
    import threading
    from execution import server as server_module
    from execution.writepath import submit_write
    outcome = {}
    real_hub = server_module.Hub

    def hub_and_a_write():   # called by start() after the load, before the loop turns
        def write():
            try:
                outcome['value'] = submit_write(lambda inv: inv.update(Dataset('/Early/Write/RAW')) and 'ok',
                                                origin='test', timeout=30)
            except Exception as exc:    # noqa: BLE001 - the test reports it
                outcome['error'] = exc
        thread = threading.Thread(target=write)
        thread.start()
        outcome['thread'] = thread
        thread.join(0.5)     # it has been sent (and refused at once, before the fix)
        return real_hub()
    monkeypatch.setattr(server_module, 'Hub', hub_and_a_write)
    server = make_server(demo=False)
    run_until(server, lambda: not outcome['thread'].is_alive(), timeout=30, what='the write')
    assert 'error' not in outcome, outcome.get('error')
    assert '/Early/Write/RAW' in server.scheduler.runtime.inventory.datasets
