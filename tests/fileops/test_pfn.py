"""LFN -> PFN: backend + LFN for a site without a mapping; the site's mapping chains win when it has them."""
import pytest

from fileops.checksums import normalize_checksum, parse_checksum
from fileops.pfn import PfnError, lfn_of, resolve_pfn
from inventory.objects import Site

LFN = '/store/mc/Run3/TTbar/AODSIM/v1/0000/file.root'


@pytest.mark.parametrize('backend, pfn', [
    ('file:///data/T2_XX_A', 'file:///data/T2_XX_A' + LFN),
    ('file:///data/T2_XX_A/', 'file:///data/T2_XX_A' + LFN),
    ('file:///', 'file://' + LFN),
    ('root://host:1094//store', 'root://host:1094//store' + LFN),
    ('davs://host/path', 'davs://host/path' + LFN),
])
def test_a_site_with_only_a_backend_places_files_at_backend_plus_lfn(backend, pfn):
    assert resolve_pfn(LFN, backend=backend) == pfn
    assert lfn_of(pfn, backend=backend) == LFN


def test_a_pfn_outside_the_backend_has_no_lfn():
    assert lfn_of('root://other//store/x', backend='root://host//store') is None
    assert lfn_of('file:///data/T2_XX_Abc/x', backend='file:///data/T2_XX_A') is None


def test_the_mapping_wins_over_the_backend():
    mapping = {'gfal2': [[[r'/+store/(.*)', 'davs://webdav.site:2880/cms/store/{0}']]]}
    assert resolve_pfn(LFN, backend='root://host//', filename_mapping=mapping) == \
        'davs://webdav.site:2880/cms/store/mc/Run3/TTbar/AODSIM/v1/0000/file.root'


def test_every_step_of_a_chain_applies_to_the_result_of_the_previous():
    chain = [[r'/store/(mc|data)/(.*)', '/{0}/{1}'], [r'/mc/(.*)', 'root://mc.site//pool/{0}']]
    assert resolve_pfn(LFN, filename_mapping={'gfal2': [chain]}) == \
        'root://mc.site//pool/Run3/TTbar/AODSIM/v1/0000/file.root'


def test_the_first_chain_that_matches_all_its_steps_wins():
    mapping = {'gfal2': [
        [[r'/store/(data)/(.*)', '/d/{1}'], [r'/d/(.*)', 'root://data.site//{0}']],   # first step fails
        [[r'/store/(mc)/(.*)', '/m/{1}'], [r'/x/(.*)', 'root://never//{0}']],        # second step fails
        [[r'/store/(.*)', 'root://fallback.site//cms/{0}']],
    ]}
    assert resolve_pfn(LFN, filename_mapping=mapping) == 'root://fallback.site//cms/mc/Run3/TTbar/AODSIM/v1/0000/file.root'


def test_a_mapping_with_no_matching_chain_is_an_error_not_the_backend():
    with pytest.raises(PfnError):
        resolve_pfn('/other/x', backend='root://host//', filename_mapping={'gfal2': [[[r'/store/(.*)', '/{0}']]]})


def test_a_mapping_for_another_protocol_leaves_the_backend_rule():
    mapping = {'srmv2': [[[r'/store/(.*)', 'srm://x/{0}']]]}
    assert resolve_pfn(LFN, backend='root://host/', filename_mapping=mapping) == 'root://host' + LFN


def test_no_backend_and_no_mapping_is_an_error():
    with pytest.raises(PfnError):
        resolve_pfn(LFN)


def test_the_resolver_agrees_with_the_inventory_sites_own_mapping():
    chains = [[[r'/store/(.*)', 'root://xrootd.site//cms/store/{0}']]]
    site = Site('T2_XX_A', backend='root://ignored//', filename_mapping={'gfal2': chains})
    assert resolve_pfn(LFN, backend=site.backend, filename_mapping=site.filename_mapping) == site.to_pfn(LFN, 'gfal2')


@pytest.mark.parametrize('text, pair', [
    ('adler32:1a2b3c', ('adler32', '001a2b3c')),
    ('ADLER32:0x0000FFFF', ('adler32', '0000ffff')),
    ('abc', ('adler32', '00000abc')),
    ('md5:D41D8CD98F00B204E9800998ECF8427E', ('md5', 'd41d8cd98f00b204e9800998ecf8427e')),
])
def test_checksums_are_compared_in_one_spelling(text, pair):
    assert parse_checksum(text) == pair
    assert normalize_checksum(*pair) == pair
