"""The Dealer policy: a JSON file (as the original's dealer configuration) -> DealerPolicy.

    {"partition": "Default", "group": "AnalysisOps", "target_sites": ["T2_*", "!T2_XX_Bad"],
     "target_occupancy": 0.93, "max_pending_fraction": 0.03, "max_cycle_volume": "200 TB",
     "plugins": {"requests": {"priority": 1}, "popularity": {"priority": 2, "config": {...}}}}

Everything but `plugins` has a default; `target_sites` may instead be a condition of the policy
language over sites ("site.name == T2_* and site.storage_type == DISK"). The original's key names
(partition_name, group_name, target_site_occupancy, max_site_pending_fraction,
max_total_cycle_volume in TB) are read too. Pure: no Django, no inventory. Errors name the file
and the key (PolicyError).
"""
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Optional, Tuple

from policy import PolicyError as ConditionError
from policy import compile_condition, parse_size

TB = 10 ** 12

# the shipped plugins, by the name a policy gives them (a policy may name any other class with "module")
BUILTIN_PLUGINS = {
    'requests': 'dealer.plugins.requests:RequestsPlugin',
    'popularity': 'dealer.plugins.popularity:PopularityPlugin',
    'balancer': 'dealer.plugins.balancer:BalancerPlugin',
    'undertaker': 'dealer.plugins.undertaker:UndertakerPlugin',
    'enforcer': 'dealer.plugins.enforcer:EnforcerPlugin',
    'reassign': 'dealer.plugins.reassign:GroupReassignPlugin',
    'group_reassign': 'dealer.plugins.reassign:GroupReassignPlugin',
}

_KEYS = {'partition', 'group', 'target_sites', 'target_occupancy', 'max_pending_fraction', 'max_cycle_volume',
         'plugins', 'seed', 'max_decision_rows', 'keep_decisions', 'comment'}
_ORIGINAL = {'partition_name': 'partition', 'group_name': 'group', 'target_site_occupancy': 'target_occupancy',
             'max_site_pending_fraction': 'max_pending_fraction', 'max_total_cycle_volume': 'max_cycle_volume'}
_IGNORED = {'history', 'test_run', 'attrs', 'copy_op', 'log_level'}    # the original's, not used here


