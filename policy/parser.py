"""The condition parser: text -> typed syntax tree, with errors that point at the column.

    condition := or ;  or := and ('or' and)* ;  and := unary ('and' unary)*
    unary     := 'not' unary | '(' or ')' | VAR [OP RHS]

The right-hand side is read according to the variable's type (a text value runs to the next
`and`/`or` and may hold spaces; unmatched closing parentheses at its end close groups). Parsing
never evaluates anything and never runs outside programs.
"""
from __future__ import annotations

import fnmatch
import re
from typing import List, Optional

from . import units
from .errors import PolicyError, Source, did_you_mean
from .syntax import And, Node, Not, Or, Pattern, Predicate
from .variables import Type, Variable

_IDENT = re.compile(r'[A-Za-z_][A-Za-z0-9_.]*')
_WORD = re.compile(r'\S+')
_SYMBOLS = ('!=~', '==', '!=', '=~', '<=', '>=', '<', '>')
_WORD_OPS = {'older_than': '<', 'newer_than': '>', 'in': 'in', 'notin': 'notin'}
_KEYWORDS = ('and', 'or', 'not')
OPERATOR_LIST = '==, !=, =~, !=~, <, <=, >, >=, older_than, newer_than, in, notin'
_RELATIVE = re.compile(r'^\+?\d+(\.\d+)?\s*[A-Za-z]')
_TRUE = ('true', 'yes', '1')
_FALSE = ('false', 'no', '0')


