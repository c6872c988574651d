"""The Detox policy file (the original's grammar, a strict superset): text -> Policy.

One directive per line (`#` comments, blank lines): Partition, On, When, Until, the policy lines
Protect/Delete/Dismiss/Ignore [condition] and ProtectBlock/DeleteBlock/DismissBlock condition, a
bare default decision, Order, Algo. Pure: reads no file and no inventory.
"""
from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from policy import PolicyError, Providers, compile_condition, variable_getter
from policy.compiler import CompiledCondition, VariableRef
from policy.errors import did_you_mean
from policy.variables import REPLICA_VARIABLES, Level

_DIRECTIVES = {
    'partition': 'Partition', 'on': 'On', 'when': 'When', 'until': 'Until', 'order': 'Order', 'algo': 'Algo',
    'protect': 'Protect', 'delete': 'Delete', 'dismiss': 'Dismiss', 'ignore': 'Ignore',
    'protectblock': 'ProtectBlock', 'deleteblock': 'DeleteBlock', 'dismissblock': 'DismissBlock',
}
_WORD = re.compile(r'\S+')


@dataclass(frozen=True)
class PolicyLine:
    number: int                  # line number in the file (1-based)
    text: str                    # the line as written, stripped
    action: str                  # protect | delete | dismiss | ignore
    block_level: bool
    condition: Optional[CompiledCondition]   # None for the default decision

    @property
    def is_default(self) -> bool:
        return self.condition is None


@dataclass(frozen=True)
class OrderKey:
    variable: str
    decreasing: bool
    ref: VariableRef


@dataclass
class Policy:
    filename: str
    text: str
    partition: str
    on: List[CompiledCondition]
    when: List[CompiledCondition]
    until: List[CompiledCondition]
    lines: List[PolicyLine]          # the conditional policy lines, in file order
    default: PolicyLine
    order: List[OrderKey]
    static: bool
    now: float
    providers: Providers
    warnings: List[str] = field(default_factory=list)
    unprovided: List[str] = field(default_factory=list)   # check mode: variables nobody provides

    @property
    def version(self) -> str:
        """md5 of the text (the original stored policies deduplicated by it)."""
        return hashlib.md5(self.text.encode()).hexdigest()

    @property
    def variables(self) -> List[str]:
        """Every variable the policy reads (conditions and Order), sorted."""
        names = {k.variable for k in self.order}
        for condition in self.on + self.when + self.until + [line.condition for line in self.lines]:
            names.update(v.name for v in condition.variables)
        return sorted(names)

    @property
    def provider_variables(self) -> List[str]:
        return [n for n in self.variables if n in REPLICA_VARIABLES and REPLICA_VARIABLES[n].provider]

    @property
    def uses_image(self) -> bool:
        """Some line reads the other copies (its decisions change as the cycle deletes)."""
        return any(line.condition.uses_image for line in self.lines) or \
            any(REPLICA_VARIABLES[k.variable].image for k in self.order)

    def sort_key(self, subject) -> Tuple:
        key = []
        for k in self.order:
            value = k.ref.get(subject)
            key.append(-value if k.decreasing else value)
        return tuple(key)


def parse(text: str, filename: str = '<policy>', *, providers: Optional[Providers] = None,
          now: Optional[float] = None, check: bool = False) -> Policy:
    """Parse a policy file. `now` anchors relative times; `check=True` lists variables that no
    configured provider supplies in `unprovided` (and warnings) instead of raising.
    Raises PolicyError with file, line and column."""
    providers = Providers() if providers is None else providers
    now = time.time() if now is None else float(now)
    reader = _Reader(text, filename, providers, now, check)
    return reader.read()


