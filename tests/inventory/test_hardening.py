"""Names and values that users give (issue #11): what breaks the project's rules (docs/injection.md,
"Rules for names and values") is refused with an error naming the item and the rule, the same on
every database, and changes nothing; no database error ever reaches the caller. Injection
documents, application and web change lists and the web module alike."""
import json

import pytest

from inventory import services
from inventory.injection import DocumentError, check_document
from inventory.objects import (Block, BlockReplica, Dataset, DatasetReplica, File, Group, Inventory,
                               ObjectError, Site, SitePartition, to_dict)
from tests.conftest import manage
from tests.support import demo_doc, image, inject, load_image, row_counts, table_dump

MU = '/SingleMuon/Run2026A-PromptReco-v1/MINIAOD'
MIT, CERN = 'T2_US_MIT', 'T1_CH_CERN_Disk'
B1 = 'b1a7c0de-0000-4000-8000-000000000001'
MU_FILE_1 = '/store/data/Run2026A/SingleMuon/MINIAOD/v1/000/001.root'
BIG = 2 ** 63


def dataset_doc(name='/New/Data-v1/RAW', block='blk-1', files=None, **fields):
    files = [{'name': '/store/new/1.root', 'size': 10}] if files is None else files
    return {'dataset': [{'name': name, 'blocks': [dict({'name': block, 'files': files}, **fields)]}]}


def file_doc(**fields):
    return dataset_doc(files=[dict({'name': '/store/new/1.root', 'size': 10}, **fields)])


