"""What a copy or deletion request names, checked against a catalog of the inventory: items
(datasets or dataset#block), sites (names or fnmatch patterns, `!pattern` excluding) and the
group. Pure: the catalog is the RAM image (the web) or the store's tables (the command line);
nothing here writes. Errors are the caller's mistakes and name the item, site or group.
"""
import fnmatch
import re
from dataclasses import dataclass

MAX_ITEMS = 10000
MAX_SITES = 1000


class RequestError(ValueError):
    """A request the system refuses as given (400): the message names what is wrong."""


class NotAllowed(RequestError):
    """The caller may not do this (403)."""


@dataclass(frozen=True)
class Item:
    name: str               # as stored: 'dataset' or 'dataset#block'
    dataset: str
    block: str = None       # None: the whole dataset

    @classmethod
    def parse(cls, text):
        if not isinstance(text, str) or not text.strip():
            raise RequestError(f'invalid item {text!r}: expected a dataset or dataset#block name')
        text = text.strip()
        dataset, sep, block = text.partition('#')
        if not dataset.startswith('/') or (sep and not block):
            raise RequestError(f'invalid item {text!r}: expected a dataset (/A/B/C) or dataset#block name')
        return cls(text, dataset, block or None)


class InventoryCatalog:
    """The RAM image as a catalog."""

    def __init__(self, inventory):
        self.inventory = inventory

    def dataset_blocks(self, dataset):
        """The block names of a dataset, or None when it does not exist."""
        found = self.inventory.datasets.get(dataset)
        return None if found is None else {b.name for b in found.blocks}

    def has_block(self, dataset, block):
        found = self.inventory.datasets.get(dataset)
        if found is None:
            return False
        return self.inventory.find_block(found, block) is not None

    def site_names(self):
        return sorted(self.inventory.sites)

    def has_group(self, name):
        return name in self.inventory.groups


def listed(value, name):
    """A parameter given once or repeated (`x`, `x[]`, a JSON list, or comma-separated text) as
    a list of non-empty strings, duplicates dropped (first kept)."""
    if value is None:
        return []
    values = value if isinstance(value, (list, tuple)) else [value]
    out = []
    for v in values:
        if not isinstance(v, str):
            raise RequestError(f'parameter "{name}" must be text, got {v!r}')
        for part in v.split(','):
            part = part.strip()
            if part and part not in out:
                out.append(part)
    return out


def resolve_items(catalog, values):
    """[Item] for the given names; an unknown dataset or block is an error naming it."""
    names = listed(values, 'item')
    if not names:
        raise RequestError('missing required parameter "item" (dataset or dataset#block names)')
    if len(names) > MAX_ITEMS:
        raise RequestError(f'{len(names)} items; at most {MAX_ITEMS} in one request')
    items = []
    for name in names:
        item = Item.parse(name)
        if catalog.dataset_blocks(item.dataset) is None:
            raise RequestError(f'unknown dataset {item.dataset}')
        if item.block is not None and not catalog.has_block(item.dataset, item.block):
            raise RequestError(f'unknown block {item.name}')
        items.append(item)
    return items


def _compile(pattern):
    return re.compile(fnmatch.translate(pattern))


def expand_sites(catalog, values, *, required=True):
    """(site names, the patterns as given): each pattern must match a site; `!pattern` removes
    the sites it matches from those matched before it (in order)."""
    patterns = listed(values, 'site')
    if not patterns:
        if required:
            raise RequestError('missing required parameter "site" (site names or patterns)')
        return [], []
    if len(patterns) > MAX_SITES:
        raise RequestError(f'{len(patterns)} sites; at most {MAX_SITES} in one request')
    known = catalog.site_names()
    chosen = []
    for pattern in patterns:
        exclude = pattern.startswith('!')
        body = pattern[1:] if exclude else pattern
        regex = _compile(body)
        matched = [s for s in known if regex.fullmatch(s)]
        if not matched and not exclude:
            raise RequestError(f'unknown site {body}' if not any(c in body for c in '*?[')
                               else f'no site matches {body}')
        if exclude:
            chosen = [s for s in chosen if s not in matched]
        else:
            chosen += [s for s in matched if s not in chosen]
    if not chosen:
        raise RequestError(f'the sites {", ".join(patterns)} leave no site')
    return sorted(chosen), patterns


def check_group(catalog, group):
    if not isinstance(group, str) or not group.strip():
        raise RequestError('invalid group: expected a group name')
    group = group.strip()
    if not catalog.has_group(group):
        raise RequestError(f'unknown group {group}')
    return group


def parse_count(value, name='n', default=1, maximum=1000):
    if value is None or value == '':
        return default
    if isinstance(value, list):
        if len(value) != 1:
            raise RequestError(f'parameter "{name}" given {len(value)} times')
        value = value[0]
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise RequestError(f'parameter "{name}" has an invalid value {value!r}: expected a number') from None
    if number < 0 or number > maximum:
        raise RequestError(f'parameter "{name}" must be between 0 and {maximum}, got {number}')
    return number


def parse_id(value, name='request_id'):
    if value is None or value == '':
        return None
    if isinstance(value, list):
        if len(value) != 1:
            raise RequestError(f'parameter "{name}" given {len(value)} times')
        value = value[0]
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isascii()
                                                                  and value.isdigit() and len(value) < 19)):
        raise RequestError(f'parameter "{name}" has an invalid value {value!r}: expected a request id')
    return int(value)


# ------------------------------------------------------------------------ what an image holds of an item
def item_blocks(inventory, item):
    """The Block objects an item names ([] when its dataset or block is gone)."""
    dataset = inventory.datasets.get(item.dataset)
    if dataset is None:
        return []
    if item.block is None:
        return list(dataset.blocks)
    block = inventory.find_block(dataset, item.block)
    return [] if block is None else [block]


def item_state(inventory, item, site_name, group=None):
    """What `site_name` holds of `item`: None (nothing), 'partial' (some of its blocks),
    'incomplete' (every block, not all complete) or 'complete'. With `group`, only block
    replicas it owns count; without, only owned ones (not the null group's)."""
    site = inventory.sites.get(site_name)
    blocks = item_blocks(inventory, item)
    if site is None or not blocks:
        return None
    replica = site.find_dataset_replica(item.dataset)
    if replica is None:
        return None
    here = {br.block.name: br for br in replica.block_replicas
            if (br.group.name == group if group is not None else br.group.name is not None)}
    present = [here.get(b.name) for b in blocks]
    found = [br for br in present if br is not None]
    if not found:
        return None
    if len(found) < len(blocks):
        return 'partial'
    return 'complete' if all(br.is_complete() for br in found) else 'incomplete'
