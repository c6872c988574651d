"""The writer lease, directly: one holder at a time; renewal; expiry; a dead holder's lease is
released at once (its process is gone on this host, or its heartbeat is older than the timeout)."""
import pytest
from django.utils import timezone

from execution.cluster import lease
from execution.topology import lease_owner
from inventory.models import InventoryState
from tests.execution.conftest import dead_pid

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh_checks():
    lease._checked.clear()
    yield
    lease._checked.clear()


def test_one_holder_at_a_time_and_renewal(make_server_row):
    me, other = make_server_row(), make_server_row()
    mine, theirs = lease_owner(server_id=me.id, what='write'), lease_owner(server_id=other.id, what='write')
    assert lease.lease_acquire(mine)
    assert lease.lease_acquire(mine)          # renewal by the holder
    assert not lease.lease_acquire(theirs)
    assert lease.lease_holder() == mine
    lease.lease_release(theirs)               # someone else's release changes nothing
    assert lease.lease_holder() == mine
    lease.lease_release(mine)
    assert lease.lease_holder() == ''
    assert lease.lease_acquire(theirs)


def test_an_expired_lease_is_taken(make_server_row):
    me, other = make_server_row(), make_server_row()
    assert lease.lease_acquire(lease_owner(server_id=other.id, what='application 7'))
    InventoryState.objects.filter(id=1).update(writer_expires=timezone.now() - timezone.timedelta(seconds=1))
    assert lease.lease_holder() == ''
    assert lease.lease_acquire(lease_owner(server_id=me.id, what='write'))


def test_the_lease_of_a_server_whose_process_is_gone_is_released_at_once(make_server_row):
    me = make_server_row()
    crashed = make_server_row(pid=dead_pid())   # this host, no such process: known dead
    holder = lease_owner(server_id=crashed.id, what='application 3')
    InventoryState.objects.update_or_create(id=1, defaults={
        'writer': holder, 'writer_expires': timezone.now() + timezone.timedelta(seconds=60)})
    assert lease.lease_holder() == ''
    assert lease.lease_acquire(lease_owner(server_id=me.id, what='write'))


def test_the_lease_of_a_silent_server_is_released(make_server_row, settings):
    settings.DYNAMO_FAILOVER_TIMEOUT = 5
    me = make_server_row()
    silent = make_server_row(hostname='elsewhere.example', heartbeat_age=6)   # another host: its heartbeat decides
    InventoryState.objects.update_or_create(id=1, defaults={
        'writer': lease_owner(server_id=silent.id, what='write'),
        'writer_expires': timezone.now() + timezone.timedelta(seconds=60)})
    assert lease.lease_acquire(lease_owner(server_id=me.id, what='write'))


def test_a_live_holder_keeps_its_lease(make_server_row, settings):
    settings.DYNAMO_FAILOVER_TIMEOUT = 5
    me = make_server_row()
    alive = make_server_row(hostname='elsewhere.example', heartbeat_age=2)
    holder = lease_owner(server_id=alive.id, what='write')
    assert lease.lease_acquire(holder)
    assert not lease.lease_acquire(lease_owner(server_id=me.id, what='write'))
    assert lease.lease_holder() == holder
