"""Errors of the condition language: where in which file, the line with a caret, what was expected.

Pure Python. Nothing here knows the grammar; the parser and the policy-file readers raise these.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Iterable, Optional


@dataclass(frozen=True)
class Source:
    """Where a condition text comes from: file name, 1-based line, the column (0-based) of the
    condition's first character in that line, and the whole line (for the caret display)."""
    filename: str = '<condition>'
    line: int = 1
    column_offset: int = 0
    line_text: Optional[str] = None

    @classmethod
    def of(cls, value) -> 'Source':
        if value is None:
            return cls()
        if isinstance(value, Source):
            return value
        return cls(*value)


class PolicyError(Exception):
    """A syntax, type or configuration error in a condition, a policy file or a partitions file.

    str() gives `file:line:column: message`, then the line and a caret under the column.
    """

    def __init__(self, message: str, *, filename: str = '<condition>', line: int = 1, column: int = 1,
                 source_line: str = ''):
        super().__init__(message)
        self.message = message
        self.filename = filename
        self.line = line
        self.column = column
        self.source_line = source_line

    @classmethod
    def at(cls, message: str, source: Source, text: str, index: int) -> 'PolicyError':
        """An error at character `index` of the condition `text` that came from `source`."""
        line_text = source.line_text if source.line_text is not None else \
            ' ' * source.column_offset + text
        return cls(message, filename=source.filename, line=source.line,
                   column=source.column_offset + index + 1, source_line=line_text)

    def __str__(self) -> str:
        head = f'{self.filename}:{self.line}:{self.column}: {self.message}'
        if not self.source_line:
            return head
        line = self.source_line.rstrip('\n').expandtabs(1)
        return f'{head}\n    {line}\n    {" " * (self.column - 1)}^'


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """' (did you mean X?)' for the closest candidate, or ''."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f' (did you mean {close[0]}?)' if close else ''
