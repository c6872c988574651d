"""Quotas of the `inventory` web module: /data/inventory/quotas (read: quota, usage and occupancy per
site and partition) and /data/inventory/setquota (POST JSON; role admin on target inventory),
with the arithmetic of `manage.py set_quota` (detox/partitions.py)."""
import fnmatch

from detox import partitions
from policy import parse_size
from webmodules.base import IllFormedRequest, InvalidRequest, MissingParameter, Param, WebModule
from webmodules.schemas import BYTES, NUMBER, STRING, array, nullable, obj


def _patterns(value):
    if value is None:
        return None
    if isinstance(value, list):
        value = ','.join(value)
    return [p.strip() for p in value.split(',') if p.strip()] or None


def _matches(name, patterns):
    return patterns is None or any(fnmatch.fnmatchcase(name, p) for p in patterns)


class Quotas(WebModule):
    """Per site and partition (filters: `site`, `partition`, comma-separated shell patterns): the
    quota in bytes (0: nothing allowed; negative: unlimited; a superpartition's is the sum of its
    subpartitions'), the usage (bytes present), the projected usage and the occupancy (usage /
    quota; null without a quota, 0 when unlimited)."""
    cacheable = True
    parameters = (Param('site', 'pattern', description='site names', example='T2_*'),
                  Param('partition', 'pattern', description='partition names', example='Default'))
    response = array(obj({'site': STRING, 'partition': STRING,
                          'quota': {'type': 'integer', 'description': 'bytes; 0 nothing allowed, negative unlimited'},
                          'usage': BYTES, 'projected_usage': BYTES, 'occupancy': nullable(NUMBER),
                          'subpartitions': nullable(array(STRING))}))

    def run(self, caller, request, inventory):
        sites, parts = _patterns(request.get('site')), _patterns(request.get('partition'))
        rows = []
        for site in sorted(inventory.sites.values(), key=lambda s: s.name):
            if not _matches(site.name, sites):
                continue
            for partition, sp in sorted(site.partitions.items(), key=lambda kv: kv[0].name):
                if not _matches(partition.name, parts):
                    continue
                quota, usage = sp.quota, sp.usage(True)
                rows.append({'site': site.name, 'partition': partition.name, 'quota': quota, 'usage': usage,
                             'projected_usage': sp.usage(False),
                             'occupancy': None if quota == 0 else 0. if quota < 0 else usage / quota,
                             'subpartitions': [p.name for p in partition.subpartitions]
                             if partition.subpartitions else None})
        self.message = f'{len(rows)} quotas'
        return rows


class SetQuota(WebModule):
    """Set a quota (POST, JSON body): `site` (shell patterns, comma-separated), `partition`, and
    `volume` (bytes, or text with a unit: "120TB", "1.5 PiB"; 0 allows nothing, negative is
    unlimited) or `scale` (a factor applied to the present quota). A superpartition's
    subpartitions change in proportion to their quotas. Role admin on target inventory. Returns
    the quotas changed."""
    require_roles = (('admin', 'inventory'),)
    write_enabled = True
    parameters = ()
    request_body = obj({'site': STRING, 'partition': STRING,
                        'volume': {'type': ['number', 'string'],
                                   'description': 'bytes, or text with a unit ("120TB"); 0 allows nothing, '
                                                  'negative is unlimited'},
                        'scale': {'type': 'number', 'description': 'a factor applied to the present quota'}},
                       required=['site', 'partition'], description='give `volume` or `scale`')
    response = array(obj({'site': STRING, 'partition': STRING, 'old': NUMBER, 'new': NUMBER}))

    def run(self, caller, request, inventory):
        body = self.input_data if isinstance(self.input_data, dict) else {}
        params = dict(request, **body)
        for name in ('site', 'partition'):
            if not isinstance(params.get(name), str) or not params[name].strip():
                raise MissingParameter(name, '/data/inventory/setquota')
        volume, scale = params.get('volume'), params.get('scale')
        if (volume is None) == (scale is None):
            raise InvalidRequest('give either "volume" or "scale"')
        try:
            if volume is not None:
                volume = float(volume) if isinstance(volume, (int, float)) and not isinstance(volume, bool) \
                    else parse_size(str(volume))
            if scale is not None:
                scale = float(scale)
        except (TypeError, ValueError) as exc:
            raise IllFormedRequest('volume' if volume is not None else 'scale', params.get('volume', scale),
                                   str(exc)) from None
        state = partitions.state_from_inventory(inventory)
        sites = partitions.matching_sites(state, params['site'])
        if not sites:
            raise InvalidRequest(f'no site matches {params["site"]!r}')
        try:
            changes = partitions.quota_changes(state, sites=sites, partition=params['partition'].strip(),
                                               volume=volume, scale=scale)
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
        partitions.apply_quota_changes(inventory, changes)
        self.message = f'{len(changes)} quotas changed' if changes else 'nothing to change'
        return [{'site': c.site, 'partition': c.partition, 'old': c.old, 'new': c.new} for c in changes]
