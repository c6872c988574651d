"""The election, directly: who takes over, and when. A takeover comes `failover_timeout` after the
primary's last heartbeat (not that long after a secondary noticed the silence); the lowest-id live
secondary wins; a live primary is never replaced."""
import json
import time
from types import SimpleNamespace

import pytest
from django.utils import timezone

from execution.cluster.failover import Coordinator, choose_winner, primary_silence
from execution.models import Server, ServerState
from execution.topology import TOPOLOGY
from inventory.models import InventoryState


def test_the_lowest_live_id_wins_and_every_secondary_agrees():
    assert choose_winner(7, {7, 9, 12}) == 7
    assert choose_winner(9, {7, 9, 12}) == 7
    assert choose_winner(12, set()) == 12       # alone: itself


def test_silence_is_the_age_of_the_last_heartbeat():
    now = timezone.now()
    assert primary_silence(now - timezone.timedelta(seconds=31), now) == pytest.approx(31)
    assert primary_silence(now + timezone.timedelta(seconds=1), now) == 0.   # a clock ahead is no silence


class _Server:
    """What the coordinator calls on its DynamoServer."""

    def __init__(self):
        self.follower = SimpleNamespace(catch_up=lambda inventory: 0)
        self.record = SimpleNamespace(hostname='test-host')
        self.promoted = False

    def became_primary(self):
        self.promoted = True

    def follow(self, address):
        raise AssertionError(f'unexpected follow({address})')


@pytest.fixture
def as_secondary(settings, make_server_row):
    """This process as a secondary (server row `me`) of the test database's primary row."""
    settings.DYNAMO_FAILOVER_TIMEOUT = 30
    InventoryState.objects.get_or_create(id=1)
    saved = TOPOLOGY.role, TOPOLOGY.server_id
    made = {}

    def make(primary_age, other_secondaries=()):
        made['primary'] = make_server_row(role='primary', heartbeat_age=primary_age)
        made['others'] = [make_server_row(role='secondary') for _ in other_secondaries]
        made['me'] = make_server_row(role='secondary')
        TOPOLOGY.role, TOPOLOGY.server_id = 'secondary', made['me'].id
        server = _Server()
        runtime = SimpleNamespace(inventory=SimpleNamespace(seq=0, digest=''))
        return Coordinator(server, runtime), server, made
    yield make
    TOPOLOGY.role, TOPOLOGY.server_id = saved




@pytest.mark.mariadb
@pytest.mark.django_db(transaction=True, databases='__all__')
def test_a_live_primary_is_not_replaced(as_secondary):
    coordinator, server, _ = as_secondary(primary_age=20)
    coordinator.beat()
    assert not server.promoted and TOPOLOGY.role == 'secondary'


@pytest.mark.mariadb
@pytest.mark.django_db(transaction=True, databases='__all__')
def test_takeover_comes_the_timeout_after_the_primarys_last_heartbeat(as_secondary):
    # given a primary whose last heartbeat is 29 s old, seen by this secondary for the first time
    coordinator, server, made = as_secondary(primary_age=29)
    coordinator.beat()
    assert not server.promoted
    # when its heartbeat turns 30 s old, 1.5 s later (not 30 s after the secondary noticed)
    time.sleep(1.5)
    coordinator.beat()
    # then this secondary is the primary of a new epoch and the old primary is recorded as replaced
    assert server.promoted and TOPOLOGY.role == 'primary'
    assert InventoryState.objects.get(id=1).epoch == 1
    assert Server.objects.get(id=made['primary'].id).state == ServerState.GONE
    assert Server.objects.get(id=made['me'].id).role == 'primary'


@pytest.mark.mariadb
@pytest.mark.django_db(transaction=True, databases='__all__')
def test_a_live_secondary_with_a_lower_id_takes_over_instead(as_secondary):
    coordinator, server, made = as_secondary(primary_age=40, other_secondaries=[1])
    other = made['others'][0]
    # the other secondary heartbeats into its own database (here: this one), where peers look
    Server.objects.filter(id=other.id).update(db_address=json.dumps(TOPOLOGY.own_address()))
    coordinator.beat()
    assert not server.promoted and TOPOLOGY.role == 'secondary'
