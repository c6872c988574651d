"""Injection and invalidation documents (reference section 9.4), through the Python API and through
`manage.py dynamo_inject [--delete]` (no server running: the command applies the document itself)."""
import json
import re

import pytest

from inventory import store
from inventory.injection import DocumentError, parse_document
from inventory.objects import ObjectError
from tests.conftest import manage
from tests.support import DEMO, demo_doc, image, inject, load_image, row_counts, table_dump

MU = '/SingleMuon/Run2026A-PromptReco-v1/MINIAOD'
ZB = '/ZeroBias/Run2026A-PromptReco-v1/AOD'
TT = '/TTbar/Sim2026-v2/GEN-SIM'
MIT, CERN = 'T2_US_MIT', 'T1_CH_CERN_Disk'
B1, B2, B3, B4 = (f'b1a7c0de-0000-4000-8000-00000000000{i}' for i in range(1, 5))
MU_FILE_1 = '/store/data/Run2026A/SingleMuon/MINIAOD/v1/000/001.root'
MU_FILE_2 = '/store/data/Run2026A/SingleMuon/MINIAOD/v1/000/002.root'
ZB_FILE = '/store/data/Run2026A/ZeroBias/AOD/v1/000/001.root'
TT_FILE_1, TT_FILE_2 = '/store/mc/Sim2026/TTbar/GEN-SIM/v2/0001.root', '/store/mc/Sim2026/TTbar/GEN-SIM/v2/0002.root'
DEMO_COUNTS = {'datasets': 3, 'blocks': 4, 'files': 6, 'sites': 2, 'groups': 2, 'datasetreplicas': 4,
               'blockreplicas': 6}


def db_state():
    return table_dump(), row_counts()['seq']


def check_demo_image(inv):
    assert sorted(inv.datasets) == sorted([MU, ZB, TT])
    assert sorted(inv.sites) == [CERN, MIT]
    assert sorted(g for g in inv.groups if g) == ['AnalysisOps', 'DataOps']
    assert inv.groups['DataOps'].olevel.label == 'dataset' and inv.groups['AnalysisOps'].olevel.label == 'block'
    mu = inv.datasets[MU]
    assert (mu.status.label, mu.data_type.label) == ('valid', 'production')
    assert sorted((b.name, b.size, b.num_files) for b in mu.blocks) == [(B1, 4_900_000_000, 2), (B2, 2_600_000_000, 1)]
    assert (inv.datasets[ZB].size, inv.datasets[TT].size, inv.datasets[TT].num_files) == (4_000_000_000, 3_000_000_000, 2)
    assert inv.datasets[TT].status.label == 'production'
    assert sorted(r.site.name for r in mu.replicas) == [CERN, MIT]
    assert inv.sites[MIT].host == 'se.mit.example' and inv.sites[MIT].status.label == 'ready'
    # full replicas of every block of the dataset, owned by the replica's group
    for site, group in ((MIT, 'AnalysisOps'), (CERN, 'DataOps')):
        replica = inv.sites[site].find_dataset_replica(MU)
        assert replica.is_full() and replica.group.name == group
        assert all(br.group.name == group for br in replica.block_replicas)
    # the TTbar replica at MIT holds one of the two files of its block
    tt = inv.sites[MIT].find_dataset_replica(TT)
    (br,) = tt.block_replicas
    assert br.group.name == 'AnalysisOps'
    assert not br.is_complete() and not tt.is_full()
    assert (br.size, br.num_files) == (1_500_000_000, 1)
    assert [f.lfn for f in br.files()] == [TT_FILE_1]
    assert inv.sites[MIT].partition('Default').usage() == 7_500_000_000 + 1_500_000_000
    assert inv.sites[CERN].partition('Default').usage() == 7_500_000_000 + 4_000_000_000