REFUSED = {   # id -> (document, what the error says)
    # ---- 500 instead of 400: names longer than their column, numbers too big, unstorable text
    'site-65': ({'site': [{'name': 'T' * 65}]}, "site name 'TTT.*' is 65 characters long; the limit is 64"),
    'site-100': ({'site': [{'name': 'T2_' + 'x' * 97}]}, 'is 100 characters long; the limit is 64'),
    'group-65': ({'group': [{'name': 'g' * 65}]}, 'group name .* is 65 characters long; the limit is 64'),
    'group-100': ({'group': [{'name': 'g' * 100}]}, 'is 100 characters long; the limit is 64'),
    'block-200': (dataset_doc(block='b' * 200), 'block name .* is 200 characters long; the limit is 128'),
    'dataset-600': (dataset_doc(name='/' + 'd' * 599), 'dataset name .* is 600 characters long; the limit is 512'),
    'file-600': (dataset_doc(files=[{'name': '/' + 'f' * 599, 'size': 1}]),
                 'file name .* is 600 characters long; the limit is 512'),
    'file-size-2**63': (dataset_doc(files=[{'name': '/store/new/1.root', 'size': BIG}]),
                        r'file /store/new/1\.root: "size" 9223372036854775808 is over the limit 9223372036854775807'),
    'two-files-of-2**62': (dataset_doc(files=[{'name': '/store/new/1.root', 'size': 2 ** 62},
                                              {'name': '/store/new/2.root', 'size': 2 ** 62}]),
                           r'block /New/Data-v1/RAW#blk-1: its files hold 9223372036854775808 bytes together, '
                           r'over the limit'),
    'two-blocks-of-2**62': ({'dataset': [{'name': '/New/Data-v1/RAW', 'blocks': [
        {'name': 'blk-1', 'files': [{'name': '/store/new/1.root', 'size': 2 ** 62}]},
        {'name': 'blk-2', 'files': [{'name': '/store/new/2.root', 'size': 2 ** 62}]}]}]},
        'dataset /New/Data-v1/RAW: its blocks would hold 9223372036854775808 bytes together'),
    'checksum-300': (file_doc(adler32='a' * 300), r'file /store/new/1\.root: the checksums are 3\d\d characters long '
                                                  r'as JSON; the limit is 255'),
    'software-version-300': ({'dataset': [{'name': '/New/Data-v1/RAW', 'software_version': 'v' * 300}]},
                             'software_version is 300 characters long; the limit is 255'),
    'software-version-list': ({'dataset': [{'name': '/New/Data-v1/RAW', 'software_version': ['v' * 200, 'w' * 60]}]},
                              'software_version is 268 characters long as JSON; the limit is 255'),
    'surrogate-site': ({'site': [{'name': 'T2_\ud800'}]},
                       r"site name 'T2_\\ud800' is not allowed \('\\ud800' at position 3\)"),
    'surrogate-dataset': (dataset_doc(name='/A/\ud800/RAW'), r"dataset name .* \('\\ud800' at position 3\)"),
    'surrogate-file': (dataset_doc(files=[{'name': '/store/\ud800.root', 'size': 1}]), r"file name .*'\\ud800'"),
    'surrogate-host': ({'site': [{'name': 'T2_X', 'host': 'se\ud800'}]}, 'host .* lone surrogates are not allowed'),
    # ---- silently accepted before
    'duplicate-dataset': ({'dataset': [{'name': '/New/Data-v1/RAW'}, {'name': '/New/Data-v1/RAW'}]},
                          r"dataset '/New/Data-v1/RAW' \(item 1\): dataset '/New/Data-v1/RAW' is given twice "
                          r"\(also as item 0\)"),
    'duplicate-block': ({'dataset': [{'name': '/New/Data-v1/RAW', 'blocks': [{'name': 'blk-1'}, {'name': 'blk-1'}]}]},
                        "block 1: block 'blk-1' is given twice"),
    'duplicate-site': ({'site': [{'name': 'T2_X'}, {'name': 'T2_X'}]}, "site 'T2_X' is given twice"),
    'duplicate-replica': ({'datasetreplica': [{'dataset': MU, 'site': MIT}, {'dataset': MU, 'site': MIT}]},
                          f"dataset replica '{MU} at {MIT}' is given twice"),
    'same-lfn-two-sizes': (dataset_doc(files=[{'name': '/store/new/1.root', 'size': 10},
                                              {'name': '/store/new/1.root', 'size': 20}]),
                           r"file 1: file '/store/new/1\.root' is given twice \(also as .* file 0\)"),
    'misspelled-status': ({'site': [{'name': 'T2_X', 'stauts': 'ready'}]},
                          r"site 'T2_X' \(item 0\): unknown field 'stauts' \(did you mean 'status'\?\); the fields "
                          r"of a site are name, host, storage_type, backend, status"),
    'misspelled-file-field': (file_doc(sizee=10), r"unknown field 'sizee' \(did you mean 'size'\?\)"),
    'unknown-checksum': (file_doc(md4='abc'), "unknown field 'md4'"),
    'block-size-mismatch': (dataset_doc(size=5), r'block /New/Data-v1/RAW#blk-1: "size" is 5, but its files make '
                                                 r'10 bytes'),
    'block-num-files-mismatch': (dataset_doc(num_files=2), '"num_files" is 2, but its files make 1 files'),
    'leading-space': ({'site': [{'name': ' T2_X'}]}, 'leading or trailing white space'),
    'trailing-space': ({'dataset': [{'name': '/New/Data-v1/RAW '}]}, 'leading or trailing white space'),
    'newline': ({'group': [{'name': 'ops\n'}]}, r"group name 'ops\\n' is not allowed"),
    'tab': ({'site': [{'name': 'T2\tX'}]}, r"'\\t' at position 2"),
    'nul': (dataset_doc(files=[{'name': '/store/a\x00b', 'size': 1}]), r"'\\x00' at position 8"),
    'slashes': ({'dataset': [{'name': '////'}]},
                "dataset name '////' is not allowed .*a dataset name is made of segments"),
    'empty-segment': ({'dataset': [{'name': '/A//RAW'}]}, r"an empty segment '//'"),
    'dot-segment': (dataset_doc(files=[{'name': '/store/../etc/passwd', 'size': 1}]), r"a '\.' or '\.\.' segment"),
    'evil-site': ({'site': [{'name': 'T2 / evil site'}]},
                  r"site name 'T2 / evil site' is not allowed \(' ' at position 2\): a site name is made of letters"),
    'hash-in-dataset': ({'dataset': [{'name': '/P/ha#sh/RAW'}]},
                        r"dataset name '/P/ha#sh/RAW' is not allowed \('#' at position 5\)"),
    'hash-in-block': (dataset_doc(block='b#1'), r"block name 'b#1' is not allowed \('#' at position 1\)"),
    'group-and-gruop': ({'datasetreplica': [{'dataset': MU, 'site': MIT, 'group': 'DataOps', 'gruop': 'DataOps'}]},
                        "both 'group' and 'gruop'"),
}


