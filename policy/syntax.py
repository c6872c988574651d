"""The typed syntax tree of a condition: predicates with checked right-hand sides, not/and/or.

The parser builds it, the compiler turns it into callables; nothing here evaluates anything.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, List, Tuple, Union

from .variables import Variable

# operators after parsing: older_than is '<', newer_than is '>'; 'is' / 'isnot' are the bare
# boolean forms `VAR` and `not VAR`
OPERATORS = ('==', '!=', '=~', '!=~', '<', '<=', '>', '>=', 'in', 'notin', 'is', 'isnot')


@dataclass(frozen=True)
class Pattern:
    """A text right-hand side that is a pattern (fnmatch translated, or a regex for =~)."""
    regex: re.Pattern
    text: str


@dataclass(frozen=True)
class Predicate:
    variable: Variable
    op: str
    # a number, a text, a Pattern, a bool (== true), or for in/notin a tuple of those
    rhs: Any
    rhs_text: str
    position: int        # index of the variable name in the condition text


@dataclass(frozen=True)
class Not:
    operand: 'Node'
    position: int


@dataclass(frozen=True)
class And:
    operands: Tuple['Node', ...]


@dataclass(frozen=True)
class Or:
    operands: Tuple['Node', ...]


Node = Union[Predicate, Not, And, Or]


def predicates(node: Node) -> List[Predicate]:
    """The predicates of a tree, left to right."""
    if isinstance(node, Predicate):
        return [node]
    if isinstance(node, Not):
        return predicates(node.operand)
    result = []
    for operand in node.operands:
        result.extend(predicates(operand))
    return result
