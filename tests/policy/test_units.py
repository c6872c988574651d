"""Sizes and times as the language reads them; `now` is injected, never read from the clock."""
import pytest

from policy import parse_now, parse_size, parse_time
from tests.policy.conftest import NOW

DAY = 86400


@pytest.mark.parametrize('text, expected', [
    ('2 TB', 2 * 10 ** 12), ('500GB', 500 * 10 ** 9), ('1 TiB', 2 ** 40), ('3 GiB', 3 * 2 ** 30),
    ('1.5 kB', 1500), ('12', 12), ('7 B', 7), ('2 tb', 2 * 10 ** 12), ('1e12', 10 ** 12), ('1 PB', 10 ** 15),
])
def test_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize('text, message', [
    ('2 TX', "unknown size unit 'TX'"), ('big', 'expected a size'), ('', 'expected a size'),
])
def test_bad_size_says_what_was_expected(text, message):
    with pytest.raises(ValueError, match=message):
        parse_size(text)


@pytest.mark.parametrize('text, expected', [
    ('now', NOW),
    ('90 days ago', NOW - 90 * DAY),
    ('1 day ago', NOW - DAY),
    ('2 weeks ago', NOW - 14 * DAY),
    ('36 hours ago', NOW - 36 * 3600),
    ('10 minutes ago', NOW - 600),
    ('3 days', NOW + 3 * DAY),
    ('-3 days', NOW - 3 * DAY),
    ('last week', NOW - 7 * DAY),
    ('today', NOW),                                      # NOW is a midnight
    ('yesterday', NOW - DAY),
    ('2019-01-01', 1546300800),
    ('2019-01-01T12:00:00Z', 1546300800 + 12 * 3600),
    ('2019-01-01 12:00', 1546300800 + 12 * 3600),
    ('2019-01-01T12:00:00+02:00', 1546300800 + 10 * 3600),
    ('@1500000000', 1500000000),
    ('1500000000', 1500000000),
    ('1 month ago', 1556755200),                         # 2019-05-02: calendar months
    ('1 year ago', 1527897600),                          # 2018-06-02
    ('2019-03-31 1 month ago', 1551571200),              # 2019-02-31 rolls over to 2019-03-03 (GNU date)
])
def test_time(text, expected):
    assert parse_time(text, NOW) == expected


@pytest.mark.parametrize('text, message', [
    ('90 dayz ago', "'dayz' is not a time unit"), ('soon', "'soon' is not a time unit"),
    ('2019-02-30', 'invalid date'), ('', 'expected a time'), ('90', None),
])
def test_bad_time_says_what_was_expected(text, message):
    if message is None:
        assert parse_time(text, NOW) == 90   # a bare number is a UNIX time
        return
    with pytest.raises(ValueError, match=message):
        parse_time(text, NOW)


def test_now_accepts_iso_text_unix_time_and_datetimes():
    import datetime as dt
    assert parse_now('2019-06-02T00:00:00Z') == NOW
    assert parse_now(str(int(NOW))) == NOW
    assert parse_now(NOW) == NOW
    assert parse_now(dt.datetime(2019, 6, 2, tzinfo=dt.timezone.utc)) == NOW
    assert parse_now(dt.datetime(2019, 6, 2)) == NOW   # naive = UTC
