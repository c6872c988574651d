"""The schedule of periodic cycles, as the server configuration states it (pure: no Django, no
database; settings.py builds its values from here once).

An entry is `NAME = [every] INTERVAL [FILE] [key=value ...]` in the [schedule] section of the INI
file (or DYNAMO_SCHEDULE_<NAME>, or an item of DYNAMO_SCHEDULE_EXTRA / [schedule] extra as
`NAME: SPEC; NAME: SPEC`), or `off`. INTERVAL is `30s`, `10m`, `1h`, `6h`, `1d` or seconds; FILE
is the policy or configuration file the cycle reads (required by dealer and detox). Keys:
`cycle` (the built-in cycle to run; default the entry's name), `offset` (a duration: slots start
at multiples of the interval since the epoch, plus the offset), `test` (yes/no: test runs),
`comment`; other keys are passed to the cycle as parameters (JSON values, else text).

Slots: an entry runs once per slot, at the start of the slot (or as soon as possible within it),
cluster-wide (the runs table holds one row per entry and slot).
"""
import json
import math
import re
from dataclasses import dataclass, field
from datetime import timedelta

DEFAULTS = {'dealer': '1h', 'detox': '6h', 'track_requests': '10m', 'updater': '1m', 'usage': '1h'}
NEEDS_FILE = {'dealer': 'policy', 'detox': 'policy'}
_UNITS = {'s': 1, 'sec': 1, 'secs': 1, 'second': 1, 'seconds': 1, 'm': 60, 'min': 60, 'mins': 60, 'minute': 60,
          'minutes': 60, 'h': 3600, 'hour': 3600, 'hours': 3600, 'd': 86400, 'day': 86400, 'days': 86400,
          'w': 604800, 'week': 604800, 'weeks': 604800}
_DURATION = re.compile(r'^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*$')
_NAME = re.compile(r'^[a-z][a-z0-9_]{0,63}$')


class ScheduleError(ValueError):
    """A schedule entry that cannot be read; the message names it."""


@dataclass(frozen=True)
class Entry:
    name: str
    cycle: str
    interval: float                  # seconds
    file: str = ''
    offset: float = 0.0
    test: bool = False
    comment: str = ''
    params: dict = field(default_factory=dict)
    spec: str = ''
    disabled: str = ''               # why it does not run ('' when it does)

    @property
    def enabled(self):
        return not self.disabled

    def slot(self, now):
        """The start (UNIX time) of the slot `now` falls in."""
        return math.floor((now - self.offset) / self.interval) * self.interval + self.offset

    def next_slot(self, now):
        return self.slot(now) + self.interval

    def describe(self):
        return {'name': self.name, 'cycle': self.cycle, 'interval': self.interval,
                'every': format_duration(self.interval),
                'file': self.file, 'offset': self.offset, 'test': self.test, 'comment': self.comment,
                'params': self.params, 'spec': self.spec, 'enabled': self.enabled, 'disabled': self.disabled}


def parse_duration(text):
    """Seconds of '30s', '10m', '1h', '6h', '1d', '2 weeks' or a number of seconds."""
    m = _DURATION.match(str(text).lower())
    if m is None or (m.group(2) and m.group(2) not in _UNITS):
        raise ScheduleError(f'{text!r} is not a duration (e.g. 30s, 10m, 1h, 6h, 1d)')
    return float(m.group(1)) * _UNITS.get(m.group(2) or 's', 1)


def format_duration(seconds):
    for unit, size in (('d', 86400), ('h', 3600), ('m', 60)):
        if seconds >= size and seconds % size == 0:
            return f'{int(seconds // size)}{unit}'
    return f'{seconds:g}s'


def _value(text):
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_entry(name, spec):
    """The Entry of `NAME = SPEC`."""
    if not _NAME.match(name):
        raise ScheduleError(f'schedule entry {name!r}: a name is lower-case letters, digits and _')
    text = (spec or '').strip()
    if not text or text.lower() in ('off', 'no', 'none', 'disabled', '0'):
        return Entry(name, name, 3600.0, spec=text, disabled='switched off in the configuration')
    words = text.split()
    if words[0].lower() == 'every':
        words = words[1:]
    if not words:
        raise ScheduleError(f'schedule entry {name}: {spec!r}: the interval is missing')
    try:
        interval = parse_duration(words[0])
    except ScheduleError as exc:
        raise ScheduleError(f'schedule entry {name}: {exc}') from None
    if interval < 1:
        raise ScheduleError(f'schedule entry {name}: the interval must be at least a second')
    values = {'cycle': name, 'offset': 0.0, 'test': False, 'comment': '', 'file': ''}
    params = {}
    for word in words[1:]:
        key, sep, value = word.partition('=')
        if not sep:
            if values['file']:
                raise ScheduleError(f'schedule entry {name}: two files ({values["file"]}, {word}); '
                                    f'options are key=value')
            values['file'] = word
        elif key == 'cycle':
            values['cycle'] = value
        elif key == 'offset':
            values['offset'] = parse_duration(value)
        elif key == 'test':
            values['test'] = value.lower() in ('1', 'yes', 'true', 'on')
        elif key == 'comment':
            values['comment'] = value
        else:
            params[key] = _value(value)
    disabled = ''
    what = NEEDS_FILE.get(values['cycle'])
    if what and not values['file']:
        disabled = (f'no {what} file: set e.g. "[schedule] {name} = {format_duration(interval)} '
                    f'/etc/dynamo/{values["cycle"]}.{"json" if values["cycle"] == "dealer" else "txt"}"')
    return Entry(name, values['cycle'], interval, values['file'], values['offset'] % interval, values['test'],
                 values['comment'], params, text, disabled)


def collect(specs, extra=''):
    """{name: spec} of the fixed entries (`specs`) and of `extra` ('name: spec; name: spec')."""
    out = dict(specs)
    for item in (extra or '').split(';'):
        if not item.strip():
            continue
        name, sep, spec = item.partition(':')
        if not sep:
            name, sep, spec = item.partition('=')
        if not sep:
            raise ScheduleError(f'schedule extra entry {item.strip()!r}: expected NAME: SPEC')
        out[name.strip()] = spec.strip()
    return out


def parse_schedule(specs):
    """{name: Entry} of {name: spec}."""
    return {name: parse_entry(name, spec) for name, spec in sorted(specs.items())}


def beat_schedule(entries, tick):
    """Celery beat's schedule: one entry per enabled schedule entry, sent every min(interval,
    tick) seconds; the task runs the entry once per slot (later sends find the slot taken)."""
    return {f'dynamo-schedule-{e.name}': {'task': 'schedule.run_entry',
                                          'schedule': timedelta(seconds=min(e.interval, tick)), 'args': (e.name,),
                                          'options': {'expires': max(1.0, min(e.interval, tick))}}
            for e in entries.values() if e.enabled}
