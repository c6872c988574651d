"""Syntax tree -> Python callables, once per condition; the public compile_condition().

A replica condition compiles to `match(subject)` (a block-replica variable means "any of the
subject's block replicas") and `block_match(block_replica, subject)` (per block, for block-level
policy lines); a block-replica condition (partitions) to `match(block_replica)`; a site condition
to `match(site_partition)`. Nothing is ever evaluated from text (no eval).
"""
from __future__ import annotations

import operator
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from inventory.objects import Condition

from .errors import PolicyError, Source
from .parser import parse
from .providers import NO_PROVIDERS, Providers
from .subjects import subject_of_block_replica
from .syntax import And, Node, Not, Pattern, Predicate, predicates
from .variables import Level, Type, Variable, raw_getter, table

_CMP = {'==': operator.eq, '!=': operator.ne, '<': operator.lt, '<=': operator.le,
        '>': operator.gt, '>=': operator.ge}


@dataclass(frozen=True)
class VariableRef:
    """A variable a condition reads, with the getters bound for its context (for --explain)."""
    name: str
    variable: Variable
    context: str
    get: Callable            # replica: g(subject) or g(br, subject) for block level; site: g(sp)
    raw: Optional[Callable]  # on a bare block replica

    @property
    def block_level(self) -> bool:
        return self.variable.level is Level.BLOCK

    def value(self, subject):
        """Its value on the subject; a block-level variable on a dataset replica gives
        {block name: value} over the block replicas the subject sees."""
        if self.context == 'site':
            return self.get(subject)
        if self.context == 'blockreplica':
            return self.raw(subject)
        if self.block_level:
            return {br.block.name: self.get(br, subject) for br in subject.block_replicas}
        return self.get(subject)


class CompiledCondition:
    """A compiled condition. `match` is the predicate of its context; `variables` lists what it
    reads; `matching_blocks(subject)` gives the block replicas a block-level line covers."""

    def __init__(self, text: str, context: str, tree: Node, variables: Tuple[VariableRef, ...],
                 match: Callable, block_match: Optional[Callable], invariant: Optional[Callable],
                 block_part: Optional[Callable], warnings: List[str], unprovided: Tuple[str, ...],
                 source: Source):
        self.text = text
        self.context = context
        self.tree = tree
        self.variables = variables
        self.match = match
        self.predicate = match
        self.block_match = block_match
        self._invariant = invariant
        self._block_part = block_part
        self.warnings = warnings
        self.unprovided = unprovided
        self.source = source
        self.uses_block_variables = any(v.block_level for v in variables)
        self.uses_image = any(v.variable.image for v in variables)

    def matching_blocks(self, subject) -> list:
        """The subject's block replicas for which the whole condition holds (block by block)."""
        invariant = self._invariant
        if invariant is not None and not invariant(subject):
            return []
        part = self._block_part
        if part is None:
            return list(subject.block_replicas)
        return [br for br in subject.block_replicas if part(br, subject)]

    def to_condition(self) -> Condition:
        """As an inventory.objects.Condition (partition definitions: blockreplica context)."""
        if self.context != 'blockreplica':
            raise ValueError(f'only a blockreplica condition is a partition condition, not {self.context}')
        return Condition(self.text, self.match)

    def __repr__(self):
        return f'CompiledCondition({self.text!r}, {self.context!r})'


