"""The gfal2 backend moving real bytes between a local directory, XRootD and WebDAV (nginx over TLS)."""
import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from fileops.backends import CopyOutcome, DeleteOutcome, ErrorKind, FileOpError, Side
from fileops.checksums import adler32_of_bytes, adler32_of_file

LFN = '/store/data/Run2026A/ZeroBias/RAW/v1/000/001/file.root'
ONE_MB = 1 << 20


def expect(data: bytes) -> tuple[str, str]:
    return ('adler32', adler32_of_bytes(data))


def copy_retrying(backend, source, dest, data, *, within: float):
    deadline = time.monotonic() + within
    while True:
        try:
            return backend.copy(source, dest, size=len(data), checksum=expect(data))
        except FileOpError as error:
            if not error.retryable or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.fixture
def data():
    return os.urandom(ONE_MB + 12345)


@pytest.fixture(params=['xrootd_server', 'webdav_server', 'other_local_site'])
def destination(request):
    return request.getfixturevalue(request.param)


def test_a_file_travels_file_to_xrootd_to_webdav_to_file_with_adler32_verified(
        backend, local_site, xrootd_server, webdav_server, tmp_path, data):
    # given
    local_site.plant(LFN, data)
    hops = [local_site.pfn(LFN), xrootd_server.pfn(LFN), webdav_server.pfn(LFN), f'file://{tmp_path}/back{LFN}']
    # when
    results = [backend.copy(src, dst, size=len(data), checksum=expect(data)) for src, dst in zip(hops, hops[1:])]
    # then
    assert [r.outcome for r in results] == [CopyOutcome.COPIED] * 3
    assert all(r.checksum == expect(data) for r in results)
    assert xrootd_server.path(LFN).read_bytes() == data
    assert webdav_server.path(LFN).read_bytes() == data
    assert (tmp_path / f'back{LFN}').read_bytes() == data
    # nginx computes no checksums: the copy onto it was verified by reading the file back
    assert results[1].verified_by_reading


def test_an_existing_good_destination_is_left_alone_and_counts_as_done(backend, local_site, destination, data):
    # given
    local_site.plant(LFN, data)
    there = destination.plant(LFN, data)
    os.utime(there, (1_000_000_000, 1_000_000_000))
    # when
    result = backend.copy(local_site.pfn(LFN), destination.pfn(LFN), size=len(data), checksum=expect(data))
    # then
    assert result.outcome == CopyOutcome.ALREADY_PRESENT
    assert there.stat().st_mtime == 1_000_000_000
    assert there.read_bytes() == data


@pytest.mark.parametrize('wrong', [b'truncated', 'same size, other bytes'])
def test_a_wrong_existing_destination_is_replaced(backend, local_site, destination, data, wrong):
    # given
    local_site.plant(LFN, data)
    bad = wrong if isinstance(wrong, bytes) else bytes(reversed(data))
    destination.plant(LFN, bad)
    # when
    result = backend.copy(local_site.pfn(LFN), destination.pfn(LFN), size=len(data), checksum=expect(data))
    # then
    assert result.outcome == CopyOutcome.COPIED and result.replaced
    assert destination.path(LFN).read_bytes() == data


def test_a_corrupted_source_fails_with_a_checksum_error_and_leaves_no_file(backend, local_site, destination, data):
    # given: the inventory knows the file's checksum, the disk has other bytes
    local_site.plant(LFN, data[:-1] + bytes([data[-1] ^ 0xFF]))
    # when
    with pytest.raises(FileOpError) as failure:
        backend.copy(local_site.pfn(LFN), destination.pfn(LFN), size=len(data), checksum=expect(data))
    # then
    assert failure.value.kind == ErrorKind.CHECKSUM_MISMATCH
    assert not destination.path(LFN).exists()


def test_a_corrupted_source_on_webdav_is_named_as_the_source_and_not_retried(
        backend, webdav_server, xrootd_server, data):
    # given: a source that cannot compute checksums, whose bytes differ from the inventory's
    webdav_server.plant(LFN, bytes(reversed(data)))
    # when
    with pytest.raises(FileOpError) as failure:
        backend.copy(webdav_server.pfn(LFN), xrootd_server.pfn(LFN), size=len(data), checksum=expect(data))
    # then
    assert failure.value.kind == ErrorKind.CHECKSUM_MISMATCH
    assert failure.value.side == Side.SOURCE
    assert not failure.value.retryable
    assert not xrootd_server.path(LFN).exists()


