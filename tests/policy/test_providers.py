"""Attribute providers: files, protected sites, enforcer rules, locks, classes on a path."""
import json

import pytest

from policy import (ConfigurationError, EnforcerProtection, LockEntry, LockList, Locks, PLAIN, PopularityFile,
                    ProtectedSites, Providers, REPLICA_VARIABLES, RelativeAge, Scope, compile_condition, providers_from_config)
from tests.policy.conftest import NOW, replica_of


def holds(text, subject, providers):
    return compile_condition(text, providers=providers, now=NOW).match(subject)


def value(name, subject, providers):
    text = name if REPLICA_VARIABLES[name].type.value == 'bool' else f'{name} != 12345'
    return compile_condition(text, providers=providers, now=NOW).variables[0].value(subject)


@pytest.fixture
def raw_at_a(crafted):
    return PLAIN.subject(replica_of(crafted, '/A/B/RAW', 'T2_A'))


def test_popularity_from_json_lines(tmp_path, raw_at_a):
    path = tmp_path / 'popularity.jsonl'
    path.write_text('# dataset popularity\n'
                    + json.dumps({'dataset': '/A/B/RAW', 'last_access': '2019-05-01T00:00:00Z', 'num_access': 12,
                                  'usage_rank': 3.5, 'demand_rank': 1}) + '\n\n')
    providers = Providers([PopularityFile(path)])
    assert value('dataset.last_access', raw_at_a, providers) == 1556668800
    assert value('replica.num_access', raw_at_a, providers) == 12
    assert value('dataset.usage_rank', raw_at_a, providers) == 3.5
    assert holds('dataset.last_access older_than 2 weeks ago and dataset.demand_rank == 1', raw_at_a, providers)


def test_popularity_from_csv_and_defaults_for_missing_datasets(tmp_path, crafted):
    path = tmp_path / 'popularity.csv'
    path.write_text('dataset,last_access,num_access\n/A/B/RAW,1500000000,4\n')
    providers = Providers([PopularityFile(path)])
    assert providers.provided() == ['dataset.last_access', 'replica.num_access']
    other = PLAIN.subject(replica_of(crafted, '/C/D/AOD', 'T2_A'))
    assert value('dataset.last_access', other, providers) == 0       # never accessed
    assert value('replica.num_access', other, providers) == 0
    with pytest.raises(Exception, match='dataset.usage_rank needs an attribute provider'):
        compile_condition('dataset.usage_rank > 1', providers=providers)   # not in the file


def test_a_bad_file_line_is_named(tmp_path):
    path = tmp_path / 'p.jsonl'
    path.write_text('{"dataset": "/A/B/RAW", "last_access": "yesterday-ish"}\n')
    with pytest.raises(ConfigurationError, match=r'p.jsonl:1: last_access'):
        PopularityFile(path)


def test_generic_attribute_file(tmp_path, raw_at_a):
    path = tmp_path / 'attrs.jsonl'
    path.write_text(json.dumps({'dataset': '/A/B/RAW', 'tape': True, 'latest': 'no'}) + '\n')
    providers = providers_from_config([{'provider': 'attributes', 'path': str(path), 'columns': {
        'dataset.tape_copy_requested': 'tape', 'dataset.is_latest_production_release': 'latest',
        'dataset.unknown_in_all_dbs': 'unknown'}}])
    assert providers.provided() == ['dataset.is_latest_production_release', 'dataset.tape_copy_requested']
    assert holds('dataset.tape_copy_requested and not dataset.is_latest_production_release', raw_at_a, providers)


def test_protected_sites_see_the_image_or_every_site(crafted, raw_at_a):
    providers = Providers([ProtectedSites(['T1_*'])])
    assert holds('dataset.on_protected_site_all_sites', raw_at_a, providers)

    class OnlyT2(Scope):   # a scope whose image holds the T2 sites only
        def initial_replicas(self, dataset):
            return [r for r in dataset.replicas if r.site.name.startswith('T2_')]
    providers.begin(OnlyT2(), NOW)
    assert not holds('dataset.on_protected_site', raw_at_a, providers)
    assert holds('dataset.on_protected_site_all_sites', raw_at_a, providers)


