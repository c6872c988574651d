"""Consistency checks between local directory sites: the dump format, dry runs, the threshold that
stops a check from acting, operations in flight that explain differences, a site with a filename
mapping, the command, and the `consistency` cycle whose checks a worker runs."""
import gzip
import os
import threading
import time

import pytest

from fileops import consistency
from fileops.models import ConsistencyReport, FileTask
from tests.conftest import manage
from tests.storage_servers import LocalSite
from transfers.models import BlockTransfer

pytestmark = pytest.mark.django_db(transaction=True)
DS = '/Consistency/Check/RAW'
OLD = time.time() - 60 * 86400


@pytest.fixture
def sites(grid, tmp_path):
    made = {name: LocalSite(tmp_path / name) for name in ('T2_CC_A', 'T2_CC_B')}
    for name, storage in made.items():
        grid.add_site(name, storage)
    return made


def plant_old(storage, lfn, data=b'dark data'):
    path = storage.plant(lfn, data)
    os.utime(path, (OLD, OLD))
    return path


def check(site, **kwargs):
    report = consistency.report_request(site=site, claim='test', **kwargs)
    return consistency.run_check(report)


def test_the_dump_format_reads_lfns_pfns_comments_and_gzip_and_names_a_bad_line(grid, sites, tmp_path):
    grid.add_dataset(DS, {'b1': 2}, at='T2_CC_A')
    url = sites['T2_CC_A'].url
    lines = ['# SIZE MTIME PATH', '', f'4096 {int(OLD)} /store/test{DS}/b1/file0.root',
             f'4096 {int(OLD)} {url}/store/test{DS}/b1/file1.root', f'7 {int(OLD)} /store/dark/with space.root',
             f'3 {int(OLD)} /elsewhere/outside.root', f'5 {int(OLD)} root://other.example//store/x.root']
    path = tmp_path / 'dump.txt.gz'
    with gzip.open(path, 'wt') as f:
        f.write('\n'.join(lines) + '\n')
    listing = consistency.read_dump(str(path), 'T2_CC_A', roots=['/store'])
    assert sorted(listing.files) == ['/store/dark/with space.root', f'/store/test{DS}/b1/file0.root',
                                     f'/store/test{DS}/b1/file1.root']
    assert listing.unmapped == ['root://other.example//store/x.root']
    report = consistency.run_check(consistency.report_request(site='T2_CC_A', claim='t', threshold=1),
                                   listing=listing)
    assert (report.state, report.missing, report.orphans) == ('compared', 0, 1)
    assert '1 listed paths name no LFN of the site' in report.message
    (tmp_path / 'bad.txt').write_text('4096 123 /store/a\nnot a line\n')
    with pytest.raises(consistency.ConsistencyError, match='bad.txt, line 2: expected "SIZE MTIME PATH"'):
        consistency.read_dump(str(tmp_path / 'bad.txt'), 'T2_CC_A', roots=['/store'])


def test_a_dry_run_reports_and_a_check_over_the_threshold_stops_without_acting(grid, sites):
    files = grid.add_dataset(DS, {'b1': 4}, at='T2_CC_A')
    lost = sorted(files)[0]
    sites['T2_CC_A'].path(lost).unlink()
    plant_old(sites['T2_CC_A'], '/store/dark/a.root')
    # a dry run: the differences, nothing done
    report = check('T2_CC_A', dry_run=True, threshold=1)
    assert (report.state, report.missing, report.orphans) == ('reported', 1, 1)
    # over the threshold (1 of 4 files is 25 %, over 10 %): stopped
    report = check('T2_CC_A', threshold=0.1)
    assert report.state == 'stopped' and 'over the threshold of 10.00% of 4 files' in report.message
    grid.cycle()
    assert grid.replica(DS, 'b1', 'T2_CC_A').is_complete()
    assert sites['T2_CC_A'].path('/store/dark/a.root').exists()
    assert not FileTask.objects.exists() and not BlockTransfer.objects.exists()
    assert set(ConsistencyReport.objects.values_list('state', flat=True)) == {'reported', 'stopped'}


def test_operations_in_flight_explain_differences(grid, sites):
    # given: B has b1 (4 files); one is being deleted (removed already), one transfer to B is queued
    # (its file already there), and one copy was done but not applied yet
    files = grid.add_dataset(DS, {'b1': 4, 'b2': 3}, at=['T2_CC_A', 'T2_CC_B'])
    b1 = sorted(lfn for lfn in files if '/b1/' in lfn)
    grid.delete(DS, 'b1', 'T2_CC_B')
    grid.cycle()                                     # deletion tasks queued
    sites['T2_CC_B'].path(b1[0]).unlink()            # one of them ran, not reported yet
    b2 = sorted(lfn for lfn in files if '/b2/' in lfn)
    from inventory.objects import BlockReplica
    grid.apply(lambda inv: inv.delete(BlockReplica(f'{DS}#b2', 'T2_CC_B')))
    grid.transfer(DS, 'b2', 'T2_CC_B')
    grid.cycle()                                     # transfer tasks queued; the files are still there
    for lfn in b2:
        os.utime(sites['T2_CC_B'].path(lfn), (OLD, OLD))
    # when
    report = check('T2_CC_B', threshold=1)
    # then: neither the deleted file is missing nor the files in transfer orphans
    assert (report.missing, report.orphans, report.skipped) == (0, 0, 4), report.message
    assert report.state == 'reported'


