"""Sizes with units and times (absolute, relative, `now`) as the condition language reads them.

Pure Python and deterministic: a relative time is computed from the `now` it is given, never from
the clock, and nothing is handed to an outside program (the original ran GNU `date -d`).
"""
from __future__ import annotations

import datetime as _dt
import math
import re
import time as _time
from typing import Optional, Union

UTC = _dt.timezone.utc

# decimal and binary multiples; names are matched case-insensitively ('tb' == 'TB')
SIZE_UNITS = {
    'b': 1, 'byte': 1, 'bytes': 1,
    'kb': 10 ** 3, 'mb': 10 ** 6, 'gb': 10 ** 9, 'tb': 10 ** 12, 'pb': 10 ** 15, 'eb': 10 ** 18,
    'kib': 2 ** 10, 'mib': 2 ** 20, 'gib': 2 ** 30, 'tib': 2 ** 40, 'pib': 2 ** 50, 'eib': 2 ** 60,
}
_NUMBER = r'[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?'
_SIZE_RE = re.compile(rf'^\s*({_NUMBER})\s*([A-Za-z]*)\s*$')
_NUMBER_RE = re.compile(rf'^\s*({_NUMBER})\s*$')


def parse_number(text: str) -> float:
    """A plain number ('0.9', '1e12', '-1'). Raises ValueError with what was expected."""
    m = _NUMBER_RE.match(text)
    if m is None:
        raise ValueError(f'expected a number, found {text.strip()!r}')
    return float(m.group(1))


def parse_size(text: str) -> float:
    """Bytes from '2 TB', '500GB', '1.5 TiB' or a plain number of bytes."""
    m = _SIZE_RE.match(text)
    if m is None:
        raise ValueError(f'expected a size (a number with an optional unit such as 2 TB or 500 GiB), '
                         f'found {text.strip()!r}')
    number, unit = float(m.group(1)), m.group(2)
    if not unit:
        return number
    factor = SIZE_UNITS.get(unit.lower())
    if factor is None:
        raise ValueError(f'unknown size unit {unit!r} (expected one of B, kB, MB, GB, TB, PB, '
                         f'KiB, MiB, GiB, TiB, PiB)')
    value = number * factor
    return int(value) if value == int(value) else value


# ------------------------------------------------------------------------------------- times
_SECONDS = {
    'sec': 1, 'secs': 1, 'second': 1, 'seconds': 1, 's': 1,
    'min': 60, 'mins': 60, 'minute': 60, 'minutes': 60,
    'hour': 3600, 'hours': 3600, 'h': 3600,
    'day': 86400, 'days': 86400, 'd': 86400,
    'week': 7 * 86400, 'weeks': 7 * 86400,
    'fortnight': 14 * 86400, 'fortnights': 14 * 86400,
}
_MONTHS = {'month': 1, 'months': 1, 'year': 12, 'years': 12}
_ISO_RE = re.compile(
    r'^(\d{4})-(\d{1,2})-(\d{1,2})'
    r'(?:[Tt ](\d{1,2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?'
    r'\s*(Z|z|UTC|utc|GMT|[+-]\d{2}:?\d{2})?')
_WORD_RE = re.compile(rf'{_NUMBER}|[A-Za-z]+|\S')
TimeLike = Union[None, int, float, str, _dt.datetime]


def parse_now(value: TimeLike = None) -> float:
    """UNIX time for a `--now` value: None (the clock), a number, an aware or naive (UTC)
    datetime, or text (an ISO date/time, 'now' or a UNIX time)."""
    if value is None:
        return _time.time()
    if isinstance(value, bool):
        raise ValueError(f'not a time: {value!r}')
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    text = str(value).strip()
    if text.lower() == 'now':
        return _time.time()
    m = _NUMBER_RE.match(text.lstrip('@'))
    if m is not None:
        return float(m.group(1))
    return parse_time(text, _time.time())