class PolicyError(ValueError):
    """A Dealer policy that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class PluginSpec:
    name: str
    module: str           # 'package.module:Class'
    priority: float
    config: dict = field(default_factory=dict)


@dataclass(frozen=True)
class DealerPolicy:
    partition: str = 'Default'
    group: str = 'AnalysisOps'
    target_patterns: Optional[Tuple[str, ...]] = ('*',)   # fnmatch; '!x' excludes; the last match wins
    target_condition: Optional[str] = None                # a site condition, instead of the patterns
    target_occupancy: float = 0.93
    max_pending_fraction: float = 0.03
    max_cycle_volume: int = 200 * TB
    plugins: Tuple[PluginSpec, ...] = ()
    seed: int = 0
    max_decision_rows: int = 200_000
    keep_decisions: int = 100            # cycles (of the partition) whose decision rows are kept
    filename: str = '<policy>'
    text: str = ''

    @property
    def sha256(self):
        return hashlib.sha256(self.text.encode()).hexdigest()

    def target_matcher(self, *, now=None):
        """f(site_partition) -> bool: does the site match the target sites (patterns or condition)?"""
        if self.target_condition is not None:
            return compile_condition(self.target_condition, 'site', now=now).match
        import fnmatch
        import re
        rules = [(p.startswith('!'), re.compile(fnmatch.translate(p.lstrip('!')))) for p in self.target_patterns]

        def match(sp):
            name, result = sp.site.name, False
            for exclude, regex in rules:
                if regex.match(name):
                    result = not exclude
            return result
        return match


def _number(data, key, where, low, high, default):
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise PolicyError(f'{where}: {key}: expected a number from {low} to {high}, got {value!r}')
    return float(value)


def size_setting(value, where, key):
    """A size: a number is TB (the original's unit), text may carry a unit ('200 TB', '5e14')."""
    if isinstance(value, bool):
        raise PolicyError(f'{where}: {key}: expected a size, got {value!r}')
    if isinstance(value, (int, float)):
        if value < 0:
            raise PolicyError(f'{where}: {key}: expected a size, got {value!r}')
        return int(value * TB)
    if isinstance(value, str):
        try:
            size = parse_size(value)
        except ValueError as exc:
            raise PolicyError(f'{where}: {key}: {exc}') from None
        if size < 0:
            raise PolicyError(f'{where}: {key}: expected a size, got {value!r}')
        return int(size)
    raise PolicyError(f'{where}: {key}: expected a size (TB, or text such as "200 TB"), got {value!r}')


def _plugins(value, where):
    if not isinstance(value, dict) or not value:
        raise PolicyError(f'{where}: plugins: expected an object of plugins by name, e.g. '
                          f'{{"requests": {{"priority": 1}}}}')
    specs = []
    for name, entry in sorted(value.items()):
        here = f'{where}: plugins.{name}'
        if not isinstance(entry, dict):
            raise PolicyError(f'{here}: expected an object with priority, module, config')
        unknown = set(entry) - {'priority', 'module', 'config', 'enabled'}
        if unknown:
            raise PolicyError(f'{here}: unknown keys {", ".join(sorted(unknown))} (known: priority, module, '
                              f'config, enabled)')
        if entry.get('enabled', True) is False:
            continue
        module = entry.get('module') or BUILTIN_PLUGINS.get(name)
        if not module:
            raise PolicyError(f'{here}: not a shipped plugin ({", ".join(sorted(BUILTIN_PLUGINS))}): give its '
                              f'"module" (package.module:Class)')
        if not isinstance(module, str) or ':' not in module and '.' not in module:
            raise PolicyError(f'{here}: module: expected package.module:Class, got {module!r}')
        priority = _number(entry, 'priority', here, 0, 1e9, 1)
        config = entry.get('config', {})
        if not isinstance(config, dict):
            raise PolicyError(f'{here}: config: expected an object, got {config!r}')
        specs.append(PluginSpec(name, module, priority, config))
    if not specs:
        raise PolicyError(f'{where}: plugins: every plugin is disabled')
    return tuple(specs)


def parse(text, filename='<policy>'):
    """The DealerPolicy of a policy file's text. Raises PolicyError."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyError(f'{filename}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}') from None
    if not isinstance(data, dict):
        raise PolicyError(f'{filename}: expected a JSON object')
    data = {_ORIGINAL.get(k, k): v for k, v in data.items()}
    unknown = set(data) - _KEYS - _IGNORED
    if unknown:
        raise PolicyError(f'{filename}: unknown keys {", ".join(sorted(unknown))} (known: {", ".join(sorted(_KEYS))})')
    if 'plugins' not in data:
        raise PolicyError(f'{filename}: plugins: missing (e.g. {{"requests": {{"priority": 1}}}})')
    values = {}
    for key in ('partition', 'group'):
        if key in data:
            if not isinstance(data[key], str) or not data[key]:
                raise PolicyError(f'{filename}: {key}: expected a name, got {data[key]!r}')
            values[key] = data[key]
    targets = data.get('target_sites', ['*'])
    if isinstance(targets, str):
        try:
            compile_condition(targets, 'site')
        except ConditionError as exc:
            raise PolicyError(f'{filename}: target_sites: {exc}') from None
        values.update(target_patterns=None, target_condition=targets)
    elif isinstance(targets, list) and targets and all(isinstance(t, str) and t.lstrip('!') for t in targets):
        values['target_patterns'] = tuple(targets)
    else:
        raise PolicyError(f'{filename}: target_sites: expected a list of site patterns (["T2_*", "!T2_XX_Y"]) '
                          f'or a site condition, got {targets!r}')
    values['target_occupancy'] = _number(data, 'target_occupancy', filename, 0, 10, 0.93)
    values['max_pending_fraction'] = _number(data, 'max_pending_fraction', filename, 0, 10, 0.03)
    if 'max_cycle_volume' in data:
        values['max_cycle_volume'] = size_setting(data['max_cycle_volume'], filename, 'max_cycle_volume')
    seed = data.get('seed', 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise PolicyError(f'{filename}: seed: expected an integer, got {seed!r}')
    values['seed'] = seed
    rows = data.get('max_decision_rows', 200_000)
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
        raise PolicyError(f'{filename}: max_decision_rows: expected a number of rows, got {rows!r}')
    values['max_decision_rows'] = rows
    keep = data.get('keep_decisions', 100)
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise PolicyError(f'{filename}: keep_decisions: expected a number of cycles (at least 1), got {keep!r}')
    values['keep_decisions'] = keep
    values['plugins'] = _plugins(data['plugins'], filename)
    return DealerPolicy(filename=filename, text=text, **values)