def test_a_missing_source_is_a_permanent_no_such_file_error(backend, local_site, xrootd_server):
    with pytest.raises(FileOpError) as failure:
        backend.copy(xrootd_server.pfn('/store/nothing/here.root'), local_site.pfn(LFN), size=10,
                     checksum=('adler32', '00000001'))
    assert failure.value.kind == ErrorKind.NO_SUCH_FILE
    assert failure.value.code == 2
    assert not failure.value.retryable
    assert not local_site.path(LFN).exists()


@pytest.mark.parametrize('server', ['xrootd_server', 'webdav_server'])
def test_a_stopped_server_gives_a_retryable_error_and_works_again_after_restart(
        backend, request, local_site, data, server):
    # given
    destination = request.getfixturevalue(server)
    local_site.plant(LFN, data)
    destination.stop()
    # when
    with pytest.raises(FileOpError) as failure:
        backend.copy(local_site.pfn(LFN), destination.pfn(LFN), size=len(data), checksum=expect(data))
    # then
    assert failure.value.kind == ErrorKind.CONNECTION
    assert failure.value.retryable
    # and when the server is back, the same copy goes through (the XRootD client waits out its
    # connection window before it dials a failed server again, as a task's retry would)
    destination.start()
    result = copy_retrying(backend, local_site.pfn(LFN), destination.pfn(LFN), data, within=20)
    assert result.outcome == CopyOutcome.COPIED
    assert destination.path(LFN).read_bytes() == data


def test_deleting_a_file_removes_it_and_deleting_it_again_is_done(backend, destination, data):
    # given
    destination.plant(LFN, data)
    # when
    first = backend.delete(destination.pfn(LFN))
    second = backend.delete(destination.pfn(LFN))
    # then
    assert first.outcome == DeleteOutcome.DELETED
    assert second.outcome == DeleteOutcome.ALREADY_ABSENT
    assert not destination.path(LFN).exists()


def test_recursive_listing_finds_planted_files_with_sizes(backend, destination):
    # given
    planted = {'/store/mc/A/f1.root': 10, '/store/mc/A/sub/f2.root': 2000, '/store/mc/B/deep/er/f3.root': 0}
    for lfn, size in planted.items():
        destination.plant(lfn, b'x' * size)
    # when
    listed = {path: (size, mtime) for path, size, mtime in backend.listdir(destination.pfn('/store/mc'))}
    # then
    assert {path: size for path, (size, _) in listed.items()} == \
        {destination.pfn(lfn): size for lfn, size in planted.items()}
    assert all(mtime > 0 for _, mtime in listed.values())


def test_listing_a_missing_directory_is_an_error_not_an_empty_site(backend, xrootd_server):
    with pytest.raises(FileOpError) as failure:
        list(backend.listdir(xrootd_server.pfn('/store/absent')))
    assert failure.value.kind == ErrorKind.NO_SUCH_FILE


def test_stat_and_checksum_report_what_is_on_storage(backend, destination, data):
    destination.plant(LFN, data)
    st = backend.stat(destination.pfn(LFN))
    assert (st.size, st.is_dir) == (len(data), False)
    assert backend.checksum(destination.pfn(LFN)) == adler32_of_bytes(data)
    with pytest.raises(FileOpError) as failure:
        backend.stat(destination.pfn('/store/absent.root'))
    assert failure.value.kind == ErrorKind.NO_SUCH_FILE


def test_a_copy_between_two_xrootd_servers_is_verified(backend, make_xrootd_server, data):
    # XRootD to XRootD goes third-party: the destination server pulls from the source
    source, dest = make_xrootd_server('a'), make_xrootd_server('b')
    source.plant(LFN, data)
    result = backend.copy(source.pfn(LFN), dest.pfn(LFN), size=len(data), checksum=expect(data))
    assert result.outcome == CopyOutcome.COPIED
    assert adler32_of_file(dest.path(LFN)) == adler32_of_bytes(data)