def compile_condition(text: str, context: str = 'replica', *, providers: Optional[Providers] = None,
                      now: Optional[float] = None, source=None, check: bool = False) -> CompiledCondition:
    """Compile a condition of `context` ('replica', 'blockreplica' or 'site').

    `now` (UNIX seconds, default the clock) anchors relative times such as '90 days ago'.
    `source` = (filename, line, column_offset[, line_text]) places errors in a file. A variable
    whose attribute provider is not configured is an error; with check=True it is listed in
    `unprovided` instead (evaluating it then raises). Raises PolicyError.
    """
    source = Source.of(source)
    providers = NO_PROVIDERS if providers is None else providers
    now = time.time() if now is None else float(now)
    tree, warnings = parse(text, table(context), source=source, now=now, context=context)
    refs: Dict[str, VariableRef] = {}
    unprovided: List[str] = []
    for pred in predicates(tree):
        var = pred.variable
        if var.name in refs:
            continue
        if var.provider is not None and var.name not in providers:
            if not check:
                raise PolicyError.at(f'{var.name} needs an attribute provider ({_PROVIDER_HINT[var.provider]}); '
                                     f'none is configured', source, text, pred.position)
            unprovided.append(var.name)
        refs[var.name] = _bind(var, context, providers)
    builder = _Builder(refs, context)
    if context == 'site':
        match = builder.build(tree, 'site')
        return CompiledCondition(text, context, tree, tuple(refs.values()), match, None, None, None,
                                 warnings, tuple(unprovided), source)
    if context == 'blockreplica':
        match = builder.build(tree, 'raw')
        return CompiledCondition(text, context, tree, tuple(refs.values()), match, None, None, None,
                                 warnings, tuple(unprovided), source)
    match = builder.build(tree, 'any')
    block_match = builder.build(tree, 'block')
    # a top-level conjunction splits into what is the same for every block and what is not,
    # so that a block-level line reads the replica-wide predicates once per replica
    parts = tree.operands if isinstance(tree, And) else (tree,)
    fixed = [p for p in parts if not _reads_blocks(p)]
    varying = [p for p in parts if _reads_blocks(p)]
    invariant = builder.build(_conj(fixed), 'any') if fixed else None
    block_part = builder.build(_conj(varying), 'block') if varying else None
    return CompiledCondition(text, context, tree, tuple(refs.values()), match, block_match, invariant,
                             block_part, warnings, tuple(unprovided), source)


_PROVIDER_HINT = {
    'popularity': 'popularity: a popularity file or class',
    'locks': 'locks: the lock store or a lock list',
    'protected_sites': 'protected_sites: a list of site patterns',
    'enforcer': 'enforcer: enforcer rules',
    'dataset': 'attributes: a dataset attribute file or class',
    'relative_age': 'relative_age',
}


def variable_getter(name: str, *, providers: Optional[Providers] = None, check: bool = False) -> VariableRef:
    """The bound replica-context variable `name` (for Order keys). Raises KeyError if unknown."""
    providers = NO_PROVIDERS if providers is None else providers
    var = table('replica')[name]
    if var.provider is not None and name not in providers and not check:
        raise PolicyError(f'{name} needs an attribute provider ({_PROVIDER_HINT[var.provider]}); none is configured')
    return _bind(var, 'replica', providers)


def _conj(nodes: Sequence[Node]) -> Node:
    return nodes[0] if len(nodes) == 1 else And(tuple(nodes))


def _reads_blocks(node: Node) -> bool:
    return any(p.variable.level is Level.BLOCK for p in predicates(node))


def _bind(var: Variable, context: str, providers: Providers) -> VariableRef:
    if var.provider is None:
        get = var.get
        raw = raw_getter(var, get) if context != 'site' else None
        return VariableRef(var.name, var, context, get, raw)
    if var.name not in providers:
        def missing(*args, _name=var.name):
            raise PolicyError(f'{_name} is not provided (configure its attribute provider)')
        return VariableRef(var.name, var, context, missing, missing)
    pg = providers.getter(var.name)
    if var.level is Level.DATASET:
        return VariableRef(var.name, var, context, lambda s: pg(s.dataset), lambda br: pg(br._block._dataset))
    if var.level is Level.REPLICA:
        return VariableRef(var.name, var, context, lambda s: pg(s.replica),
                           lambda br: pg(subject_of_block_replica(br).replica))
    return VariableRef(var.name, var, context, lambda br, s: pg(br, s.scope.owner(br)),
                       lambda br: pg(br, br.group))