def db_state():
    return table_dump(), row_counts()['seq']


@pytest.fixture
def demo():
    inv = load_image()
    inject(inv, demo_doc())
    return inv


@pytest.mark.django_db
@pytest.mark.parametrize('name', sorted(REFUSED))
def test_document_breaking_a_rule_is_refused_naming_the_item_and_the_rule(demo, name):
    # given
    doc, message = REFUSED[name]
    before_db, before_image = db_state(), image(demo)
    # when / then
    with pytest.raises(DocumentError, match=message):
        inject(demo, doc)
    assert db_state() == before_db
    assert image(demo) == before_image


VALID_NAMES = {   # kind -> names that stay valid
    'dataset': ['/SingleMuon/Run2017F-31Mar2018-v1/MINIAOD', 'pandaf/010/DoubleMuon+Run2017F-31Mar2018-v1+MINIAOD',
                '/GluGluHToZZTo4L_M125_TuneCP5_13TeV_powheg2_JHUGenV7011_pythia8/RunIISummer20UL18-v2/AODSIM',
                '/' + 'd' * 511],
    'block': ['b1a7c0de-0000-4000-8000-000000000001', 'b1', 'run:2017F+v1.part_2', 'b' * 128],
    'site': ['T2_US_MIT', 'T1_CH_CERN_Disk', 'T0_CH_CERN_MSS', 'site-1.example', 'T' * 64],
    'group': ['AnalysisOps', 'b-physics', 'local.users', 'g' * 64],
    'file': ['/store/data/Run2017F/DoubleMuon/MINIAOD/31Mar2018-v1/00000/0A1B.root', 'relative/file.root',
             '/store/user/x/key=value,one~two:three+four.root', '/' + 'f' * 511],
}


@pytest.mark.parametrize('kind, name', [(k, n) for k, names in VALID_NAMES.items() for n in names])
def test_names_following_the_rules_are_accepted(kind, name):
    from inventory.objects import rules
    assert rules.check_name(kind, name) == name


def test_each_name_limit_is_at_most_its_database_column():
    from inventory import models
    from inventory.objects import rules
    columns = {'site': models.Site, 'group': models.Group, 'partition': models.Partition,
               'dataset': models.Dataset, 'block': models.Block, 'file': models.File}
    for kind, model in columns.items():
        assert rules.NAME_RULES[kind].max_length <= model._meta.get_field('name').max_length, kind
    assert rules.MAX_TEXT <= models.Site._meta.get_field('host').max_length
    assert rules.MAX_TEXT <= models.File._meta.get_field('checksum').max_length
    assert rules.MAX_TEXT <= models.Dataset._meta.get_field('software_version').max_length


@pytest.mark.django_db
def test_a_document_with_valid_cms_and_original_style_names_is_stored_and_loads_back(demo):
    # given
    doc = {'site': [{'name': 'T3_US_New-Site.1', 'status': 'ready'}],
           'dataset': [{'name': name, 'blocks': [{'name': 'b1a7c0de-0000-4000-8000-0000000000ff', 'size': 30,
                                                   'num_files': 2, 'files': [
                                                       {'name': f'/store/x/{i}/1.root', 'size': 10, 'adler32': 'ab12'},
                                                       {'name': f'/store/x/{i}/2.root', 'size': 20, 'crc32': 123}]}]}
                       for i, name in enumerate(VALID_NAMES['dataset'][:3])]}
    # when
    applied = inject(demo, doc)
    # then
    assert (applied.result['datasets'], applied.result['blocks'], applied.result['files']) == (3, 3, 6)
    reloaded = load_image()
    assert image(reloaded) == image(demo)
    block = reloaded.datasets['pandaf/010/DoubleMuon+Run2017F-31Mar2018-v1+MINIAOD'].blocks[0]
    assert (block.size, block.num_files) == (30, 2)
    assert sorted(f.checksum for f in block.files) == [(('adler32', 'ab12'),), (('crc32', '123'),)]