def test_enforcer_protects_replicas_while_there_are_at_most_the_wanted_copies(crafted):
    rules = [{'datasets': ['/A/*/*'], 'sites': ['T2_*'], 'num_copies': 2}]
    providers = Providers([EnforcerProtection(rules)])
    a = PLAIN.subject(replica_of(crafted, '/A/B/RAW', 'T2_A'))
    m = PLAIN.subject(replica_of(crafted, '/A/B/RAW', 'T1_M'))
    assert holds('replica.enforcer_protected', a, providers)      # 2 T2 copies <= 2
    assert not holds('replica.enforcer_protected', m, providers)  # not at a T2 site
    tight = Providers([EnforcerProtection([{'datasets': ['/A/*/*'], 'sites': ['T2_*'], 'num_copies': 1}])])
    assert not holds('replica.enforcer_protected', a, tight)


def test_locks_by_dataset_block_site_group_and_expiry(crafted):
    a = PLAIN.subject(replica_of(crafted, '/A/B/RAW', 'T2_A'))
    b = PLAIN.subject(replica_of(crafted, '/A/B/RAW', 'T2_B'))
    aod = PLAIN.subject(replica_of(crafted, '/C/D/AOD', 'T2_A'))
    locks = LockList([LockEntry('/A/B/RAW#b2', site='T2_A'),
                      LockEntry('/C/*/*', group='Data*', expires=NOW + 10),
                      LockEntry('/A/B/RAW', site='T2_B', expires=NOW - 10)])   # expired
    providers = Providers([Locks(locks)])
    providers.begin(PLAIN, NOW)
    condition = compile_condition('blockreplica.is_locked', providers=providers, now=NOW)
    assert [br.block.name for br in condition.matching_blocks(a)] == ['b2']
    assert condition.matching_blocks(b) == []
    assert condition.match(aod)
    providers.begin(PLAIN, NOW + 20)     # the /C lock expired meanwhile
    assert not condition.match(aod)


def test_relative_age_counts_from_the_newest_block_replica(crafted):
    providers = Providers([RelativeAge()])
    providers.begin(Scope(crafted), NOW)
    a = PLAIN.subject(replica_of(crafted, '/A/B/RAW', 'T2_A'))
    assert value('blockreplica.age_relative_to_newest', a, providers) == {'b1': 90 - 30, 'b2': 90 - 40}


class Constant:
    """A provider class loaded from its dotted path."""
    provides = ('dataset.unhandled_copy_exists',)

    def __init__(self, config):
        self.answer = config['answer']

    def getter(self, name):
        return lambda dataset: self.answer


def test_a_python_class_on_a_dotted_path(raw_at_a):
    providers = providers_from_config([{'provider': 'python', 'class': 'tests.policy.test_providers:Constant',
                                        'config': {'answer': True}}])
    assert holds('dataset.unhandled_copy_exists', raw_at_a, providers)


def test_two_providers_of_one_variable_are_refused(tmp_path):
    with pytest.raises(ConfigurationError, match='provided by both'):
        Providers([ProtectedSites(['T1_*']), ProtectedSites(['T2_*'])])


@pytest.mark.parametrize('entry, message', [
    ({'provider': 'nope'}, "unknown provider 'nope'"),
    ({'provider': 'popularity'}, "missing 'path'"),
    ({'provider': 'python', 'class': 'no.such.module:X'}, 'cannot import no.such.module'),
    ({'provider': 'popularity', 'path': '/nonexistent/p.jsonl'}, 'cannot read /nonexistent/p.jsonl'),
])
def test_configuration_errors_say_what_is_wrong(entry, message):
    with pytest.raises(ConfigurationError, match=message):
        providers_from_config([entry])