class Parser:
    def __init__(self, text: str, table, *, source: Source, now: float, context: str):
        self.text = text
        self.table = table
        self.source = source
        self.now = now
        self.context = context
        self.pos = 0
        self.depth = 0
        self.warnings: List[str] = []

    # ------------------------------------------------------------------ helpers
    def error(self, message: str, index: Optional[int] = None) -> PolicyError:
        return PolicyError.at(message, self.source, self.text, self.pos if index is None else index)

    def skip_ws(self) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos].isspace():
            pos += 1
        self.pos = pos

    def at_end(self) -> bool:
        self.skip_ws()
        return self.pos >= len(self.text)

    def keyword(self, word: str) -> bool:
        """Consume `word` if it comes next as a whole word."""
        self.skip_ws()
        end = self.pos + len(word)
        if self.text[self.pos:end] != word:
            return False
        if end < len(self.text) and not (self.text[end].isspace() or self.text[end] == '('):
            return False
        self.pos = end
        return True

    def found(self) -> str:
        self.skip_ws()
        if self.pos >= len(self.text):
            return 'the end of the condition'
        m = _WORD.match(self.text, self.pos)
        return repr(m.group(0)[:40])

    # ------------------------------------------------------------------ grammar
    def parse(self) -> Node:
        if self.at_end():
            raise self.error('expected a condition, found nothing')
        node = self.parse_or()
        self.skip_ws()
        if self.pos < len(self.text):
            if self.text[self.pos] == ')':
                raise self.error("unmatched ')'")
            raise self.error(f"expected 'and', 'or' or the end of the condition, found {self.found()}")
        return node

    def parse_or(self) -> Node:
        items = [self.parse_and()]
        while self.keyword('or'):
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def parse_and(self) -> Node:
        items = [self.parse_unary()]
        while self.keyword('and'):
            items.append(self.parse_unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def parse_unary(self) -> Node:
        self.skip_ws()
        start = self.pos
        if self.pos < len(self.text) and self.text[self.pos] == '(':
            self.pos += 1
            self.depth += 1
            node = self.parse_or()
            self.skip_ws()
            if self.pos >= len(self.text) or self.text[self.pos] != ')':
                raise self.error(f"expected ')' to close the '(' at column "
                                 f"{self.source.column_offset + start + 1}, found {self.found()}")
            self.pos += 1
            self.depth -= 1
            return node
        if self.keyword('not'):
            self.skip_ws()
            if self.pos < len(self.text) and self.text[self.pos] != '(':
                # `not VAR`: the original's form, which on a list of block values means "any is false"
                var_start = self.pos
                var = self.variable()
                if var.type is Type.BOOL and self.ends_predicate():
                    return Predicate(var, 'isnot', None, '', var_start)
                return Not(self.predicate_after(var, var_start), start)
            return Not(self.parse_unary(), start)
        var_start = self.pos
        var = self.variable()
        return self.predicate_after(var, var_start)

    def ends_predicate(self) -> bool:
        self.skip_ws()
        if self.pos >= len(self.text) or self.text[self.pos] == ')':
            return True
        save = self.pos
        for word in ('and', 'or'):
            if self.keyword(word):
                self.pos = save
                return True
        return False

    def variable(self) -> Variable:
        self.skip_ws()
        m = _IDENT.match(self.text, self.pos)
        if m is None:
            raise self.error(f'expected a variable name, found {self.found()}')
        name = m.group(0)
        if name in _KEYWORDS:
            raise self.error(f"expected a variable name, found {name!r}")
        var = self.table.get(name)
        if var is None:
            hint = did_you_mean(name, self.table)
            if not hint:
                where = 'site' if self.context == 'site' else 'replica'
                hint = f' (see the {where} variables in docs/policies.md)'
            raise self.error(f'unknown variable {name!r}{hint}')
        self.pos = m.end()
        return var

    def operator(self) -> Optional[str]:
        self.skip_ws()
        text, pos = self.text, self.pos
        for symbol in _SYMBOLS:
            if text.startswith(symbol, pos):
                self.pos = pos + len(symbol)
                return symbol
        m = _IDENT.match(text, pos)
        if m is not None and m.group(0) in _WORD_OPS:
            end = m.end()
            if end == len(text) or text[end].isspace() or text[end] == '[':
                self.pos = end
                return _WORD_OPS[m.group(0)]
        return None

    def predicate_after(self, var: Variable, var_start: int) -> Predicate:
        if self.ends_predicate():
            if var.type is not Type.BOOL:
                raise self.error(f'expected an operator after {var.name} ({OPERATOR_LIST}); '
                                 f'only a boolean variable stands alone ({var.name} is {var.type.value})')
            return Predicate(var, 'is', None, '', var_start)
        op_start = self.pos
        op = self.operator()
        if op is None:
            raise self.error(f'expected an operator ({OPERATOR_LIST}), found {self.found()}')
        self.check_operator(var, op, op_start)
        self.skip_ws()
        rhs_start = self.pos
        if op in ('in', 'notin'):
            values, text = self.list_rhs(var, op)
            return Predicate(var, op, values, text, var_start)
        text = self.scalar_rhs_text()
        if self.depth == 0 and text.endswith(')') and _paren_balance(text) < 0 and var.type is not Type.TEXT:
            raise self.error("unmatched ')'", rhs_start + len(text) - 1)
        if not text:
            raise self.error(f'expected a value after {self.text[op_start:rhs_start].strip()!r}', rhs_start)
        try:
            value = self.value(var, op, text, rhs_start)
        except PolicyError:
            self.missing_connective(var, op, text, rhs_start)
            raise
        return Predicate(var, op, value, text, var_start)

    def missing_connective(self, var: Variable, op: str, text: str, at: int) -> None:
        """A value followed by something that is not and/or ('replica.size > 1 replica.size < 3'):
        say so at the leftover instead of calling the whole rest a bad value."""
        if var.type is Type.TEXT:
            return
        words = list(_WORD.finditer(text))
        for n in range(len(words) - 1, 0, -1):
            word = words[n].group(0)
            if not (word == 'not' or (_IDENT.fullmatch(word) and '.' in word) or word.startswith('(')):
                continue   # (the next word does not start a predicate: a bad unit, say)
            prefix = text[:words[n - 1].end()]
            try:
                Parser(prefix, self.table, source=self.source, now=self.now, context=self.context) \
                    .value(var, op, prefix, 0)
            except PolicyError:
                continue
            raise self.error(f"expected 'and', 'or' or the end of the condition, found "
                             f"{words[n].group(0)[:40]!r}", at + words[n].start())

    def check_operator(self, var: Variable, op: str, at: int) -> None:
        t = var.type
        if op in ('=~', '!=~') and t is not Type.TEXT:
            raise self.error(f'{op} matches a regular expression and takes a text variable '
                             f'({var.name} is {t.value})', at)
        if t is Type.BOOL and op not in ('==', '!='):
            raise self.error(f'{var.name} is boolean: write {var.name} or not {var.name} '
                             f'(or == true / == false)', at)

    def scalar_rhs_text(self) -> str:
        """The raw right-hand side: up to the next and/or, without the ')' that close groups."""
        start = self.pos
        end = len(self.text)
        for m in _WORD.finditer(self.text, start):
            if m.group(0) in ('and', 'or'):
                end = m.start()
                break
        raw = self.text[start:end].rstrip()
        balance = _paren_balance(raw)
        closed = 0
        while closed < self.depth and balance < 0 and raw.endswith(')'):
            raw = raw[:-1].rstrip()
            balance += 1
            closed += 1
        self.pos = start + len(raw)
        return raw

    def list_rhs(self, var: Variable, op: str):
        start = self.pos
        if self.pos >= len(self.text) or self.text[self.pos] != '[':
            raise self.error(f"expected '[' after {op} (a list such as [a b c]), found {self.found()}")
        close = self.text.find(']', self.pos)
        if close < 0:
            raise self.error("expected ']' to close the list", start)
        inner_start = self.pos + 1
        values = []
        for m in _WORD.finditer(self.text, inner_start, close):
            values.append(self.value(var, '==', m.group(0), m.start()))
        self.pos = close + 1
        return tuple(values), self.text[start:close + 1]

    def value(self, var: Variable, op: str, text: str, at: int):
        t = var.type
        words = ' '.join(text.split())
        try:
            if t is Type.TEXT:
                if op in ('=~', '!=~'):
                    try:
                        return Pattern(re.compile(words), words)
                    except re.error as e:
                        raise ValueError(f'invalid regular expression: {e}') from None
                if op in ('==', '!=') and ('*' in words or '?' in words):
                    return Pattern(re.compile(fnmatch.translate(words)), words)
                return words
            if t is Type.BOOL:
                low = words.lower()
                if low in _TRUE:
                    return True
                if low in _FALSE:
                    return False
                raise ValueError(f'expected true or false, found {words!r}')
            if t is Type.ENUM:
                return self.enum_value(var, words, at)
            if t is Type.SIZE:
                return units.parse_size(words)
            if t is Type.TIME:
                value = units.parse_time(words, self.now)
                if op in ('<', '>') and value > self.now + 60 and _RELATIVE.match(words) \
                        and 'ago' not in words.lower():
                    self.warnings.append(
                        f'{self.source.filename}:{self.source.line}:{self.source.column_offset + at + 1}: '
                        f'{words!r} is in the future (did you mean {words} ago?)')
                return value
            return units.parse_number(words)
        except ValueError as e:
            raise self.error(str(e), at) from None

    def enum_value(self, var: Variable, words: str, at: int) -> int:
        names = var.enum or {}
        value = names.get(words.upper())
        if value is not None:
            return value
        if var.enum_fallback is not None:
            fallback = [n for n, v in names.items() if v == var.enum_fallback][0]
            self.warnings.append(
                f'{self.source.filename}:{self.source.line}:{self.source.column_offset + at + 1}: '
                f'{words!r} is not one of {", ".join(names)}; taken as {fallback} (as the original did)')
            return var.enum_fallback
        raise self.error(f'expected one of {", ".join(names)} for {var.name}, found {words!r}'
                         f'{did_you_mean(words.upper(), names)}', at)


def _paren_balance(text: str) -> int:
    """'(' minus ')' outside backslash escapes and regex character classes."""
    balance = 0
    i = 0
    in_class = False
    while i < len(text):
        c = text[i]
        if c == '\\':
            i += 2
            continue
        if in_class:
            if c == ']':
                in_class = False
        elif c == '[':
            in_class = True
        elif c == '(':
            balance += 1
        elif c == ')':
            balance -= 1
        i += 1
    return balance


def parse(text: str, table, *, source: Source, now: float, context: str):
    """(tree, warnings) of a condition."""
    parser = Parser(text, table, source=source, now=now, context=context)
    return parser.parse(), parser.warnings