@pytest.mark.django_db
def test_the_same_file_injected_again_with_another_size_is_refused(demo):
    before = db_state()
    with pytest.raises(DocumentError, match=f'file {MU_FILE_1} already exists with size 2500000000, not 7'):
        inject(demo, {'dataset': [{'name': MU, 'blocks': [{'name': B1, 'files': [
            {'name': MU_FILE_1, 'size': 7, 'site': MIT}]}]}]})
    assert db_state() == before


# ---------------------------------------------------------------------------- "gruop"
def test_gruop_is_read_as_group_with_a_warning():
    doc = check_document({'gruop': [{'name': 'NewOps'}],
                          'datasetreplica': [{'dataset': MU, 'site': MIT, 'gruop': 'NewOps',
                                              'blockreplicas': [{'block': B1, 'gruop': 'NewOps'}]}]})
    assert doc['group'] == [{'name': 'NewOps'}] and 'gruop' not in doc
    assert doc['datasetreplica'][0]['group'] == 'NewOps'
    assert doc['datasetreplica'][0]['blockreplicas'][0]['group'] == 'NewOps'
    assert doc.warnings == ["'gruop' read as 'group'"]


@pytest.mark.django_db
def test_an_original_client_document_with_gruop_gives_the_replica_its_group(demo):
    applied = inject(demo, {'site': [{'name': 'T3_US_New'}],
                            'datasetreplica': [{'dataset': MU, 'site': 'T3_US_New', 'gruop': 'DataOps'}]})
    assert applied.result.warnings == ["'gruop' read as 'group'"]
    replica = load_image().sites['T3_US_New'].find_dataset_replica(MU)
    assert replica.group.name == 'DataOps' and replica.growing
    assert all(br.group.name == 'DataOps' for br in replica.block_replicas)


def test_the_inject_web_module_says_gruop_was_read_as_group():
    from webmodules.modules.inventory import Inject
    module = Inject({})
    module.input_data = {'gruop': [{'name': 'NewOps'}], 'site': [{'name': 'T3_US_New'}]}
    created = module.run(None, {}, Inventory())
    assert (created['groups'], created['sites']) == (1, 1)
    assert module.message == "Data injected; warning: 'gruop' read as 'group'"


def test_the_inject_web_module_refuses_a_name_too_long_as_a_bad_request():
    from webmodules.modules.inventory import Inject
    module = Inject({})
    module.input_data = {'site': [{'name': 'T' * 65}]}
    inv = Inventory()
    with pytest.raises(ObjectError, match='is 65 characters long; the limit is 64'):   # 400 in the error table
        module.run(None, {}, inv)
    assert inv.sites == {}


# ---------------------------------------------------------------------------- applications and web writes
def ram_inventory():
    inv = Inventory()
    inv.update(Site('T2_A'))
    inv.update(Dataset('/A/B/RAW'))
    inv.update(Block('b1', '/A/B/RAW', 100, 1))
    inv.update(DatasetReplica('/A/B/RAW', 'T2_A'))
    inv.update(BlockReplica('/A/B/RAW#b1', 'T2_A'))
    return inv


