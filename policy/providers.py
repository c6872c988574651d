"""Attribute providers: the outside data some variables read (popularity, locks, protected sites,
enforcer protection, other dataset attributes), chosen in configuration.

A provider names the variables it supplies and returns a getter per variable, on bare inventory
objects: dataset variables f(dataset), replica variables f(dataset_replica), block-replica
variables f(block_replica, owner_group). `begin(scope, now)` is called before a Detox cycle
evaluates anything. Providers read files at construction; they never touch the inventory.
"""
from __future__ import annotations

import csv
import fnmatch
import importlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence

from .subjects import PLAIN, Scope
from .units import parse_now
from .variables import REPLICA_VARIABLES, Level, Type


class ConfigurationError(ValueError):
    """A provider is misconfigured (bad file, unknown variable, two providers of one variable)."""


class AttributeProvider:
    """Base of every provider. Subclasses set `provides` and implement getter()."""
    provides: Sequence[str] = ()

    def getter(self, name: str) -> Callable:
        raise NotImplementedError

    def begin(self, scope: Scope, now: float) -> None:
        """A cycle starts on `scope` (the partition image) at time `now`: forget per-cycle memos."""


class Providers:
    """The configured providers, by the variable each supplies (one provider per variable)."""

    def __init__(self, providers: Iterable[AttributeProvider] = ()):
        self._all: List[AttributeProvider] = []
        self._by_variable: Dict[str, AttributeProvider] = {}
        for provider in providers:
            self.add(provider)

    def add(self, provider: AttributeProvider) -> None:
        for name in provider.provides:
            var = REPLICA_VARIABLES.get(name)
            if var is None or var.provider is None:
                raise ConfigurationError(f'{type(provider).__name__} claims {name!r}, which is not a '
                                         f'provider variable')
            other = self._by_variable.get(name)
            if other is not None:
                raise ConfigurationError(f'{name} is provided by both {type(other).__name__} and '
                                         f'{type(provider).__name__}: configure only one')
            self._by_variable[name] = provider
        self._all.append(provider)

    def __contains__(self, name: str) -> bool:
        return name in self._by_variable

    def provided(self) -> List[str]:
        return sorted(self._by_variable)

    def getter(self, name: str) -> Callable:
        return self._by_variable[name].getter(name)

    def begin(self, scope: Scope, now: float) -> None:
        for provider in self._all:
            provider.begin(scope, now)


NO_PROVIDERS = Providers()


# ------------------------------------------------------------------------ values in files
def _value(var_type: Type, raw: Any, where: str):
    if raw is None or raw == '':
        return None
    try:
        if var_type is Type.BOOL:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ('1', 'true', 'yes', 'y', 't'):
                return True
            if text in ('0', 'false', 'no', 'n', 'f'):
                return False
            raise ValueError(f'expected true or false, found {raw!r}')
        if var_type is Type.TIME:
            return parse_now(raw)
        if var_type is Type.TEXT:
            return str(raw)
        return float(raw)
    except ValueError as e:
        raise ConfigurationError(f'{where}: {e}') from None


_DEFAULTS = {Type.BOOL: False, Type.TIME: 0, Type.NUMBER: 0, Type.SIZE: 0, Type.TEXT: '', Type.ENUM: 0}