BAD_DOCUMENTS = {   # name -> (document text, what the error must say)
    'malformed': ('{"dataset": [{"name": "/X/Y/Z",}]}', 'malformed JSON'),
    'unknown-dataset': (json.dumps({'datasetreplica': [{'dataset': '/No/Such/DATASET', 'site': MIT}]}),
                        'unknown dataset /No/Such/DATASET'),
    'negative-size': (json.dumps({'dataset': [{'name': '/Neg/Size/RAW', 'blocks': [{'name': 'b', 'files': [
        {'name': '/store/neg/1.root', 'size': -5}]}]}]}), r'file /store/neg/1\.root: "size" must be a non-negative integer'),
    'lfn-elsewhere': (json.dumps({'dataset': [{'name': '/Dup/Lfn/RAW', 'blocks': [{'name': 'b', 'files': [
        {'name': ZB_FILE, 'size': 5}]}]}]}), f'file {ZB_FILE} already belongs to block {ZB}#{B3}'),
    'unknown-site': (json.dumps({'site': [{'name': 'T3_NEW'}], 'datasetreplica': [{'dataset': ZB, 'site': 'T9_NOWHERE'}]}),
                     'unknown site T9_NOWHERE'),
    'file-at-unknown-site': (json.dumps({'dataset': [{'name': ZB, 'blocks': [{'name': B3, 'files': [
        {'name': '/store/new/2.root', 'size': 5, 'site': 'T9_NOWHERE'}]}]}]}), 'Unknown site T9_NOWHERE'),
    'unknown-key': (json.dumps({'dataset': [], 'datasets': [{'name': '/X/Y/Z'}]}), 'unknown top-level key.*datasets'),
}


UNKNOWN_DELETIONS = [   # (document, what the error must say)
    ({'dataset': [{'name': '/No/Such/DATASET'}]}, 'unknown dataset /No/Such/DATASET'),
    ({'dataset': [{'name': MU, 'blocks': [{'name': 'no-such-block'}]}]}, f'unknown block {MU}#no-such-block'),
    ({'dataset': [{'name': MU, 'blocks': [{'name': B1, 'files': ['/store/no/such.root']}]}]},
     r"file '/store/no/such\.root' is not in block"),
    ({'datasetreplica': [{'dataset': ZB, 'site': MIT}]}, f"dataset replica '{ZB} at {MIT}' \\(item 1\\): no such"),
]


def with_valid_deletion_first(doc):
    """The document plus a valid deletion that is applied before the bad item (and must be undone)."""
    return dict(doc, datasetreplica=[{'dataset': MU, 'site': MIT}, *doc.get('datasetreplica', [])])