APP_REFUSED = [   # objects an application (or a write-enabled web module) updates, and the error
    (lambda: Site('T2 / evil site'), "site name 'T2 / evil site' is not allowed"),
    (lambda: Group('ops\t'), r"group name 'ops\\t' is not allowed"),
    (lambda: Dataset('/P/ha#sh/RAW'), "dataset name '/P/ha#sh/RAW' is not allowed"),
    (lambda: Dataset('/A/B/RAW', software_version='x' * 300), 'software_version is 300 characters long'),
    (lambda: Block('b' * 129, '/A/B/RAW'), 'is 129 characters long; the limit is 128'),
    (lambda: Block('b1', '/A/B/RAW', BIG, 1), r'block /A/B/RAW#b1: size 9223372036854775808 is over the limit'),
    (lambda: Block('b2', '/A/B/RAW', 2 ** 63 - 100, 1), 'dataset /A/B/RAW: its blocks would hold'),
    (lambda: Block('b1', '/A/B/RAW', 100, 2 ** 31),
     r'num_files 2147483648 is over the limit 2147483647 \(2\*\*31 - 1\)'),
    (lambda: File('/store/a b.root', '/A/B/RAW#b1', 5), "file name '/store/a b.root' is not allowed"),
    (lambda: File('/store/a.root', '/A/B/RAW#b1', 5, [('adler32', 'a' * 300)]), 'the checksums are'),
    (lambda: File('/store/a.root', '/A/B/RAW#b1', 5, [('md4', 'abc')]), "unknown checksum algorithm 'md4'"),
    (lambda: Site('T2_A', host='h' * 256), 'site T2_A: host is 256 characters long; the limit is 255'),
    (lambda: SitePartition('T2_A', 'Default', BIG), 'quota of T2_A in Default 9223372036854775808 is over the limit'),
    (lambda: BlockReplica('/A/B/RAW#b1', 'T2_A', None, False, BIG, 0, [1]), 'size 9223372036854775808 is over'),
    (lambda: BlockReplica('/A/B/RAW#b1', 'T2_A', None, False, -1, BIG), 'last_update 9223372036854775808 is over'),
]


@pytest.mark.parametrize('make, message', APP_REFUSED, ids=[m for _, m in APP_REFUSED])
def test_an_application_update_breaking_a_rule_is_refused_at_once(make, message):
    inv = ram_inventory()
    before = image(inv, files=False)
    with pytest.raises(ObjectError, match=message):
        inv.update(make())
    assert image(inv, files=False) == before


@pytest.mark.django_db
@pytest.mark.parametrize('make, message', APP_REFUSED, ids=[m for _, m in APP_REFUSED])
def test_a_change_list_breaking_a_rule_is_refused_and_changes_nothing(demo, make, message):
    # given: a change list as an application or a web write sends it, on the demo inventory
    obj = make()
    data = to_dict(obj)
    if isinstance(obj, (Block, File, BlockReplica, DatasetReplica)) or 'dataset' in data:
        data = json.loads(json.dumps(data).replace('/A/B/RAW#b1', f'{MU}#{B1}').replace('/A/B/RAW', MU)
                          .replace('"b1"', f'"{B1}"').replace('T2_A', MIT))
    else:
        data = json.loads(json.dumps(data).replace('T2_A', MIT))
    before_db, before_image = db_state(), image(demo)
    # when / then
    with pytest.raises(ObjectError, match=message.replace('/A/B/RAW', MU).replace('T2_A', MIT)
                       .replace('#b1', f'#{B1}')):
        services.apply_changeset(inventory=demo, origin='test', operations=[('u', data)])
    assert db_state() == before_db
    assert image(demo) == before_image


def test_a_clone_made_too_big_by_an_application_is_refused():
    inv = ram_inventory()
    clone = inv.datasets['/A/B/RAW'].find_block('b1').unlinked_clone()
    clone.size = BIG
    with pytest.raises(ObjectError, match='is over the limit'):
        inv.update(clone)
    assert inv.datasets['/A/B/RAW'].find_block('b1').size == 100


def test_blocks_of_one_dataset_may_not_together_pass_the_limit_within_one_change_set():
    inv = ram_inventory()
    inv.begin()
    inv.update(Block('b2', '/A/B/RAW', 2 ** 62, 1))
    inv.update(Block('b2', '/A/B/RAW', 2 ** 62 - 1000, 1))      # shrinks: counted
    inv.update(Block('b3', '/A/B/RAW', 2 ** 62, 1))
    with pytest.raises(ObjectError, match='its blocks would hold 9223372036854775808 bytes'):
        inv.update(Block('b3', '/A/B/RAW', 2 ** 62 + 900, 1))
    inv.delete(Block('b2', '/A/B/RAW'))                            # frees room
    inv.update(Block('b3', '/A/B/RAW', 2 ** 62 + 900, 1))
    inv.end()
    assert sum(b.size for b in inv.datasets['/A/B/RAW'].blocks) == 100 + 2 ** 62 + 900