def test_without_an_expected_checksum_the_source_checksum_is_the_reference(backend, local_site, xrootd_server, data):
    local_site.plant(LFN, data)
    result = backend.copy(local_site.pfn(LFN), xrootd_server.pfn(LFN), size=len(data))
    assert result.checksum == expect(data)
    assert xrootd_server.path(LFN).read_bytes() == data


def test_copies_from_many_threads_all_arrive(backend, local_site, xrootd_server):
    # given
    files = {f'/store/t/f{i}.root': os.urandom(4096 + i) for i in range(24)}
    for lfn, content in files.items():
        local_site.plant(lfn, content)
    # when
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(
            lambda item: backend.copy(local_site.pfn(item[0]), xrootd_server.pfn(item[0]), size=len(item[1]),
                                      checksum=expect(item[1])), files.items()))
    # then
    assert all(r.outcome == CopyOutcome.COPIED for r in results)
    assert all(xrootd_server.path(lfn).read_bytes() == content for lfn, content in files.items())


def test_a_copy_onto_itself_is_refused_and_the_file_stays(backend, local_site, data):
    local_site.plant(LFN, data)
    with pytest.raises(FileOpError) as failure:
        backend.copy(local_site.pfn(LFN), local_site.pfn(LFN), size=len(data), checksum=expect(data))
    assert failure.value.kind == ErrorKind.INVALID
    assert local_site.path(LFN).read_bytes() == data


def test_a_mock_copy_succeeds_without_bytes(backend):
    result = backend.copy('mock://site-a.example/store/x.root', 'mock://site-b.example/store/x.root',
                          size=ONE_MB, checksum=('adler32', '0badcafe'))
    assert result.outcome == CopyOutcome.COPIED
    assert result.checksum == ('adler32', '0badcafe')


def test_a_mock_transfer_failure_is_reported_with_its_errno(backend):
    # the mock plugin fails a copy with the errno given on the destination URL
    with pytest.raises(FileOpError) as failure:
        backend.copy('mock://site-a.example/store/x.root', 'mock://site-b.example/store/x.root?transfer_errno=110&time=1',
                     size=ONE_MB, checksum=('adler32', '0badcafe'))
    assert failure.value.code == 110
    assert failure.value.kind == ErrorKind.TIMEOUT and failure.value.retryable


def test_a_forked_worker_copies_with_a_context_of_its_own(backend, local_site, xrootd_server, data):
    # given: the parent has used the backend (its thread holds a gfal2 context)
    local_site.plant(LFN, data)
    backend.stat(local_site.pfn(LFN))
    # when: a forked child copies through the same backend object
    pid = os.fork()
    if pid == 0:
        try:
            result = backend.copy(local_site.pfn(LFN), xrootd_server.pfn(LFN), size=len(data), checksum=expect(data))
            os._exit(0 if result.outcome == CopyOutcome.COPIED else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    # then
    assert os.waitstatus_to_exitcode(status) == 0
    assert xrootd_server.path(LFN).read_bytes() == data


def test_the_copy_timeout_grows_with_the_file_size(backend):
    small, large = backend.timeout_for(1 << 20), backend.timeout_for(20 << 30)
    assert backend.base_timeout < small < large <= backend.max_timeout


def test_making_a_context_leaves_the_threads_signal_mask_as_it_was(backend, local_site, tmp_path):
    # gfal2.creat_context() blocks 51 signals in its calling thread; a worker that made its context in
    # its main thread stopped answering SIGTERM, and every process it started inherited the mask
    import signal
    import threading
    seen = {}

    def in_a_fresh_thread():
        before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
        (tmp_path / 'f').write_bytes(b'x')
        backend.stat('file://' + str(tmp_path / 'f'))        # the thread's first call makes its context
        seen['masks'] = before, signal.pthread_sigmask(signal.SIG_BLOCK, [])
    thread = threading.Thread(target=in_a_fresh_thread)
    thread.start()
    thread.join(30)
    before, after = seen['masks']
    assert after == before == set()