class _Reader:
    def __init__(self, text, filename, providers, now, check):
        self.text = text
        self.filename = filename
        self.providers = providers
        self.now = now
        self.check = check
        self.warnings: List[str] = []

    def error(self, message, number, line, column):
        return PolicyError(message, filename=self.filename, line=number, column=column + 1, source_line=line)

    def condition(self, line, number, start, context):
        body = line[start:]
        compiled = compile_condition(body, context, providers=self.providers, now=self.now, check=self.check,
                                     source=(self.filename, number, start, line))
        self.warnings.extend(compiled.warnings)
        return compiled

    def read(self) -> Policy:
        partition = None
        on, when, until, lines, order = [], [], [], [], None
        default = None
        static = False
        last_number = 0
        for number, line in enumerate(self.text.splitlines(), start=1):
            last_number = number
            stripped = line.strip()
            if not stripped or stripped.startswith('#'):
                continue
            first = _WORD.search(line)
            word, word_start = first.group(0), first.start()
            directive = _DIRECTIVES.get(word.lower())
            if directive is None:
                raise self.error(f'unknown directive {word!r}{did_you_mean(word, _DIRECTIVES.values())} '
                                 f'(expected Partition, On, When, Until, Protect, Delete, Dismiss, Ignore, '
                                 f'ProtectBlock, DeleteBlock, DismissBlock, Order or Algo)', number, line, word_start)
            rest = _WORD.search(line, first.end())
            start = rest.start() if rest else len(line)
            where = f'{self.filename}:{number}'
            if directive == 'Partition':
                words = line[start:].split()
                if not words:
                    raise self.error('expected a partition name after Partition', number, line, start)
                if partition is not None:
                    self.warnings.append(f'{where}: a second Partition line; {words[0]} replaces {partition}')
                if len(words) > 1:
                    self.warnings.append(f'{where}: words after the partition name are ignored')
                partition = words[0]
            elif directive in ('On', 'When', 'Until'):
                if rest is None:
                    raise self.error(f'expected a site condition after {directive}', number, line, start)
                {'On': on, 'When': when, 'Until': until}[directive].append(
                    self.condition(line, number, start, 'site'))
            elif directive == 'Order':
                if order is not None:
                    self.warnings.append(f'{where}: a second Order line replaces the first')
                order = self.order(line, number, start)
            elif directive == 'Algo':
                words = line[start:].split()
                choice = words[0].lower() if words else ''
                if choice == 'static':
                    static = True
                elif choice == 'iterative':
                    static = False
                else:
                    self.warnings.append(f'{where}: Algo {" ".join(words)!r} is not Static or Iterative; ignored')
            else:
                block_level = directive.endswith('Block')
                action = directive[:-5].lower() if block_level else directive.lower()
                if rest is None:
                    if block_level:
                        raise self.error(f'{directive} needs a condition; a default decision is Protect, '
                                         f'Delete, Dismiss or Ignore', number, line, start)
                    if default is not None:
                        self.warnings.append(f'{where}: a second default decision; {directive} replaces '
                                             f'the one on line {default.number}')
                    default = PolicyLine(number, stripped, action, False, None)
                    continue
                condition = self.condition(line, number, start, 'replica')
                lines.append(PolicyLine(number, stripped, action, block_level, condition))
        end = (self.filename, max(last_number, 1))
        for present, what in ((partition, 'Partition line'), (on, 'On line (the target sites)'),
                              (when, 'When line (the deletion trigger)'), (until, 'Until line (the stop condition)'),
                              (default, 'default decision (a bare Protect, Delete, Dismiss or Ignore)')):
            if not present:
                raise PolicyError(f'the policy has no {what}', filename=end[0], line=end[1], column=1)
        if order is None:
            self.warnings.append(f'{self.filename}: no Order line: candidates are deleted by dataset name')
            order = []
        unprovided = sorted({name for c in on + when + until + [l.condition for l in lines] for name in c.unprovided}
                            | {k.variable for k in order
                               if REPLICA_VARIABLES[k.variable].provider and k.variable not in self.providers})
        for name in unprovided:
            self.warnings.append(f'{self.filename}: {name} has no attribute provider configured')
        return Policy(self.filename, self.text, partition, on, when, until, lines, default, order, static,
                      self.now, self.providers, self.warnings, unprovided)

    def order(self, line, number, start) -> List[OrderKey]:
        words = list(_WORD.finditer(line, start))
        if not words:
            raise self.error('expected increasing VAR, decreasing VAR ... or none after Order', number, line, start)
        if words[0].group(0).lower() == 'none':
            return []
        keys = []
        i = 0
        while i < len(words):
            direction = words[i].group(0).lower()
            if direction not in ('increasing', 'decreasing'):
                raise self.error(f'expected increasing or decreasing, found {words[i].group(0)!r}',
                                 number, line, words[i].start())
            if i + 1 >= len(words):
                raise self.error(f'expected a variable after {direction}', number, line, len(line.rstrip()) + 1)
            name_match = words[i + 1]
            name = name_match.group(0)
            var = REPLICA_VARIABLES.get(name)
            if var is None:
                raise self.error(f'unknown variable {name!r}{did_you_mean(name, REPLICA_VARIABLES)}',
                                 number, line, name_match.start())
            if var.level is Level.BLOCK:
                raise self.error(f'{name} has one value per block; Order takes dataset and replica variables',
                                 number, line, name_match.start())
            if not var.type.ordered:
                raise self.error(f'{name} is {var.type.value}; Order takes numbers, sizes and times',
                                 number, line, name_match.start())
            if var.provider and name not in self.providers and not self.check:
                raise self.error(f'{name} needs an attribute provider; none is configured', number, line,
                                 name_match.start())
            keys.append(OrderKey(name, direction == 'decreasing',
                                 variable_getter(name, providers=self.providers, check=True)))
            i += 2
        return keys
