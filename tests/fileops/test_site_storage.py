"""The storage of a site: backend and filename mapping set by injection and by `dynamo_site` (through
the write path: the running server's, or applied by the command when none runs), the PFN of an LFN
(`--lfn2pfn`), the executor and limits of the file operations."""
import json

import pytest

from fileops.models import SiteStorage
from inventory.injection import filename_mapping
from inventory.objects import ObjectError
from tests.conftest import manage
from tests.support import inject, load_image

pytestmark = pytest.mark.django_db(transaction=True)
MAPPING = {'gfal2': [[['/store/mc/(.*)', '/mc/{0}'], ['(.*)', 'davs://se.example:443/cms{0}']],
                     [['/store/(.*)', 'root://xr.example//cms/store/{0}']]]}


def site_row(name):
    from inventory.models import Site
    row = Site.objects.get(name=name)
    return row.backend, json.loads(row.filename_mapping)


def test_injection_sets_backend_and_mapping_and_checks_the_mapping():
    result = inject(load_image(), {'site': [
        {'name': 'T2_ST_A', 'backend': 'file:///data/T2_ST_A', 'status': 'ready'},
        {'name': 'T2_ST_B', 'backend': 'root://xr.example//store', 'filename_mapping': MAPPING}]})
    assert result.num_changes == 2
    assert site_row('T2_ST_A') == ('file:///data/T2_ST_A', {})
    assert site_row('T2_ST_B') == ('root://xr.example//store', MAPPING)
    image = load_image()
    assert json.loads(json.dumps(image.sites['T2_ST_B'].filename_mapping)) == MAPPING
    # the original's per-protocol list of pairs: a chain per pair
    assert filename_mapping({'gfal2': [['/store/(.*)', 'root://h//{0}']]}) == {'gfal2': [[['/store/(.*)', 'root://h//{0}']]]}
    for bad, words in (({'gfal2': [[['/store/(.*', 'x{0}']]]}, 'bad regex'),
                       ({'gfal2': [[['/store/(.*)', 'x{1}']]]}, 'does not fit the 1 groups'),
                       ({'gfal2': 'root://h'}, 'non-empty list of chains'),
                       ({'gfal2': [['just one']]}, 'expected a list of [lfn_regex, pfn_format]')):
        with pytest.raises(ObjectError, match=words.replace('[', r'\[').replace(']', r'\]')):
            inject(load_image(), {'site': [{'name': 'T2_ST_C', 'filename_mapping': bad}]})
    assert 'T2_ST_C' not in load_image().sites


def test_dynamo_site_sets_the_storage_without_a_server_and_prints_pfns(tmp_path):
    inject(load_image(), {'site': [{'name': 'T2_ST_A', 'backend': 'file:///data/A'}]})
    # with only a backend: PFN = backend + LFN
    done = manage('dynamo_site', 'T2_ST_A', '--backend', 'root://se.example:1094//store')
    assert done.returncode == 0, done.stderr
    assert 'storage changed in the inventory' in done.stdout and 'root://se.example:1094//store' in done.stdout
    assert site_row('T2_ST_A')[0] == 'root://se.example:1094//store'
    assert load_image().sites['T2_ST_A'].backend == 'root://se.example:1094//store'
    done = manage('dynamo_site', 'T2_ST_A', '--lfn2pfn', '/store/mc/X/f.root')
    assert (done.returncode, done.stdout.strip()) == (0, 'root://se.example:1094//store/store/mc/X/f.root')
    # with a mapping: the first chain whose every step matches
    path = tmp_path / 'mapping.json'
    path.write_text(json.dumps(MAPPING))
    assert manage('dynamo_site', 'T2_ST_A', '--mapping', str(path)).returncode == 0
    assert site_row('T2_ST_A')[1] == MAPPING
    pfn = manage('dynamo_site', 'T2_ST_A', '--lfn2pfn', '/store/mc/X/f.root').stdout.strip()
    assert pfn == 'davs://se.example:443/cms/mc/X/f.root'
    pfn = manage('dynamo_site', 'T2_ST_A', '--lfn2pfn', '/store/data/Y/g.root').stdout.strip()
    assert pfn == 'root://xr.example//cms/store/data/Y/g.root'
    refused = manage('dynamo_site', 'T2_ST_A', '--lfn2pfn', '/other/z.root')
    assert refused.returncode != 0 and "no gfal2 mapping chain matches '/other/z.root'" in refused.stderr
    path.write_text(json.dumps({'gfal2': [[['/store/(.*', 'x']]]}))
    refused = manage('dynamo_site', 'T2_ST_A', '--mapping', str(path))
    assert refused.returncode != 0 and 'bad regex' in refused.stderr
    assert manage('dynamo_site', 'T2_ST_A', '--mapping', '-').returncode == 0
    assert site_row('T2_ST_A')[1] == {}
    unknown = manage('dynamo_site', 'T2_NONE', '--backend', 'file:///x')
    assert unknown.returncode != 0 and 'no site T2_NONE' in unknown.stderr


def test_dynamo_site_chooses_the_executor_and_limits():
    inject(load_image(), {'site': [{'name': 'T1_ST_F', 'backend': 'davs://se.example/store'}]})
    refused = manage('dynamo_site', 'T1_ST_F', '--max-active', 'many')
    assert refused.returncode != 0
    done = manage('dynamo_site', 'T1_ST_F', '--fts', 'https://fts3.example:8446', '--proxy', '/tmp/x509up',
                  '--max-active', '20', '--lfn-roots', '/store/mc,/store/data')
    assert done.returncode == 0, done.stderr
    assert 'executor   fts3 (https://fts3.example:8446)' in done.stdout and 'max active 20' in done.stdout
    row = SiteStorage.objects.get(site='T1_ST_F')
    assert (row.executor, row.x509_proxy, row.max_active, row.lfn_roots) == \
        ('fts3', '/tmp/x509up', 20, '/store/mc,/store/data')
    assert manage('dynamo_site', 'T1_ST_F', '--gfal2', '--max-active', 'default').returncode == 0
    row.refresh_from_db()
    assert (row.executor, row.max_active) == ('gfal2', None)


@pytest.mark.e2e
def test_dynamo_site_goes_through_the_running_server(start_server):
    inject(load_image(), {'site': [{'name': 'T2_ST_A', 'backend': 'file:///data/A'}]})
    server = start_server()
    done = manage('dynamo_site', 'T2_ST_A', '--backend', 'davs://se.example:2880/store')
    assert done.returncode == 0, done.stderr
    status, body = server.get('/data/inventory/sites?site=T2_ST_A')
    assert status == 200 and body['data'][0]['backend'] == 'davs://se.example:2880/store'