class _Builder:
    """Closures for one condition. Modes: 'any' f(subject), 'block' f(br, subject), 'raw' f(br),
    'site' f(site_partition)."""

    def __init__(self, refs: Dict[str, VariableRef], context: str):
        self.refs = refs
        self.context = context

    def build(self, node: Node, mode: str) -> Callable:
        two = mode == 'block'
        if isinstance(node, Predicate):
            return self.predicate(node, mode)
        if isinstance(node, Not):
            f = self.build(node.operand, mode)
            return (lambda br, s: not f(br, s)) if two else (lambda x: not f(x))
        fns = [self.build(op, mode) for op in node.operands]
        if isinstance(node, And):
            return _all2(fns) if two else _all1(fns)
        return _any2(fns) if two else _any1(fns)

    def predicate(self, pred: Predicate, mode: str) -> Callable:
        ref = self.refs[pred.variable.name]
        test, cmp, rhs = _test(pred)
        block = pred.variable.level is Level.BLOCK
        if mode == 'site':
            return _scalar(ref.get, pred.op, test, cmp, rhs)
        if mode == 'raw':
            return _scalar(ref.raw, pred.op, test, cmp, rhs)
        if mode == 'block':
            g = ref.get
            if block:
                if pred.op == 'is':
                    return g        # (a boolean getter is its own test: one call less per block)
                if cmp is not None:
                    return lambda br, s: cmp(g(br, s), rhs)
                return lambda br, s: test(g(br, s))
            f = _scalar(g, pred.op, test, cmp, rhs)
            return lambda br, s: f(s)
        if not block:
            return _scalar(ref.get, pred.op, test, cmp, rhs)
        g = ref.get
        if cmp is not None:
            def any_block(s):
                for br in s.block_replicas:
                    if cmp(g(br, s), rhs):
                        return True
                return False
        else:
            def any_block(s):
                for br in s.block_replicas:
                    if test(g(br, s)):
                        return True
                return False
        return any_block


def _scalar(g: Callable, op: str, test, cmp, rhs) -> Callable:
    if op == 'is':
        return lambda x: bool(g(x))
    if op == 'isnot':
        return lambda x: not g(x)
    if cmp is not None:
        return lambda x: cmp(g(x), rhs)
    return lambda x: test(g(x))


def _test(pred: Predicate):
    """(test(value) -> bool, comparison operator or None, right-hand side)."""
    op, rhs = pred.op, pred.rhs
    if op == 'is':
        return bool, None, None
    if op == 'isnot':
        return operator.not_, None, None
    if op in ('=~', '!=~'):
        m = rhs.regex.match
        return ((lambda v: m(v) is not None) if op == '=~' else (lambda v: m(v) is None)), None, None
    if op in ('in', 'notin'):
        literals = frozenset(v for v in rhs if not isinstance(v, Pattern))
        patterns = tuple(v.regex.match for v in rhs if isinstance(v, Pattern))

        def member(v):
            if v in literals:
                return True
            for m in patterns:
                if m(v) is not None:
                    return True
            return False
        return (member if op == 'in' else (lambda v: not member(v))), None, None
    if isinstance(rhs, Pattern):
        m = rhs.regex.match
        if op == '==':
            return (lambda v: m(v) is not None), None, None
        if op == '!=':
            return (lambda v: m(v) is None), None, None
        raise PolicyError(f'{op} does not take a pattern')
    if pred.variable.type is Type.BOOL:
        want = bool(rhs) if op == '==' else not rhs
        return (lambda v: bool(v) is want), None, None
    return None, _CMP[op], rhs


def _all1(fns):
    if len(fns) == 2:
        a, b = fns
        return lambda x: a(x) and b(x)
    if len(fns) == 3:
        a, b, c = fns
        return lambda x: a(x) and b(x) and c(x)

    def all_(x):
        for f in fns:
            if not f(x):
                return False
        return True
    return all_


def _any1(fns):
    if len(fns) == 2:
        a, b = fns
        return lambda x: a(x) or b(x)

    def any_(x):
        for f in fns:
            if f(x):
                return True
        return False
    return any_


def _all2(fns):
    if len(fns) == 2:
        a, b = fns
        return lambda br, s: a(br, s) and b(br, s)

    def all_(br, s):
        for f in fns:
            if not f(br, s):
                return False
        return True
    return all_


def _any2(fns):
    if len(fns) == 2:
        a, b = fns
        return lambda br, s: a(br, s) or b(br, s)

    def any_(br, s):
        for f in fns:
            if f(br, s):
                return True
        return False
    return any_