def parse_time(text: str, now: float) -> float:
    """UNIX time of a time expression relative to `now` (UNIX seconds).

    Accepted: 'now', 'today' (midnight UTC), 'yesterday', 'tomorrow'; ISO dates and date-times
    ('2019-06-02', '2019-06-02T12:00:00Z', '2019-06-02 12:00', naive ones are UTC); '@UNIX' or a
    bare UNIX time; then any number of relative items 'N unit' (sec, min, hour, day, week,
    fortnight, month, year and plurals), each negated by a following 'ago' or a leading '-',
    and 'last UNIT' / 'next UNIT'. Examples: '90 days ago', '1 year ago', '2 weeks', '2019-01-01'.
    Raises ValueError saying what was expected.
    """
    original = text
    text = text.strip()
    if not text:
        raise ValueError('expected a time (e.g. 90 days ago, 2019-06-02 or now)')
    if text.startswith('@') or _NUMBER_RE.match(text):
        bare = _NUMBER_RE.match(text[1:] if text.startswith('@') else text)
        if bare is None:
            raise ValueError(f'expected a UNIX time after @, found {text!r}')
        return float(bare.group(1))
    base = _dt.datetime.fromtimestamp(now, UTC)
    m = _ISO_RE.match(text)
    rest = text
    if m is not None:
        base = _iso_datetime(m, original)
        rest = text[m.end():]
    words = _WORD_RE.findall(rest)
    months = 0
    days = 0
    seconds = 0.0
    i = 0
    saw_any = m is not None
    while i < len(words):
        word = words[i].lower()
        if word in ('now', 'today', 'yesterday', 'tomorrow', 'midnight') and not saw_any:
            if word != 'now':
                base = base.replace(hour=0, minute=0, second=0, microsecond=0)
            if word == 'yesterday':
                days -= 1
            elif word == 'tomorrow':
                days += 1
            saw_any = True
            i += 1
            continue
        if word == 'now':
            i += 1
            continue
        sign = 1
        count: Optional[float] = None
        if word in ('last', 'next', 'this'):
            count = {'last': -1, 'next': 1, 'this': 0}[word]
            i += 1
        elif word in ('+', '-') and i + 1 < len(words) and _is_number(words[i + 1]):
            sign = -1 if word == '-' else 1
            count = float(words[i + 1])
            i += 2
        elif _is_number(word):
            count = float(word)
            i += 1
        if i >= len(words):
            raise ValueError(f'expected a time unit (days, weeks, hours, months, years ...) '
                             f'in {original.strip()!r}')
        unit_word = words[i]
        unit = unit_word.lower()
        i += 1
        if count is None:
            count = 1
        if i < len(words) and words[i].lower() == 'ago':
            sign = -sign
            i += 1
        if unit in _SECONDS:
            seconds += sign * count * _SECONDS[unit]
        elif unit in _MONTHS:
            if count != int(count):
                raise ValueError(f'months and years take whole numbers, found {count:g} in {original.strip()!r}')
            months += sign * int(count) * _MONTHS[unit]
        else:
            raise ValueError(f'expected a time (e.g. 90 days ago, 2019-06-02 or now); '
                             f'{unit_word!r} is not a time unit')
        saw_any = True
    if not saw_any:
        raise ValueError(f'expected a time (e.g. 90 days ago, 2019-06-02 or now), found {original.strip()!r}')
    result = base
    if months or days:
        total = result.year * 12 + (result.month - 1) + months
        year, month = divmod(total, 12)
        if not 1 <= year <= 9999:
            raise ValueError(f'time out of range: {original.strip()!r}')
        # as GNU date: the day of month is kept and an overflow rolls into the next month
        first = result.replace(year=year, month=month + 1, day=1)
        result = first + _dt.timedelta(days=result.day - 1 + days)
    return result.timestamp() + seconds


def _is_number(word: str) -> bool:
    return _NUMBER_RE.match(word) is not None and word not in ('+', '-')


def _iso_datetime(m: re.Match, original: str) -> _dt.datetime:
    year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
    hour = int(m.group(4) or 0)
    minute = int(m.group(5) or 0)
    second = int(m.group(6) or 0)
    micro = int(round(float(m.group(7)) * 1e6)) if m.group(7) else 0
    zone = m.group(8)
    tz = UTC
    if zone and zone[0] in '+-':
        digits = zone[1:].replace(':', '')
        offset = _dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        tz = _dt.timezone(offset if zone[0] == '+' else -offset)
    try:
        return _dt.datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    except ValueError as e:
        raise ValueError(f'invalid date {original.strip()!r}: {e}') from None


def format_time(value: float) -> str:
    """ISO 8601 UTC text of a UNIX time (for explanations)."""
    if value is None or (isinstance(value, float) and (math.isinf(value) or math.isnan(value))):
        return str(value)
    try:
        return _dt.datetime.fromtimestamp(value, UTC).strftime('%Y-%m-%dT%H:%M:%SZ')
    except (OverflowError, OSError, ValueError):
        return str(value)


def format_size(value: float) -> str:
    """'12.3 TB'-style text (decimal units) for reports."""
    for unit, factor in (('PB', 10 ** 15), ('TB', 10 ** 12), ('GB', 10 ** 9), ('MB', 10 ** 6), ('kB', 10 ** 3)):
        if abs(value) >= factor:
            return f'{value / factor:.2f} {unit}'
    return f'{value:.0f} B'
