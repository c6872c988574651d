"""The usage history: samples measured from an image, recorded one row per site, partition and
time, pruned by retention, read back as thinned series; the `usage` cycle run by the schedule at
its interval and by `manage.py dynamo_usage --record` on a real server."""
import datetime
import time

import pytest

from inventory.objects import Partition, Site, SitePartition
from tests.conftest import manage
from tests.webmodules.helpers import CERN, MIT, wait_for
from usage import selectors, services
from usage.measure import measure
from usage.models import UsageSample

GB = 10 ** 9


class _Image:
    def __init__(self, sites):
        self.sites = {s.name: s for s in sites}


def _site(name, quotas):
    site = Site(name)
    for partition, quota in quotas.items():
        p = Partition(partition)
        site.partitions[p] = SitePartition(site, p, quota)
    return site


def test_a_measure_is_one_row_per_site_and_partition_by_name():
    image = _Image([_site('T2_B', {'Default': 5 * GB, 'AnalysisOps': -1}), _site('T1_A', {'Default': 0})])
    assert measure(image) == [['T1_A', 'Default', 0, 0, 0], ['T2_B', 'AnalysisOps', -1, 0, 0],
                              ['T2_B', 'Default', 5 * GB, 0, 0]]


@pytest.mark.django_db
def test_samples_are_recorded_read_back_and_pruned():
    # given three samples an hour apart, and one 500 days old
    now = time.time()
    for i, usage in enumerate((1, 2, 3)):
        services.samples_record(when=now - 3600 * (2 - i), rows=[[MIT, 'Default', 10 * GB, usage * GB, usage * GB + 1],
                                                             [CERN, 'Default', -1, 7, 7]])
    services.samples_record(when=now - 500 * 86400, rows=[[MIT, 'Default', 10 * GB, 0, 0]])
    assert UsageSample.objects.count() == 7
    # a second sample of the same second replaces the first (one row per site, partition and time)
    services.samples_record(when=now, rows=[[MIT, 'Default', 10 * GB, 3 * GB, 3 * GB + 1]])
    assert UsageSample.objects.filter(site=MIT).count() == 4

    series = selectors.history(site='T2_*', partition='Default', since=now - 86400)
    assert [s['site'] for s in series] == [MIT]
    assert [p[2] for p in series[0]['points']] == [GB, 2 * GB, 3 * GB]
    assert series[0]['points'][0][1] == 10 * GB and series[0]['points'][0][3] == GB + 1
    assert {s['site'] for s in selectors.history(partition='Default')} == {MIT, CERN}

    # when pruned with the retention of 400 days, the old sample goes
    assert services.samples_prune(keep_days=400) == 1
    assert not UsageSample.objects.filter(time__lt=datetime.datetime.now(datetime.timezone.utc)
                                          - datetime.timedelta(days=400)).exists()


def test_long_series_are_thinned_to_the_last_sample_of_each_interval():
    rows = [[t, 0, t, t] for t in range(1000)]
    thin = selectors.thin(rows, 10)
    assert len(thin) == 10 and thin[0] == rows[0] and thin[-1] == rows[-1]
    assert [r[0] for r in thin] == sorted(r[0] for r in thin)
    assert selectors.thin(rows[:5], 10) == rows[:5]


@pytest.mark.e2e
def test_the_schedule_records_a_sample_at_each_interval(make_web):
    # given a server whose schedule runs the usage cycle every 2 seconds
    web = make_web(env={'DYNAMO_SCHEDULE_EXTRA': 'usage: 2s', 'DYNAMO_SCHEDULE_TICK': '0.5'})
    # then samples of every site and partition arrive, one per interval
    def samples():
        history = web.client.data('inventory/history?site=T2_US_MIT&partition=Default')
        return history and len(history[0]['points']) >= 2 and history
    history = wait_for(samples, timeout=60, what='two scheduled usage samples')
    points = history[0]['points']
    assert [p[0] for p in points] == sorted({p[0] for p in points})    # distinct samples, in time order
    site = web.client.data(f'inventory/sites?site={MIT}&partition=Default')[0]['partitions'][0]
    assert points[-1][2:] == [site['usage'], site['projected_usage']]
    apps = web.client.data('applications/list', params={'title': 'Usage sample (schedule: usage)'})
    assert apps and apps[0]['state'] == 'done'


@pytest.mark.e2e
def test_dynamo_usage_records_a_sample_now_and_lists_them(make_web):
    web = make_web()
    r = manage('dynamo_usage', '--record', env=web.env)
    assert r.returncode == 0, r.stdout + r.stderr
    sites = web.client.data('inventory/sites')
    rows = sum(len(s['partitions']) for s in sites)
    assert f'{rows} usage samples recorded' in r.stdout
    r = manage('dynamo_usage', '--list', env=web.env)
    assert r.returncode == 0 and f'{rows} rows  (schedule)' in r.stdout, r.stdout + r.stderr
    r = manage('dynamo_usage', '--site', MIT, env=web.env)
    assert r.returncode == 0 and f'{MIT} Default' in r.stdout and 'usage' in r.stdout, r.stdout + r.stderr
