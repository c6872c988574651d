"""Writes of the usage history: record a sample (from a cycle's measurement, or from the image at
hand for a Detox commit), prune by retention."""
import datetime
import time
from typing import Optional

from django.conf import settings
from django.db import transaction

from usage.measure import measure
from usage.models import Source, UsageSample

DEFAULT_KEEP_DAYS = 400


def retention_days() -> float:
    """Days of history kept (DYNAMO_USAGE_KEEP_DAYS, default 400)."""
    return float(getattr(settings, 'DYNAMO_USAGE_KEEP_DAYS', DEFAULT_KEEP_DAYS))


def _when(unix: float) -> datetime.datetime:
    # whole seconds: one sample per site, partition and second
    return datetime.datetime.fromtimestamp(int(unix), tz=datetime.timezone.utc)


def samples_record(*, when: float, rows, source: str = Source.SCHEDULE) -> int:
    """Store the rows [site, partition, quota, usage, projected] measured at UNIX time `when`;
    a second sample of the same second replaces the first. Returns the rows stored."""
    at = _when(when)
    with transaction.atomic(using=UsageSample.objects.db):
        UsageSample.objects.filter(time=at).delete()
        UsageSample.objects.bulk_create([UsageSample(time=at, site=site, partition=partition, quota=quota,
                                                     usage=usage, projected_usage=projected, source=source)
                                         for site, partition, quota, usage, projected in rows], batch_size=2000)
    return len(rows)


def record_usage(inventory, *, source: str = Source.DETOX, when: Optional[float] = None) -> int:
    """Record a sample of `inventory` (the server's RAM image) now: for a cycle's commit in the
    server (Detox calls it at each cycle). Returns the rows stored."""
    return samples_record(when=time.time() if when is None else when, rows=measure(inventory), source=source)


def samples_prune(*, keep_days: Optional[float] = None) -> int:
    """Delete the samples older than `keep_days` (default: the setting); returns how many."""
    days = keep_days if keep_days is not None else retention_days()
    cutoff = datetime.datetime.now(tz=datetime.timezone.utc) - datetime.timedelta(days=float(days))
    deleted, _ = UsageSample.objects.filter(time__lt=cutoff).delete()
    return deleted