class AttributeFile(AttributeProvider):
    """Per-dataset values from a file: JSON lines (one object per line) or CSV with a header.

    `columns` maps each variable to the column (JSON key) holding it; every row has a `dataset`
    column with the dataset name. Blank lines and lines starting with # are skipped. A dataset
    missing from the file gets the type's default (0 / the epoch, false, ""). Only variables whose
    column occurs in the file are provided. Times are UNIX seconds or ISO 8601 text.
    """

    def __init__(self, path, columns: Mapping[str, str], *, format: Optional[str] = None):
        self.path = Path(path)
        for name in columns:
            var = REPLICA_VARIABLES.get(name)
            if var is None or var.provider is None or var.level not in (Level.DATASET, Level.REPLICA):
                raise ConfigurationError(f'{self.path}: {name!r} is not a dataset attribute variable')
        fmt = (format or ('csv' if self.path.suffix.lower() == '.csv' else 'jsonl')).lower()
        if fmt not in ('csv', 'jsonl', 'json'):
            raise ConfigurationError(f'{self.path}: unknown format {format!r} (expected jsonl or csv)')
        try:
            rows = list(self._rows(fmt))
        except OSError as e:
            raise ConfigurationError(f'cannot read {self.path}: {e.strerror or e}') from None
        present = set()
        for _, row in rows:
            present.update(k for k, v in row.items() if v not in (None, ''))
        self._columns = {name: col for name, col in columns.items() if col in present}
        self.provides = tuple(sorted(self._columns))
        self._values: Dict[str, Dict[str, Any]] = {name: {} for name in self._columns}
        for where, row in rows:
            dataset = row.get('dataset')
            if not dataset:
                raise ConfigurationError(f'{where}: the row has no dataset')
            for name, col in self._columns.items():
                value = _value(REPLICA_VARIABLES[name].type, row.get(col), f'{where}: {col}')
                if value is not None:
                    self._values[name][dataset] = value

    def _rows(self, fmt):
        with open(self.path, newline='') as f:
            if fmt == 'csv':
                lines = (line for line in f if line.strip() and not line.lstrip().startswith('#'))
                for n, row in enumerate(csv.DictReader(lines), start=2):
                    yield f'{self.path}:{n}', {k.strip(): (v.strip() if isinstance(v, str) else v)
                                               for k, v in row.items() if k}
                return
            for n, line in enumerate(f, start=1):
                text = line.strip()
                if not text or text.startswith('#'):
                    continue
                try:
                    row = json.loads(text)
                except json.JSONDecodeError as e:
                    raise ConfigurationError(f'{self.path}:{n}: not JSON ({e.msg})') from None
                if not isinstance(row, dict):
                    raise ConfigurationError(f'{self.path}:{n}: expected a JSON object')
                yield f'{self.path}:{n}', row

    def getter(self, name: str) -> Callable:
        values = self._values[name]
        default = _DEFAULTS[REPLICA_VARIABLES[name].type]
        get = values.get
        if REPLICA_VARIABLES[name].level is Level.REPLICA:
            return lambda replica: get(replica.dataset.name, default)
        return lambda dataset: get(dataset.name, default)


POPULARITY_COLUMNS = {'dataset.last_access': 'last_access', 'replica.num_access': 'num_access',
                      'dataset.usage_rank': 'usage_rank', 'dataset.demand_rank': 'demand_rank'}


class PopularityFile(AttributeFile):
    """Popularity from a file with the columns dataset, last_access, num_access, usage_rank,
    demand_rank (any subset besides dataset); JSON lines or CSV (by the .csv suffix)."""

    def __init__(self, path, *, format: Optional[str] = None):
        super().__init__(path, POPULARITY_COLUMNS, format=format)


def _patterns(values: Iterable[str]) -> List[re.Pattern]:
    return [re.compile(fnmatch.translate(v)) for v in values]


def _any_match(patterns: Sequence[re.Pattern], name: str) -> bool:
    for p in patterns:
        if p.match(name):
            return True
    return False


class ProtectedSites(AttributeProvider):
    """dataset.on_protected_site: the dataset has a replica at a site matching one of the
    patterns (fnmatch), among the replicas of the cycle's image as it started (as the original);
    dataset.on_protected_site_all_sites: anywhere in the inventory."""
    provides = ('dataset.on_protected_site', 'dataset.on_protected_site_all_sites')

    def __init__(self, sites: Iterable[str]):
        self.sites = list(sites)
        self._patterns = _patterns(self.sites)
        self._scope: Scope = PLAIN
        self._site_memo: Dict[int, bool] = {}

    def begin(self, scope: Scope, now: float) -> None:
        self._scope = scope
        self._site_memo = {}

    def _protected(self, site) -> bool:
        key = id(site)
        value = self._site_memo.get(key)
        if value is None:
            value = self._site_memo[key] = _any_match(self._patterns, site.name)
        return value

    def getter(self, name: str) -> Callable:
        if name == 'dataset.on_protected_site':
            return lambda dataset: any(self._protected(r.site) for r in self._scope.initial_replicas(dataset))
        return lambda dataset: any(self._protected(r.site) for r in dataset.replicas)


