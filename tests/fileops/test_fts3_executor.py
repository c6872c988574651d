"""FTS3 as the executor of a site: the worker submits the site's tasks as one FTS3 job, records the
job id at once, polls it and reports each file as FTS3 ends it; the updater applies and retries as
for gfal2. No FTS3 server can run here: a local HTTPS stand-in answers with recorded FTS3 bodies."""
import json

import pytest

from fileops import services
from fileops.models import FileTask
from tests.fileops.test_fts3_backend import JOB, RecordedFts3, client_proxy  # noqa: F401  (a fixture)
from transfers.models import BlockTransfer

pytestmark = pytest.mark.django_db(transaction=True)
DS = '/TTbar/Run3-v1/AODSIM'
LFNS = [f'/store/mc/Run3/TTbar/AODSIM/v1/0000/file{i}.root' for i in range(3)]
ROUTES = {
    'POST /jobs': [(200, 'submit_transfer.json')],
    f'GET /jobs/{JOB}': [(200, 'transfer_job_submitted.json'), (200, 'transfer_job_active.json'),
                         (200, 'transfer_job_finisheddirty.json')],
    f'GET /jobs/{JOB}/files': [(200, 'transfer_files_submitted.json'), (200, 'transfer_files_active.json'),
                               (200, 'transfer_files_finisheddirty.json')],
}


@pytest.fixture
def fts_grid(grid, test_ca, client_proxy, settings):  # noqa: F811
    """CERN's EOS (source) and a WebDAV site whose files move through FTS3, as in the recordings."""
    from inventory.objects import Site
    settings.DYNAMO_FILEOPS_FTS_POLL = 0.05
    server = RecordedFts3(test_ca, ROUTES)
    grid.apply(lambda inv: (inv.update(Site('T0_CH_CERN', backend='root://eoscms.cern.ch//eos/cms', status='ready')),
                            inv.update(Site('T2_XX_A', backend='davs://webdav.t2-xx-a.example:2880/cms',
                                            status='ready'))))
    services.site_storage_set(site='T2_XX_A', executor='fts3', fts_endpoint=server.url, x509_proxy=client_proxy)
    grid.inject({'group': [{'name': 'physics'}], 'dataset': [{'name': DS, 'blocks': [{'name': 'b1', 'files': [
        {'name': lfn, 'size': 2147483648 + i, 'adler32': f'a1b2c3{i}'} for i, lfn in enumerate(LFNS)]}]}],
        'datasetreplica': [{'dataset': DS, 'site': 'T0_CH_CERN', 'group': 'physics', 'growing': False}]})
    grid.transfer(DS, 'b1', 'T2_XX_A')
    yield grid, server
    server.close()


def test_a_site_on_fts3_has_its_files_submitted_polled_and_applied(fts_grid):
    grid, fts = fts_grid
    # when: the updater queues the three files for FTS3, a worker submits and polls
    summary = grid.cycle()
    assert summary['queued'] == 3
    assert set(FileTask.objects.values_list('executor', flat=True)) == {'fts3'}
    grid.work()
    # then: one job with our PFNs, sizes and checksums
    posts = [r for r in fts.requests if r['method'] == 'POST']
    assert len(posts) == 1 and posts[0]['client'] == 'dynamo-robot'
    sent = posts[0]['body']['files']
    assert [f['destinations'] for f in sent] == [[f'davs://webdav.t2-xx-a.example:2880/cms{lfn}'] for lfn in LFNS]
    assert [f['sources'] for f in sent] == [[f'root://eoscms.cern.ch//eos/cms{lfn}'] for lfn in LFNS]
    assert [f['checksum'] for f in sent] == ['adler32:0a1b2c30', 'adler32:0a1b2c31', 'adler32:0a1b2c32']
    assert posts[0]['body']['params']['overwrite'] is False
    tasks = {t.lfn: t for t in FileTask.objects.all()}
    assert {t.external_id for t in tasks.values()} == {JOB}
    # file0 finished; file1's source does not match its checksum; file2 exists at the destination:
    # it is checked with gfal2, which cannot reach the (recorded) storage: tried again later
    assert tasks[LFNS[0]].state == 'done'
    assert (tasks[LFNS[1]].state, tasks[LFNS[1]].error_kind) == ('failed', 'checksum_mismatch')
    assert json.loads(tasks[LFNS[1]].tried) == {'T0_CH_CERN': [1, False]}
    assert tasks[LFNS[2]].state == 'failed' and json.loads(tasks[LFNS[2]].tried) == {'T0_CH_CERN': [1, True]}
    # the updater: file0 into the inventory, file1 held (no other source), file2 queued again
    summary = grid.cycle()
    assert summary['applied'] == 1
    br = grid.replica(DS, 'b1', 'T2_XX_A')
    assert [f.lfn for f in br.files()] == [LFNS[0]]
    tasks = {t.lfn: t for t in FileTask.objects.all()}
    assert tasks[LFNS[1]].state == 'held' and 'CHECKSUM MISMATCH' in tasks[LFNS[1]].reason
    assert tasks[LFNS[2]].state == 'queued'
    assert BlockTransfer.objects.get().state == 'active'


def test_a_worker_that_takes_over_an_fts3_job_polls_it_instead_of_submitting_again(fts_grid):
    grid, fts = fts_grid
    grid.cycle()
    # given: the job was submitted by a worker that died before it saw the end
    claim = 'elsewhere:1:dead'
    jobs = services.tasks_claim(claim=claim, limit=10, link_limit=10, site_limit=10, lease=60, max_interruptions=5)
    services.tasks_set_external(claim=claim, ids=[j.id for j in jobs], external_id=JOB)
    FileTask.objects.update(lease_until=FileTask.objects.first().created)     # its lease ran out
    # when
    grid.work()
    # then
    assert [r for r in fts.requests if r['method'] == 'POST'] == []
    assert FileTask.objects.get(lfn=LFNS[0]).state == 'done'
    assert sum(FileTask.objects.values_list('interruptions', flat=True)) == 3
