"""The condition language of Dynamo policies: parser -> typed syntax tree -> compiled predicates;
the variables; attribute providers; the partition definitions file.

Pure Python: imports only the standard library and inventory.objects, and never changes an
inventory object. Public entry points:

    compile_condition(text, context='replica'|'blockreplica'|'site', *, providers, now, source, check)
        -> CompiledCondition (.match, .block_match, .matching_blocks(subject), .variables, .text)
    parse_partitions(text, filename, *, now) -> [PartitionDefinition(name, condition, subpartitions)]
    providers_from_config([...]) -> Providers;  parse_now(value) -> UNIX seconds
"""
from .compiler import CompiledCondition, VariableRef, compile_condition, variable_getter
from .errors import PolicyError, Source
from .partitions import PartitionDefinition, parse_partitions
from .providers import (AttributeFile, AttributeProvider, ConfigurationError, EnforcerProtection,
                        LockEntry, LockList, Locks, PopularityFile, ProtectedSites, Providers,
                        RelativeAge, load_class, provider_from_config, providers_from_config)
from .subjects import PLAIN, ReplicaSubject, Scope, is_full
from .units import format_size, format_time, parse_now, parse_size, parse_time
from .variables import REPLICA_VARIABLES, SITE_VARIABLES, Level, Type, Variable

__all__ = [
    'AttributeFile', 'AttributeProvider', 'CompiledCondition', 'ConfigurationError', 'EnforcerProtection',
    'Level', 'LockEntry', 'LockList', 'Locks', 'PLAIN', 'PartitionDefinition', 'PolicyError',
    'PopularityFile', 'ProtectedSites', 'Providers', 'REPLICA_VARIABLES', 'RelativeAge', 'ReplicaSubject',
    'SITE_VARIABLES', 'Scope', 'Source', 'Type', 'Variable', 'VariableRef', 'compile_condition',
    'format_size', 'format_time', 'is_full', 'load_class', 'parse_now', 'parse_partitions', 'parse_size',
    'parse_time', 'provider_from_config', 'providers_from_config', 'variable_getter',
]