def test_a_replayed_change_set_is_not_judged_again():
    """The primary accepted it; a follower reproduces it (names from before the rules included)."""
    inv = Inventory()
    inv.begin(keep_ids=True)
    services.apply_operations(inv, [('u', to_dict(Site('T2 legacy site', id=7)))])
    inv.end()
    assert inv.sites['T2 legacy site'].id == 7


# ---------------------------------------------------------------------------- '#' and the change-set log
def legacy_hash_dataset():
    """A dataset whose name holds '#' (accepted before the rules), stored as rows, and its replica."""
    from inventory import models
    models.Site.objects.create(id=1, name='T2_A')
    models.Dataset.objects.create(id=1, name='/P/ha#sh/RAW')
    models.Block.objects.create(id=1, dataset_id=1, name='b1', size=100, num_files=1)
    models.DatasetReplica.objects.create(dataset_id=1, site_id=1)
    models.BlockReplica.objects.create(block_id=1, site_id=1, size=None)
    return load_image()


@pytest.mark.django_db
def test_a_dataset_name_with_a_hash_no_longer_breaks_an_application_change_nor_its_replay():
    # given: the legacy dataset, and an image as of before the change (a follower's)
    inv = legacy_hash_dataset()
    follower = load_image()
    inv.update(Group('ops'))
    # when: an application changes the owner of the block replica (its change stream, as JSON)
    br = inv.sites['T2_A'].find_block_replica(inv.datasets['/P/ha#sh/RAW'].find_block('b1'))
    clone = br.unlinked_clone()
    clone.group = 'ops'
    wire = [('u', to_dict(Group('ops'))), ('u', to_dict(clone))]
    assert (wire[1][1]['dataset'], wire[1][1]['block']) == ('/P/ha#sh/RAW', 'b1')
    inv = load_image()
    applied = services.apply_changeset(inventory=inv, origin='app', operations=json.loads(json.dumps(wire)))
    # then: applied, and the logged change set replays into the follower's image
    assert applied.seq == 1
    assert load_image().sites['T2_A'].find_dataset_replica('/P/ha#sh/RAW').block_replicas[0].group.name == 'ops'
    services.catch_up(follower)
    assert image(follower) == image(load_image())


@pytest.mark.django_db
def test_change_sets_logged_in_the_old_encoding_still_replay(demo):
    # given: an image as of now, and a change set logged before version 2 ("dataset#block" in one
    # field) on top of it
    from django.utils import timezone

    from inventory.models import ChangeSet, ChangeSetChunk
    old = [['u', {'_t': 'BlockReplica', '_v': 1, 'block': f'{MU}#{B1}', 'site': MIT, 'group': 'DataOps',
                  'is_custodial': True, 'size': -1, 'last_update': 9, 'file_ids': None}],
           ['u', {'_t': 'File', '_v': 1, 'lfn': MU_FILE_1, 'block': f'{MU}#{B1}', 'size': 2_500_000_000,
                  'checksum': [['adler32', '0a1b2c3e']], 'id': demo.find_file(MU_FILE_1).id}]]
    seq = demo.seq + 1
    ChangeSet.objects.create(seq=seq, origin='old', applied_at=timezone.now(), num_changes=2)
    ChangeSetChunk.objects.create(changeset_id=seq, index=0, data=json.dumps(old))
    # when
    assert services.catch_up(demo) == 1
    # then
    br = demo.sites[MIT].find_block_replica(f'{MU}#{B1}')
    assert (demo.seq, br.group.name, br.is_custodial, br.last_update) == (seq, 'DataOps', True, 9)


@pytest.mark.django_db
def test_old_encoding_block_replicas_are_decoded_by_splitting_at_the_first_hash(demo):
    data = {'_t': 'BlockReplica', '_v': 1, 'block': f'{MU}#{B1}', 'site': MIT, 'group': 'DataOps',
            'is_custodial': True, 'size': -1, 'last_update': 9, 'file_ids': None}
    applied = services.apply_changeset(inventory=demo, origin='old client', operations=[('u', data)])
    assert applied.num_changes == 1
    br = load_image().sites[MIT].find_block_replica(f'{MU}#{B1}')
    assert (br.group.name, br.is_custodial, br.last_update) == ('DataOps', True, 9)


