"""End to end over three kinds of real storage started by the fixtures: a local directory (file://),
an XRootD server (root://) and nginx WebDAV over TLS (davs://). A dataset whose files really are at
A is copied to B and C; Detox over quota at A removes A's copy; a consistency check of B finds a
planted orphan (deleted once old enough) and a file removed by hand (transferred again from C)."""
import os
import time

import pytest

from fileops import consistency
from fileops.models import ConsistencyReport, FileTask
from tests.fileops.conftest import adler32
from transfers.models import BlockDeletion, BlockTransfer

pytestmark = pytest.mark.django_db(transaction=True)
DS = '/E2E/Three/RAW'
DETOX_POLICY = """\
Partition Default
On site.name == T2_XX_A
When site.occupancy > 0.9
Until site.occupancy < 0.1
Protect replica.num_full_disk_copy_common_owner_all_sites < 2
Dismiss
Order increasing replica.last_block_created
"""


def test_copy_to_xrootd_and_webdav_detox_at_the_source_and_consistency_of_the_copy(
        grid, local_site, xrootd_server, webdav_server):
    # given: A local, B XRootD, C WebDAV; the dataset's files at A with their adler32
    sites = {'T2_XX_A': local_site, 'T2_XX_B': xrootd_server, 'T2_XX_C': webdav_server}
    for name, storage in sites.items():
        grid.add_site(name, storage)
    files = grid.add_dataset(DS, {'b1': 3, 'b2': 2}, at='T2_XX_A')

    # when: copies of both blocks to B and to C (as Dealer records them), the updater and workers
    for site in ('T2_XX_B', 'T2_XX_C'):
        for block in ('b1', 'b2'):
            grid.transfer(DS, block, site)
    grid.settle()

    # then: both replicas complete, every file there with the inventory's checksum
    for site in ('T2_XX_B', 'T2_XX_C'):
        replica = grid.inventory.sites[site].find_dataset_replica(DS)
        assert replica.is_full(), site
        for lfn, data in files.items():
            assert adler32(sites[site].path(lfn).read_bytes()) == adler32(data), (site, lfn)
    assert set(BlockTransfer.objects.values_list('state', flat=True)) == {'done'}
    assert FileTask.objects.filter(kind='transfer', state='done').count() == 10

    # when: A is over its quota; Detox hands its replica to the null group, the updater deletes
    from inventory.objects import SitePartition
    grid.apply(lambda inv: inv.update(SitePartition('T2_XX_A', 'Default', 1000)))
    detox = grid.cycle('detox', {'policy': DETOX_POLICY, 'filename': 'e2e.txt', 'max_cycle_fraction': 1.0})
    assert detox['deletions'] == 2, detox
    assert BlockDeletion.objects.filter(site='T2_XX_A').count() == 2
    grid.settle()

    # then: the files are gone from A and its replica from the inventory
    assert grid.inventory.sites['T2_XX_A'].find_dataset_replica(DS) is None
    for lfn in files:
        assert not local_site.path(lfn).exists()
    assert set(BlockDeletion.objects.values_list('state', flat=True)) == {'done'}

    # when: an orphan is planted at B (one old, one young) and a file is removed from B by hand
    old_orphan, young_orphan = '/store/dark/old.root', '/store/dark/young.root'
    xrootd_server.plant(old_orphan, b'dark' * 100)
    xrootd_server.plant(young_orphan, b'young' * 100)
    month_ago = time.time() - 40 * 86400
    os.utime(xrootd_server.path(old_orphan), (month_ago, month_ago))
    lost = sorted(files)[1]
    xrootd_server.path(lost).unlink()
    report = consistency.report_request(site='T2_XX_B', threshold=0.5, claim='test')
    report = consistency.run_check(report, backend=grid.backend)

    # then: the check finds them; the updater acts
    assert (report.state, report.missing, report.orphans, report.young_orphans) == ('compared', 1, 1, 1), \
        report.message
    assert report.inventory_files == 5 and report.listed_files == 6
    grid.settle()
    report = ConsistencyReport.objects.get(id=report.id)
    assert report.state == 'applied' and (report.retransfers, report.deletions) == (1, 1)
    assert not xrootd_server.path(old_orphan).exists()
    assert xrootd_server.path(young_orphan).exists()
    assert xrootd_server.path(lost).read_bytes() == files[lost]
    again = FileTask.objects.get(kind='transfer', lfn=lost, transfer__origin='consistency')
    assert again.state == 'done' and again.source == 'T2_XX_C'
    assert grid.inventory.sites['T2_XX_B'].find_dataset_replica(DS).is_full()
    # and a second check finds B consistent but for the young orphan
    report = consistency.run_check(consistency.report_request(site='T2_XX_B', threshold=0.5, claim='test'),
                                   backend=grid.backend)
    assert (report.state, report.missing, report.orphans, report.young_orphans) == ('reported', 0, 0, 1)
