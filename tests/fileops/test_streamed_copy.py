"""Files below DYNAMO_FILEOPS_STREAM_BELOW between two XRootD servers are streamed by the worker
instead of copied third-party (which XRootD's client finishes no sooner than 2.5 s after it starts):
with the backend's rules (a good file left alone, a wrong one replaced, both checksums verified,
nothing left on failure)."""
import pytest

from fileops.models import FileTask
from tests.fileops.conftest import adler32

pytestmark = pytest.mark.django_db(transaction=True)
DS = '/Streamed/Copy/RAW'


@pytest.fixture
def streamed(grid, make_xrootd_server, settings):
    settings.DYNAMO_FILEOPS_STREAM_BELOW = 64 << 20
    a, b = make_xrootd_server('xrootd-a'), make_xrootd_server('xrootd-b')
    grid.add_site('T2_SC_A', a)
    grid.add_site('T2_SC_B', b)
    return grid, a, b


def test_small_files_are_streamed_verified_and_a_good_file_is_left_alone(streamed):
    grid, a, b = streamed
    files = grid.add_dataset(DS, {'b1': 4}, at='T2_SC_A', size=3 << 20)
    lfns = sorted(files)
    b.plant(lfns[0], files[lfns[0]])                 # already there, good
    b.plant(lfns[1], b'wrong' * 1000)                # there, wrong
    grid.transfer(DS, 'b1', 'T2_SC_B')
    grid.settle()
    tasks = {t.lfn: t for t in FileTask.objects.all()}
    assert {t.state for t in tasks.values()} == {'done'}
    assert tasks[lfns[0]].outcome == 'already_present'
    assert [tasks[lfn].outcome for lfn in lfns[1:]] == ['copied'] * 3
    assert all(tasks[lfn].seconds < 2.0 for lfn in lfns), [t.seconds for t in tasks.values()]
    for lfn, data in files.items():
        assert adler32(b.path(lfn).read_bytes()) == adler32(data)
    assert grid.replica(DS, 'b1', 'T2_SC_B').is_complete()


def test_a_corrupted_source_is_named_and_nothing_stays_at_the_destination(streamed):
    grid, a, b = streamed
    files = grid.add_dataset(DS, {'b1': 1}, at='T2_SC_A', size=1 << 20)
    lfn = next(iter(files))
    a.plant(lfn, b'Z' * len(files[lfn]))
    grid.transfer(DS, 'b1', 'T2_SC_B')
    grid.cycle()
    grid.work()
    task = FileTask.objects.get()
    assert (task.state, task.error_kind) == ('failed', 'checksum_mismatch')
    assert task.reason.startswith('source checksum_mismatch') and task.seconds < 2.0
    assert not b.path(lfn).exists()
    grid.cycle()
    assert FileTask.objects.get().state == 'held'