def test_the_log_names_blocks_by_two_fields():
    inv = ram_inventory()
    sink = []
    inv.begin(sink=lambda op, data: sink.append(data))
    inv.update(File('/store/a.root', '/A/B/RAW#b1', 5))
    inv.update(BlockReplica('/A/B/RAW#b1', 'T2_A', None, True))
    inv.end()
    assert [(d['_t'], d['_v'], d['dataset'], d['block']) for d in sink] == [
        ('File', 2, '/A/B/RAW', 'b1'), ('BlockReplica', 2, '/A/B/RAW', 'b1')]
    assert all('/A/B/RAW#b1' not in json.dumps(d) for d in sink)
    assert (to_dict(File('/store/a.root', '/A/B/RAW#b1'))['dataset'],
            to_dict(File('/store/a.root', '/A/B/RAW#b1'))['block']) == ('/A/B/RAW', 'b1')


# ---------------------------------------------------------------------------- the command and the web
@pytest.mark.django_db(transaction=True)
def test_the_inject_command_says_which_file_is_too_big_instead_of_an_internal_error(tmp_path):
    # given
    assert manage('dynamo_inject', 'inventory/fixtures/demo.json').returncode == 0
    before = db_state()
    path = tmp_path / 'big.json'
    path.write_text(json.dumps(dataset_doc(files=[{'name': '/store/new/1.root', 'size': BIG}])))
    # when
    r = manage('dynamo_inject', str(path))
    # then
    assert r.returncode != 0
    assert 'internal error' not in r.stderr and 'Traceback' not in r.stderr, r.stderr
    assert 'file /store/new/1.root: "size" 9223372036854775808 is over the limit 9223372036854775807' in r.stderr
    assert db_state() == before


def test_blockreplicas_refuses_a_block_pattern_without_a_dataset():
    from webmodules.base import IllFormedRequest
    from webmodules.modules.inventory import BlockReplicas
    for pattern in ('###', '#b1', ' #b1'):
        with pytest.raises(IllFormedRequest, match='expected DATASET#BLOCK patterns') as info:
            BlockReplicas({}).run(None, {'block': pattern}, ram_inventory())
        assert info.value.status == 400


def test_blockreplicas_takes_the_originals_node_and_update_since():
    from webmodules.base import IllFormedRequest
    from webmodules.modules.inventory import BlockReplicas
    inv = ram_inventory()
    inv.update(Site('T1_B'))
    inv.update(DatasetReplica('/A/B/RAW', 'T1_B'))
    inv.update(BlockReplica('/A/B/RAW#b1', 'T1_B', last_update=50))

    def sites(**request):
        (row,) = BlockReplicas({}).run(None, dict(dataset='/A/B/RAW', **request), inv)
        return [r['site'] for r in row['replicas']]
    assert sites(node='T1_B') == sites(site='T1_B') == ['T1_B']
    assert sites(update_since='10') == sites(updated_since='10') == ['T1_B']
    assert sites(node='T2_*', update_since='0') == ['T2_A']
    with pytest.raises(IllFormedRequest, match='not both'):
        sites(node='T1_B', site='T2_A')


@pytest.mark.e2e
def test_a_running_server_answers_400_not_500_to_blockreplicas_of_block_hashes(start_server):
    # given
    assert manage('dynamo_inject', 'inventory/fixtures/demo.json').returncode == 0
    server = start_server()
    # when
    status, body = server.get('/data/inventory/blockreplicas?block=%23%23%23')
    # then
    assert status == 400, body
    assert body['result'] == 'Bad Request' and 'expected DATASET#BLOCK patterns' in body['message']
    status, body = server.get(f'/data/inventory/blockreplicas?dataset=/SingleMuon/*&node={MIT}&update_since=0')
    assert status == 200, body
    assert {r['site'] for row in body['data'] for r in row['replicas']} == {MIT}
