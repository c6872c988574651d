"""Reads of the usage history: series per site and partition over a time range, thinned to at
most `points` samples each (the last sample of each time bucket) so a year of hourly samples
still draws quickly."""
import datetime
import fnmatch
import re

from usage.models import UsageSample


def _regex(patterns):
    if not patterns:
        return None
    if isinstance(patterns, str):
        patterns = patterns.split(',')
    patterns = [p.strip() for p in patterns if p and p.strip()]
    return re.compile('|'.join(f'(?:{fnmatch.translate(p)})' for p in patterns)) if patterns else None


def _literal(pattern):
    return isinstance(pattern, str) and pattern and not any(c in pattern for c in '*?[,')


def _unix(dt):
    return dt.timestamp()


def history(*, site=None, partition=None, since=None, until=None, points=500):
    """[{site, partition, points: [[time, quota, usage, projected_usage], ...]}] by site, then
    partition; `site` and `partition` are shell patterns (comma-separated), `since`/`until` UNIX
    times."""
    qs = UsageSample.objects.all()
    site_re, part_re = _regex(site), _regex(partition)
    if _literal(site):
        qs, site_re = qs.filter(site=site), None
    if _literal(partition):
        qs, part_re = qs.filter(partition=partition), None
    if since is not None:
        qs = qs.filter(time__gte=datetime.datetime.fromtimestamp(since, tz=datetime.timezone.utc))
    if until is not None:
        qs = qs.filter(time__lte=datetime.datetime.fromtimestamp(until, tz=datetime.timezone.utc))
    series = {}
    for s, p, t, q, u, pu in qs.order_by('time').values_list('site', 'partition', 'time', 'quota', 'usage',
                                                             'projected_usage').iterator(chunk_size=5000):
        if site_re is not None and not site_re.match(s):
            continue
        if part_re is not None and not part_re.match(p):
            continue
        series.setdefault((s, p), []).append([_unix(t), q, u, pu])
    return [{'site': s, 'partition': p, 'points': thin(rows, points)} for (s, p), rows in sorted(series.items())]


def thin(rows, points):
    """At most `points` rows: the first, then the last of each of `points` - 1 equal time intervals."""
    if points is None or len(rows) <= points:
        return rows
    start, end = rows[0][0], rows[-1][0]
    width = (end - start) / (points - 1) or 1
    out, bucket = [rows[0]], None
    for row in rows[1:]:
        b = min(points - 2, int((row[0] - start) / width))
        if b == bucket:
            out[-1] = row
        else:
            out.append(row)
            bucket = b
    return out


def sample_times(*, limit=20):
    """The latest sample times (UNIX), newest first, with the number of rows and their source."""
    from django.db.models import Count
    rows = (UsageSample.objects.values('time', 'source').annotate(rows=Count('id')).order_by('-time')[:limit])
    return [{'time': _unix(r['time']), 'source': r['source'], 'rows': r['rows']} for r in rows]
