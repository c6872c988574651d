"""The Django admin as an operator reads it: times as dates, block replicas by dataset#block
names, a site's partitions and quotas on its page, and no delete of a live server's row."""
import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from tests.support import demo_doc, inject, load_image

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser('boss', '', 'secret-password')
    client.force_login(user)
    inventory = load_image()
    inject(inventory, demo_doc())
    return client


def test_times_are_dates_and_block_replicas_are_named(admin_client):
    from inventory.models import Dataset
    Dataset.objects.update(last_update=1767225600)   # 2026-01-01 00:00:00 UTC
    page = admin_client.get('/admin/inventory/dataset/').content.decode()
    assert '2026-01-01 00:00:00 UTC' in page and '1767225600' not in page
    page = admin_client.get('/admin/inventory/blockreplica/').content.decode()
    assert '/SingleMuon/Run2026A-PromptReco-v1/MINIAOD#' in page


def test_a_sites_page_shows_its_partitions_and_quotas(admin_client):
    from inventory.models import Partition, Quota, Site
    site = Site.objects.get(name='T2_US_MIT')
    partition, _ = Partition.objects.get_or_create(name='Default', defaults={'id': 1})
    Quota.objects.update_or_create(site=site, partition=partition,
                                   defaults={'quota': 120 * 10 ** 12})
    page = admin_client.get(f'/admin/inventory/site/{site.id}/change/').content.decode()
    assert 'partitions and quotas' in page.lower() and 'Default' in page and '120.00 TB' in page


def test_a_live_servers_row_cannot_be_deleted(admin_client):
    from execution.models import Server, ServerState
    now = timezone.now()
    live = Server.objects.create(hostname='h', pid=1, state=ServerState.ONLINE, started=now, heartbeat=now)
    dead = Server.objects.create(hostname='h', pid=2, state=ServerState.DEAD, started=now, heartbeat=now)
    listing = admin_client.get('/admin/execution/server/').content.decode()
    assert 'delete_selected' not in listing
    assert admin_client.get(f'/admin/execution/server/{live.id}/delete/').status_code == 403
    assert admin_client.get(f'/admin/execution/server/{dead.id}/delete/').status_code == 200