# =========================================================================== Python API (one process)
@pytest.mark.django_db
class TestPythonApi:
    def test_demo_document_creates_the_expected_objects(self):
        inv = load_image()
        applied = inject(inv, demo_doc())
        assert {k: applied.result[k] for k in DEMO_COUNTS} == DEMO_COUNTS
        assert applied.seq == store.current_seq() == 1
        check_demo_image(inv)
        check_demo_image(load_image())

    def test_demo_files_are_stored_with_sizes_and_checksums(self):
        inject(load_image(), demo_doc())
        inv = load_image()
        b1 = inv.datasets[MU].find_block(B1)
        assert sorted((f.lfn, f.size, f.checksum) for f in b1.files) == [
            (MU_FILE_1, 2_500_000_000, (('adler32', '0a1b2c3d'),)), (MU_FILE_2, 2_400_000_000, ())]

    def test_reinjecting_a_document_creates_nothing_and_consumes_no_sequence_number(self):
        inv = load_image()
        inject(inv, demo_doc())
        before = db_state()
        again = inject(inv, demo_doc())
        assert again.seq == 0 and again.num_changes == 0
        assert all(again.result[k] == 0 for k in DEMO_COUNTS)
        assert db_state() == before

    def test_new_block_gives_growing_replicas_an_empty_block_replica(self):
        inv = load_image()
        inject(inv, demo_doc())
        applied = inject(inv, {'dataset': [{'name': MU, 'blocks': [{'name': 'new-block', 'files': [
            {'name': '/store/new/1.root', 'size': 10}]}]}]})
        assert (applied.result['blocks'], applied.result['files'], applied.result['blockreplicas']) == (1, 1, 2)
        reloaded = load_image()
        block = reloaded.datasets[MU].find_block('new-block')
        assert (block.size, block.num_files) == (10, 1)
        for site in (MIT, CERN):
            replica = reloaded.sites[site].find_dataset_replica(MU)
            br = replica.find_block_replica('new-block')
            assert br is not None and br.size == 0 and not br.is_complete()
            assert not replica.is_full()
        assert image(reloaded) == image(inv)

    def test_file_added_to_a_replicated_block_must_name_the_site_that_has_it(self):
        inv = load_image()
        inject(inv, demo_doc())
        before = db_state()
        with pytest.raises(DocumentError, match=r'file /store/new/1\.root: .* must name the "site"'):
            inject(inv, {'dataset': [{'name': MU, 'blocks': [{'name': B1, 'files': [
                {'name': '/store/new/1.root', 'size': 10}]}]}]})
        assert db_state() == before

    def test_file_added_at_one_site_leaves_other_replicas_without_it(self):
        inv = load_image()
        inject(inv, demo_doc())
        inject(inv, {'dataset': [{'name': MU, 'blocks': [{'name': B1, 'files': [
            {'name': '/store/new/1.root', 'size': 10, 'site': MIT}]}]}]})
        reloaded = load_image()
        block = reloaded.datasets[MU].find_block(B1)
        assert (block.size, block.num_files) == (4_900_000_010, 3)
        at_mit = reloaded.sites[MIT].find_block_replica(f'{MU}#{B1}')
        assert at_mit.is_complete() and at_mit.size == 4_900_000_010
        at_cern = reloaded.sites[CERN].find_block_replica(f'{MU}#{B1}')
        assert not at_cern.is_complete() and at_cern.size == 4_900_000_000
        assert sorted(f.lfn for f in at_cern.files()) == [MU_FILE_1, MU_FILE_2]
        assert image(reloaded) == image(inv)

    def test_file_naming_a_site_creates_the_replica_there_with_the_documents_group(self):
        inv = load_image()
        inject(inv, demo_doc())
        applied = inject(inv, {
            'dataset': [{'name': ZB, 'blocks': [{'name': 'zb-new', 'files': [
                {'name': '/store/zb/new.root', 'size': 3, 'site': MIT}]}]}],
            'datasetreplica': [{'dataset': ZB, 'site': MIT, 'group': 'AnalysisOps', 'blockreplicas': []}]})
        assert (applied.result['datasetreplicas'], applied.result['blockreplicas']) == (1, 2)
        reloaded = load_image()
        at_mit = reloaded.sites[MIT].find_dataset_replica(ZB)
        assert at_mit.group.name == 'AnalysisOps'
        (br,) = at_mit.block_replicas
        assert (br.block.name, br.group.name, br.size) == ('zb-new', 'AnalysisOps', 3) and br.is_complete()
        # the growing replica at CERN subscribes to the new block: an empty block replica
        at_cern = reloaded.sites[CERN].find_dataset_replica(ZB).find_block_replica('zb-new')
        assert at_cern.size == 0 and not at_cern.is_complete()
        assert image(reloaded) == image(inv)

    def test_block_replica_listing_a_file_of_another_block_is_refused(self):
        inv = load_image()
        inject(inv, demo_doc())
        before = db_state()
        with pytest.raises(DocumentError, match=f'file {ZB_FILE} is not in block {TT}#{B4}'):
            inject(inv, {'datasetreplica': [{'dataset': TT, 'site': CERN, 'group': 'DataOps', 'blockreplicas': [
                {'block': B4, 'files': [ZB_FILE]}]}]})
        assert db_state() == before
        assert inv.sites[CERN].find_dataset_replica(TT) is None

    @pytest.mark.parametrize('name', ['malformed', 'unknown-dataset', 'negative-size', 'lfn-elsewhere',
                                      'unknown-site', 'file-at-unknown-site', 'unknown-key'])
    def test_bad_document_is_refused_and_changes_nothing(self, name):
        inv = load_image()
        inject(inv, demo_doc())
        before_db, before_image = db_state(), image(inv)
        text, message = BAD_DOCUMENTS[name]
        with pytest.raises(ObjectError, match=message):
            inject(inv, text)
        assert db_state() == before_db
        assert image(inv) == before_image

    def test_delete_of_a_block_replica_level_item_keeps_the_dataset_replica(self):
        inv = load_image()
        inject(inv, demo_doc())
        inject(inv, {'datasetreplica': [{'dataset': MU, 'site': CERN, 'blockreplicas': [{'block': B1}]}]},
               delete=True)
        replica = load_image().sites[CERN].find_dataset_replica(MU)
        assert [br.block.name for br in replica.block_replicas] == [B2]
        assert replica.is_partial()

    def test_delete_of_the_last_block_replica_removes_the_dataset_replica(self):
        inv = load_image()
        inject(inv, demo_doc())
        inject(inv, {'datasetreplica': [{'dataset': TT, 'site': MIT, 'blockreplicas': [{'block': B4}]}]},
               delete=True)
        reloaded = load_image()
        assert reloaded.sites[MIT].find_dataset_replica(TT) is None
        assert reloaded.datasets[TT].replicas == []

    @pytest.mark.parametrize('doc, fragments', [
        ({'datasetreplica': [{'dataset': MU, 'site': MIT, 'blockreplicas': B1}]}, ['blockreplicas', 'list']),
        ({'dataset': [{'name': MU, 'blocks': B1}]}, ['blocks', 'list']),
        ({'dataset': [{'name': MU, 'blocks': [{'name': B1, 'files': MU_FILE_1}]}]}, ['files', 'list']),
        ({'datasetreplica': [{'dataset': MU, 'site': MIT, 'blockreplicas': [B1]}]}, ['block replica 0', 'object']),
    ], ids=['blockreplicas-not-a-list', 'blocks-not-a-list', 'files-not-a-list', 'blockreplica-not-an-object'])
    def test_malformed_deletion_document_is_refused_naming_the_item(self, doc, fragments):
        inv = load_image()
        inject(inv, demo_doc())
        before = db_state()
        with pytest.raises(DocumentError) as info:
            inject(inv, doc, delete=True)
        for fragment in fragments:
            assert fragment in str(info.value)
        assert db_state() == before

    def test_delete_of_a_file_shrinks_the_incomplete_replica_holding_it(self):
        inv = load_image()
        inject(inv, demo_doc())
        inject(inv, {'dataset': [{'name': TT, 'blocks': [{'name': B4, 'files': [TT_FILE_1]}]}]}, delete=True)
        reloaded = load_image()
        block = reloaded.datasets[TT].find_block(B4)
        assert (block.size, block.num_files, [f.lfn for f in block.files]) == (1_500_000_000, 1, [TT_FILE_2])
        br = reloaded.sites[MIT].find_block_replica(f'{TT}#{B4}')
        assert (br.size, br.num_files, list(br.files())) == (0, 0, [])
        assert image(reloaded) == image(inv)

    @pytest.mark.parametrize('doc, message', UNKNOWN_DELETIONS, ids=['dataset', 'block', 'file', 'datasetreplica'])
    def test_delete_of_an_unknown_object_is_refused_and_changes_nothing(self, doc, message):
        inv = load_image()
        inject(inv, demo_doc())
        before_db, before_image = db_state(), image(inv)
        with pytest.raises(DocumentError, match=message):
            inject(inv, with_valid_deletion_first(doc), delete=True)
        assert db_state() == before_db
        assert image(inv) == before_image


