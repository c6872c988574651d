"""The schedule as the configuration states it: entries, durations, slots, the beat schedule."""
from datetime import timedelta

import pytest

from schedule.definition import (DEFAULTS, ScheduleError, beat_schedule, collect, parse_duration, parse_entry,
                                 parse_schedule)


def test_the_default_schedule_names_dealer_detox_and_request_tracking():
    entries = parse_schedule(DEFAULTS)
    assert {n: (e.cycle, e.interval) for n, e in entries.items()} == {
        'dealer': ('dealer', 3600), 'detox': ('detox', 6 * 3600), 'track_requests': ('track_requests', 600),
        'updater': ('updater', 60), 'usage': ('usage', 3600)}
    # dealer and detox wait for their policy file; request tracking needs none
    assert entries['dealer'].disabled.startswith('no policy file: set e.g. "[schedule] dealer = 1h ')
    assert entries['track_requests'].enabled


def test_an_entry_names_its_interval_file_and_options():
    entry = parse_entry('dealer_tape', 'every 2h /etc/dynamo/tape.json cycle=dealer offset=15m test=yes seed=7 '
                                       'comment=tape')
    assert (entry.cycle, entry.interval, entry.file, entry.offset, entry.test, entry.comment, entry.params) == \
        ('dealer', 7200, '/etc/dynamo/tape.json', 900, True, 'tape', {'seed': 7})
    assert parse_entry('detox', 'off').disabled == 'switched off in the configuration'


@pytest.mark.parametrize('text, seconds', [('30s', 30), ('10m', 600), ('1h', 3600), ('6 hours', 21600),
                                           ('1d', 86400), ('90', 90), ('1.5h', 5400)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize('name, spec, message', [
    ('dealer', 'hourly /x.json', "schedule entry dealer: 'hourly' is not a duration"),
    ('Dealer', '1h', 'a name is lower-case letters'),
    ('dealer', '1h a.json b.json', 'two files'),
])
def test_bad_entries_are_refused_naming_them(name, spec, message):
    with pytest.raises(ScheduleError, match=message):
        parse_entry(name, spec)


def test_slots_start_at_multiples_of_the_interval_plus_the_offset():
    entry = parse_entry('dealer', '1h /d.json offset=10m')
    assert entry.slot(7200 + 600) == 7800 and entry.slot(7200 + 599) == 3600 + 600
    assert entry.next_slot(7800) == 11400


def test_extra_entries_and_the_beat_schedule():
    specs = collect(DEFAULTS, 'consistency: 1d /etc/c.json; fileops = 5m')
    entries = parse_schedule(specs)
    assert sorted(entries) == ['consistency', 'dealer', 'detox', 'fileops', 'track_requests', 'updater', 'usage']
    beat = beat_schedule(entries, tick=30)
    assert sorted(beat) == ['dynamo-schedule-consistency', 'dynamo-schedule-fileops', 'dynamo-schedule-track_requests',
                            'dynamo-schedule-updater', 'dynamo-schedule-usage']
    assert beat['dynamo-schedule-fileops'] == {'task': 'schedule.run_entry', 'schedule': timedelta(seconds=30),
                                               'args': ('fileops',), 'options': {'expires': 30}}