class EnforcerProtection(AttributeProvider):
    """replica.enforcer_protected from enforcer rules: for every dataset matching a rule's dataset
    patterns, the replicas at sites matching its site patterns are protected when there are at
    most `num_copies` of them (so that Detox never undoes what the enforcer wants). Counted on
    the cycle's image as it started, as the original.

    rules: [{"datasets": [patterns], "sites": [patterns], "num_copies": N}, ...] (or a dict of
    such rules by name).
    """
    provides = ('replica.enforcer_protected',)

    def __init__(self, rules):
        if isinstance(rules, Mapping):
            rules = list(rules.values())
        self.rules = []
        for i, rule in enumerate(rules):
            try:
                self.rules.append((_patterns(rule['datasets']), _patterns(rule['sites']),
                                   int(rule['num_copies'])))
            except (KeyError, TypeError, ValueError) as e:
                raise ConfigurationError(f'enforcer rule {i + 1}: needs datasets, sites and num_copies ({e})') from None
        self._scope: Scope = PLAIN
        self._memo: Dict[int, frozenset] = {}

    def begin(self, scope: Scope, now: float) -> None:
        self._scope = scope
        self._memo = {}

    def _protected(self, dataset) -> frozenset:
        key = id(dataset)
        found = self._memo.get(key)
        if found is not None:
            return found
        protected = set()
        for dataset_patterns, site_patterns, num_copies in self.rules:
            if not _any_match(dataset_patterns, dataset.name):
                continue
            here = [r for r in self._scope.initial_replicas(dataset) if _any_match(site_patterns, r.site.name)]
            if len(here) <= num_copies:
                protected.update(id(r) for r in here)
        found = self._memo[key] = frozenset(protected)
        return found

    def getter(self, name: str) -> Callable:
        return lambda replica: id(replica) in self._protected(replica.dataset)


@dataclass(frozen=True)
class LockEntry:
    """A lock: `item` is a dataset name or dataset#block name (fnmatch patterns allowed); `site`
    and `group` patterns limit it (None: every site / owner); it holds until `expires` (UNIX time,
    None: for ever)."""
    item: str
    site: Optional[str] = None
    group: Optional[str] = None
    expires: Optional[float] = None


class LockList:
    """Answers is_locked for block replicas from lock entries (the lock store builds one from
    its rows). Entries without wildcards in the dataset part are found by name."""

    def __init__(self, entries: Iterable[LockEntry], now: Optional[float] = None):
        self.now = now
        self._exact: Dict[str, List] = {}
        self._wild: List = []
        for entry in entries:
            dataset, _, block = entry.item.partition('#')
            compiled = (_pattern_or_none(block or None), _pattern_or_none(entry.site),
                        _pattern_or_none(entry.group), entry.expires)
            if any(c in dataset for c in '*?['):
                self._wild.append((re.compile(fnmatch.translate(dataset)),) + compiled)
            else:
                self._exact.setdefault(dataset, []).append(compiled)
        self._memo: Dict[str, List] = {}

    def _entries(self, dataset_name: str) -> List:
        found = self._memo.get(dataset_name)
        if found is None:
            found = list(self._exact.get(dataset_name, ()))
            found += [e[1:] for e in self._wild if e[0].match(dataset_name)]
            self._memo[dataset_name] = found
        return found

    def is_locked(self, block_replica, owner=None, now: Optional[float] = None) -> bool:
        entries = self._entries(block_replica.block.dataset_name)
        if not entries:
            return False
        now = self.now if now is None else now
        group = owner if owner is not None else block_replica.group
        group_name = 'None' if group.name is None else group.name
        for block_p, site_p, group_p, expires in entries:
            if expires is not None and now is not None and expires <= now:
                continue
            if block_p is not None and not block_p.match(block_replica.block.name):
                continue
            if site_p is not None and not site_p.match(block_replica.site.name):
                continue
            if group_p is not None and not group_p.match(group_name):
                continue
            return True
        return False