def test_a_site_with_a_filename_mapping_is_listed_through_it(grid, tmp_path):
    # given: a site whose LFNs /store/... live under <root>/cms/... (a chain, not backend + LFN)
    from inventory.objects import Site
    storage = LocalSite(tmp_path / 'mapped')
    mapping = {'gfal2': [[['/store/(.*)', f'file://{storage.root}/cms/{{0}}']]]}
    grid.apply(lambda inv: inv.update(Site('T2_CC_M', backend='', status='ready', filename_mapping=mapping)))
    grid.inject({'group': [{'name': 'physics'}], 'dataset': [{'name': DS, 'blocks': [{'name': 'b1', 'files': [
        {'name': '/store/m/f0.root', 'size': 5, 'adler32': '0'}, {'name': '/store/m/f1.root', 'size': 5,
                                                                   'adler32': '0'}]}]}],
        'datasetreplica': [{'dataset': DS, 'site': 'T2_CC_M', 'group': 'physics'}]})
    storage.plant('/cms/m/f0.root', b'12345')
    storage.plant('/cms/m/f1.root', b'123')         # another size: counted as missing
    plant_old(storage, '/cms/dark/x.root')
    plant_old(storage, '/outside/y.root')
    # when
    report = check('T2_CC_M', threshold=1)
    # then
    assert (report.listed_files, report.missing, report.orphans) == (3, 1, 1)
    assert list(report.entries.filter(kind='missing').values_list('lfn', 'size')) == [('/store/m/f1.root', 3)]
    assert list(report.entries.filter(kind='orphan').values_list('lfn', flat=True)) == ['/store/dark/x.root']


def test_the_command_reports_and_the_updater_acts(grid, sites):
    files = grid.add_dataset(DS, {'b1': 4}, at=['T2_CC_A', 'T2_CC_B'])
    lost = sorted(files)[2]
    sites['T2_CC_B'].path(lost).unlink()
    plant_old(sites['T2_CC_B'], '/store/dark/old.root')
    sites['T2_CC_B'].plant('/store/dark/young.root', b'new')
    dry = manage('dynamo_consistency', '--site', 'T2_CC_B', '--dry-run', '--threshold', '0.5')
    assert dry.returncode == 0, dry.stderr
    assert ': reported - dry run: nothing done' in dry.stdout
    assert f'missing  {lost}' in dry.stdout and 'orphan   /store/dark/old.root' in dry.stdout
    assert 'orphan   /store/dark/young.root (young)' in dry.stdout
    real = manage('dynamo_consistency', '--site', 'T2_CC_B', '--threshold', '0.5')
    assert real.returncode == 0 and 'compared; the updater acts on it' in real.stdout, real.stdout
    summary = grid.cycle()
    assert summary['consistency_reports'] == 1 and summary['consistency_retransfers'] == 1
    assert not grid.replica(DS, 'b1', 'T2_CC_B').is_complete()
    grid.settle()
    assert grid.replica(DS, 'b1', 'T2_CC_B').is_complete()
    assert sites['T2_CC_B'].path(lost).read_bytes() == files[lost]
    assert not sites['T2_CC_B'].path('/store/dark/old.root').exists()
    assert sites['T2_CC_B'].path('/store/dark/young.root').exists()
    failed = manage('dynamo_consistency', '--site', 'T2_NOWHERE')
    assert failed.returncode != 0 and 'no site T2_NOWHERE' in failed.stderr


def test_a_missing_root_is_an_error_when_the_inventory_expects_files_there(grid, sites):
    files = grid.add_dataset(DS, {'b1': 1}, at='T2_CC_A')
    import shutil
    shutil.rmtree(sites['T2_CC_A'].root / 'store')
    report = check('T2_CC_A', threshold=1)
    assert report.state == 'failed' and 'listing' in report.message and 'failed' in report.message
    assert grid.replica(DS, 'b1', 'T2_CC_A').is_complete() and files


def test_the_consistency_cycle_requests_checks_that_a_worker_runs(grid, sites, settings):
    settings.DYNAMO_CONSISTENCY_THRESHOLD = 0.5
    grid.add_dataset(DS, {'b1': 2}, at='T2_CC_A')
    plant_old(sites['T2_CC_A'], '/store/dark/z.root')
    result = grid.cycle('consistency', {'sites': ['T2_CC_A']})
    (report_id,) = result['reports']
    assert ConsistencyReport.objects.get(id=report_id).state == 'new'
    # a second request while one is pending adds nothing
    assert grid.cycle('consistency', {'sites': ['T2_CC_A']})['reports'] == []
    from fileops.worker import Worker
    stop = threading.Event()
    worker = Worker(backend=grid.backend)
    thread = threading.Thread(target=worker.serve, args=(stop,), kwargs={'poll': 0.1, 'idle_exit': 2})
    thread.start()
    thread.join(60)
    report = ConsistencyReport.objects.get(id=report_id)
    assert report.state == 'compared' and report.orphans == 1, report.message
    grid.settle()
    assert ConsistencyReport.objects.get(id=report_id).state == 'applied'
    assert not sites['T2_CC_A'].path('/store/dark/z.root').exists()
    task = FileTask.objects.get(lfn='/store/dark/z.root')
    assert (task.kind, task.origin, task.state) == ('deletion', 'consistency', 'done')
    # without sites, the cycle takes the site checked longest ago
    assert len(grid.cycle('consistency', {})['reports']) == 1
    assert ConsistencyReport.objects.filter(state='new').get().site == 'T2_CC_B'