def test_document_shape_is_checked_before_anything_is_applied():
    for text, message in [('[]', 'must be a JSON object'), ('{"dataset": {}}', '"dataset" must be a list'),
                          ('{"site": ["T2_X"]}', r'site\[0\] must be an object')]:
        with pytest.raises(DocumentError, match=message):
            parse_document(text)


# =========================================================================== dynamo_inject command
def demo_in_db():
    """Inject the demo document through the Python API (committed: transactional_db)."""
    inject(load_image(), demo_doc())


def write(tmp_path, doc, name='doc.json'):
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(path)


def assert_refused(result, *fragments):
    assert result.returncode != 0, result.stdout
    assert 'Traceback' not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith('CommandError')]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


@pytest.mark.django_db(transaction=True)
class TestInjectCommand:
    def test_inject_command_applies_the_demo_document(self):
        result = manage('dynamo_inject', str(DEMO))
        assert result.returncode == 0, result.stderr
        assert 'Created 3 datasets, 4 blocks, 6 files, 2 sites, 2 groups, 4 datasetreplicas, 6 blockreplicas' in result.stdout
        check_demo_image(load_image())
        assert store.current_seq() == 1

    @pytest.mark.parametrize('name, fragments', [
        ('malformed', ['malformed JSON', 'line 1']),
        ('unknown-dataset', ["dataset replica '/No/Such/DATASET at T2_US_MIT'", 'unknown dataset /No/Such/DATASET']),
        ('negative-size', ['file /store/neg/1.root', '"size" must be a non-negative integer, got -5']),
        ('lfn-elsewhere', [f'file {ZB_FILE} already belongs to block {ZB}#{B3}']),
        ('unknown-site', [f"dataset replica '{ZB} at T9_NOWHERE'", 'unknown site T9_NOWHERE']),
        ('unknown-key', ['unknown top-level key(s) datasets']),
    ])
    def test_inject_command_refuses_a_bad_document_and_changes_nothing(self, tmp_path, name, fragments):
        demo_in_db()
        before = db_state()
        result = manage('dynamo_inject', write(tmp_path, BAD_DOCUMENTS[name][0]))
        assert_refused(result, *fragments)
        assert db_state() == before

    def test_delete_command_removes_a_dataset(self, tmp_path):
        demo_in_db()
        result = manage('dynamo_inject', '--delete', write(tmp_path, {'dataset': [{'name': ZB}]}))
        assert result.returncode == 0, result.stderr
        assert 'Deleted 1 dataset ' in result.stdout   # (not '1 datasets')
        inv = load_image()
        assert ZB not in inv.datasets
        assert inv.sites[CERN].find_dataset_replica(ZB) is None
        assert store.FileCatalog().find(ZB_FILE) is None
        assert inv.sites[CERN].partition('Default').usage() == 7_500_000_000

    def test_delete_command_removes_a_block(self, tmp_path):
        demo_in_db()
        result = manage('dynamo_inject', '--delete', write(tmp_path, {'dataset': [{'name': MU, 'blocks': [{'name': B2}]}]}))
        assert result.returncode == 0, result.stderr
        inv = load_image()
        assert [b.name for b in inv.datasets[MU].blocks] == [B1]
        assert inv.datasets[MU].size == 4_900_000_000
        for site in (MIT, CERN):
            replica = inv.sites[site].find_dataset_replica(MU)
            assert [br.block.name for br in replica.block_replicas] == [B1] and replica.is_full()
        assert store.FileCatalog().find('/store/data/Run2026A/SingleMuon/MINIAOD/v1/000/003.root') is None

    def test_delete_command_removes_a_file_and_adjusts_the_block(self, tmp_path):
        demo_in_db()
        doc = {'dataset': [{'name': MU, 'blocks': [{'name': B1, 'files': [{'name': MU_FILE_2}]}]}]}
        result = manage('dynamo_inject', '--delete', write(tmp_path, doc))
        assert result.returncode == 0, result.stderr
        inv = load_image()
        block = inv.datasets[MU].find_block(B1)
        assert (block.size, block.num_files) == (2_500_000_000, 1)
        assert [f.lfn for f in block.files] == [MU_FILE_1]
        replica = inv.sites[MIT].find_block_replica(f'{MU}#{B1}')
        assert replica.is_complete() and replica.size == 2_500_000_000

    def test_delete_command_removes_a_dataset_replica(self, tmp_path):
        demo_in_db()
        result = manage('dynamo_inject', '--delete', write(tmp_path, {'datasetreplica': [{'dataset': MU, 'site': MIT}]}))
        assert result.returncode == 0, result.stderr
        inv = load_image()
        assert inv.sites[MIT].find_dataset_replica(MU) is None
        assert [r.site.name for r in inv.datasets[MU].replicas] == [CERN]
        assert all([br.site.name for br in b.replicas] == [CERN] for b in inv.datasets[MU].blocks)
        assert inv.sites[MIT].partition('Default').usage() == 1_500_000_000

    @pytest.mark.parametrize('doc, message', [UNKNOWN_DELETIONS[0], UNKNOWN_DELETIONS[3]],
                             ids=['dataset', 'datasetreplica'])
    def test_delete_command_refuses_an_unknown_object_and_changes_nothing(self, tmp_path, doc, message):
        demo_in_db()
        before = db_state()
        result = manage('dynamo_inject', '--delete', write(tmp_path, with_valid_deletion_first(doc)))
        assert_refused(result)
        assert re.search(message, result.stderr), result.stderr
        assert db_state() == before
