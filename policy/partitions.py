"""The partition definitions file: `Name: condition` or `Name: [Sub1, Sub2]` per line.

Gives ordered definitions with conditions compiled over block replicas (as
inventory.objects.Condition); loading them into an inventory is the write path's business.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Optional, Tuple

from inventory.objects import Condition

from .compiler import compile_condition
from .errors import PolicyError

_NAME = re.compile(r'\s*([A-Za-z0-9_][A-Za-z0-9_.\-]*)\s*:')
_SUB = re.compile(r'[A-Za-z0-9_][A-Za-z0-9_.\-]*')


@dataclass(frozen=True)
class PartitionDefinition:
    name: str
    condition: Optional[Condition]            # None for a superpartition
    subpartitions: Optional[Tuple[str, ...]]  # None for an ordinary partition
    line: int
    text: str                                 # the definition as written after the colon


def parse_partitions(text: str, filename: str = '<partitions>', *, now: Optional[float] = None
                     ) -> List[PartitionDefinition]:
    """The definitions of a partitions file, every subpartition before the superpartitions that
    use it (file order otherwise). Blank lines and lines starting with # are skipped.
    Raises PolicyError (file, line, column) on a syntax error, a duplicate or unknown name, or
    a cycle of superpartitions."""
    definitions: List[PartitionDefinition] = []
    where = {}
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith('#'):
            continue
        m = _NAME.match(line)
        if m is None:
            col = len(line) - len(line.lstrip())
            raise PolicyError("expected 'Name: condition' or 'Name: [Sub1, Sub2]'", filename=filename,
                              line=number, column=col + 1, source_line=line)
        name = m.group(1)
        if name in where:
            raise PolicyError(f'partition {name} is already defined on line {where[name]}', filename=filename,
                              line=number, column=m.start(1) + 1, source_line=line)
        where[name] = number
        body_start = m.end()
        body = line[body_start:]
        body_offset = body_start + len(body) - len(body.lstrip())
        body = body.strip()
        if not body:
            raise PolicyError(f'expected a condition or a list of subpartitions after {name}:',
                              filename=filename, line=number, column=len(line.rstrip()) + 2, source_line=line)
        if body.startswith('['):
            if not body.endswith(']'):
                raise PolicyError("expected ']' at the end of the list of subpartitions", filename=filename,
                                  line=number, column=len(line.rstrip()) + 1, source_line=line)
            inner = body[1:-1]
            names = []
            for part in re.split(r'[,\s]+', inner.strip()):
                if not part:
                    continue
                if not _SUB.fullmatch(part):
                    col = line.index(part, body_offset) + 1
                    raise PolicyError(f'{part!r} is not a partition name', filename=filename, line=number,
                                      column=col, source_line=line)
                names.append(part)
            if not names:
                raise PolicyError('a superpartition needs at least one subpartition', filename=filename,
                                  line=number, column=body_offset + 2, source_line=line)
            definitions.append(PartitionDefinition(name, None, tuple(names), number, body))
        else:
            compiled = compile_condition(body, 'blockreplica', now=now,
                                         source=(filename, number, body_offset, line))
            definitions.append(PartitionDefinition(name, compiled.to_condition(), None, number, body))
    by_name = {d.name: d for d in definitions}
    for d in definitions:
        for sub in d.subpartitions or ():
            if sub not in by_name:
                line = lines[d.line - 1]
                raise PolicyError(f'unknown subpartition {sub!r} of {d.name}', filename=filename, line=d.line,
                                  column=line.index(sub, line.index(':')) + 1, source_line=line)
            if sub == d.name:
                raise PolicyError(f'{d.name} cannot contain itself', filename=filename, line=d.line,
                                  column=1, source_line=lines[d.line - 1])
    return _subs_first(definitions, by_name, filename, lines)


def _subs_first(definitions, by_name, filename, lines):
    ordered: List[PartitionDefinition] = []
    state = {}   # name -> 1 while being placed, 2 once placed

    def place(d: PartitionDefinition, chain):
        mark = state.get(d.name)
        if mark == 2:
            return
        if mark == 1:
            raise PolicyError(f'superpartitions form a cycle: {" -> ".join(chain + [d.name])}', filename=filename,
                              line=d.line, column=1, source_line=lines[d.line - 1])
        state[d.name] = 1
        for sub in d.subpartitions or ():
            place(by_name[sub], chain + [d.name])
        state[d.name] = 2
        ordered.append(d)

    for d in definitions:
        place(d, [])
    return ordered