def _pattern_or_none(text: Optional[str]):
    return None if text is None else re.compile(fnmatch.translate(text))


class Locks(AttributeProvider):
    """blockreplica.is_locked from a lock source: anything with is_locked(block_replica, owner,
    now) -> bool (a LockList, or the lock store's own class)."""
    provides = ('blockreplica.is_locked',)

    def __init__(self, source):
        self.source = source
        self._now: Optional[float] = None

    def begin(self, scope: Scope, now: float) -> None:
        self._now = now

    def getter(self, name: str) -> Callable:
        is_locked = self.source.is_locked
        return lambda br, owner: is_locked(br, owner, self._now)


class RelativeAge(AttributeProvider):
    """blockreplica.age_relative_to_newest: seconds between the newest block-replica last_update
    of the scope (the cycle's partition image) and this block replica's."""
    provides = ('blockreplica.age_relative_to_newest',)

    def __init__(self):
        self._latest: Optional[int] = None
        self._scope: Scope = PLAIN

    def begin(self, scope: Scope, now: float) -> None:
        self._scope = scope
        self._latest = None

    def getter(self, name: str) -> Callable:
        def age(br, owner):
            if self._latest is None:
                self._latest = self._scope.latest_update()
            return self._latest - br.last_update
        return age


def load_class(path: str):
    """The class at 'package.module:Class' or 'package.module.Class'."""
    module_name, sep, attr = path.partition(':')
    if not sep:
        module_name, _, attr = path.rpartition('.')
    if not module_name or not attr:
        raise ConfigurationError(f'{path!r} is not a class path (expected package.module:Class)')
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ConfigurationError(f'cannot import {module_name}: {e}') from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigurationError(f'module {module_name} has no {attr}') from None


def provider_from_config(entry: Mapping) -> AttributeProvider:
    """One provider from a configuration entry (see docs/policies.md, "Attribute providers")."""
    entry = dict(entry)
    kind = entry.pop('provider', None)
    try:
        if kind == 'popularity':
            return PopularityFile(entry['path'], format=entry.get('format'))
        if kind == 'attributes':
            return AttributeFile(entry['path'], entry['columns'], format=entry.get('format'))
        if kind == 'protected_sites':
            return ProtectedSites(entry['sites'])
        if kind == 'enforcer':
            return EnforcerProtection(entry['rules'])
        if kind == 'locks':
            entries = [LockEntry(e['item'], e.get('site'), e.get('group'),
                                 None if e.get('expires') is None else parse_now(e['expires']))
                       for e in entry.get('entries', ())]
            return Locks(LockList(entries))
        if kind == 'relative_age':
            return RelativeAge()
        if kind == 'python':
            cls = load_class(entry['class'])
            config = entry.get('config')
            provider = cls(config) if config is not None else cls()
            if not hasattr(provider, 'provides') or not hasattr(provider, 'getter'):
                raise ConfigurationError(f'{entry["class"]} is not an attribute provider '
                                         f'(it needs provides and getter())')
            if not hasattr(provider, 'begin'):
                provider.begin = lambda scope, now: None
            return provider
    except KeyError as e:
        raise ConfigurationError(f'provider {kind!r}: missing {e.args[0]!r}') from None
    raise ConfigurationError(f'unknown provider {kind!r} (expected popularity, attributes, '
                             f'protected_sites, enforcer, locks, relative_age or python)')


def providers_from_config(entries: Iterable[Mapping]) -> Providers:
    return Providers(provider_from_config(e) for e in entries)
