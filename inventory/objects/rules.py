"""The project's rules for names and values of inventory objects: the one place that says which
names and numbers a user may give (injection, web writes, applications; see docs/injection.md).

Checked where users create or change objects (`Inventory.update` outside a replay, injection
documents), never when the store loads an image: what is in the database was accepted once.
The limits are the project's own and the same on every database; each is at most its column's.
"""
import json
import re

from .base import ObjectError

MAX_SIZE = 2 ** 63 - 1          # bytes: sizes, quotas, and the sums of sizes per block and dataset
MAX_TIME = 2 ** 63 - 1          # UNIX seconds (last_update)
MAX_FILES = 2 ** 31 - 1         # files per block
MAX_TEXT = 255                  # host, backend, software_version (as JSON), checksums (as JSON)
MAX_PROXY = 512                 # x509proxy
MAX_LONG_TEXT = 65535           # filename_mapping (as JSON) and partition conditions, in UTF-8 bytes


class _NameRule:
    __slots__ = ('kind', 'max_length', 'chars', 'regex', 'text', 'path', 'spaces')

    def __init__(self, kind, max_length, chars, text, path=False, spaces=False):
        self.kind = kind
        self.max_length = max_length
        self.chars = re.compile(f'[{chars}]')
        if path:
            # '/'-separated segments, an optional leading '/'; '.' and '..' segments are refused
            self.regex = re.compile(f'/?[{chars}]+(?:/[{chars}]+)*')
        elif spaces:
            # words separated by single spaces (the original's groups: 'IB RelVal')
            self.regex = re.compile(f'[A-Za-z0-9][{chars}]*(?: [{chars}]+)*')
        else:
            self.regex = re.compile(f'[A-Za-z0-9][{chars}]*')
        self.text = text
        self.path = path
        self.spaces = spaces


_WORD = 'A-Za-z0-9_.-'
NAME_RULES = {rule.kind: rule for rule in (
    _NameRule('site', 64, _WORD, "letters, digits, '_', '-' and '.', starting with a letter or a digit"),
    _NameRule('group', 64, _WORD, "letters, digits, '_', '-' and '.', starting with a letter or a digit, and "
                                  "single spaces between words ('IB RelVal')", spaces=True),
    _NameRule('partition', 64, _WORD,
              "letters, digits, '_', '-' and '.', starting with a letter or a digit"),
    _NameRule('dataset', 512, 'A-Za-z0-9_.+-',
              "segments of letters, digits, '_', '-', '.' and '+' separated by single '/' (an optional "
              "leading '/', no trailing '/', no '.' or '..' segment)", path=True),
    _NameRule('block', 128, 'A-Za-z0-9_.+:-',
              "letters, digits, '_', '-', '.', '+' and ':', starting with a letter or a digit"),
    _NameRule('file', 512, 'A-Za-z0-9_.+=:~,-',
              "segments of letters, digits and '_-.+=:~,' separated by single '/' (an optional leading "
              "'/', no trailing '/', no '.' or '..' segment)", path=True),
)}

CHECKSUM_ALGORITHMS = ('adler32', 'crc32', 'md5', 'sha1', 'sha256', 'sha512')
_CHECKSUM_VALUE = re.compile(r'[A-Za-z0-9+/=:_-]+')


def _show(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:60] + '...' + text[-12:]


def check_name(kind, name):
    """`name` if it is a valid name for an object of `kind`, else ObjectError naming the rule."""
    rule = NAME_RULES[kind]
    if not isinstance(name, str) or not name:
        raise ObjectError(f'{kind} name must be a non-empty string, got {_show(name)}')
    if len(name) > rule.max_length:
        raise ObjectError(f'{kind} name {_show(name)} is {len(name)} characters long; the limit is '
                          f'{rule.max_length}')
    if rule.regex.fullmatch(name) is None or (rule.path and _dot_segment(name)):
        raise ObjectError(f'{kind} name {_show(name)} is not allowed ({_why(rule, name)}): a {kind} '
                          f'name is made of {rule.text}')
    return name


def _dot_segment(name):
    return any(s in ('.', '..') for s in name.split('/'))


def _why(rule, name):
    """What breaks the rule, for the error message."""
    if name != name.strip():
        return 'leading or trailing white space'
    for position, char in enumerate(name):
        if not (rule.chars.fullmatch(char) or (rule.path and char == '/') or (rule.spaces and char == ' ')):
            return f'{_show(char)} at position {position}'
    if rule.spaces and '  ' in name:
        return 'two spaces in a row'
    if rule.path:
        if '//' in name:
            return "an empty segment '//'"
        if name.endswith('/'):
            return "a trailing '/'"
        if _dot_segment(name):
            return "a '.' or '..' segment"
        return "a lone '/'"
    return 'it does not start with a letter or a digit'


def check_lookup_name(kind, name):
    """A name used only to find an existing object (deletion): any non-empty text a database can
    hold, so that objects named before these rules existed can still be named."""
    if not isinstance(name, str) or not name:
        raise ObjectError(f'{kind} name must be a non-empty string, got {_show(name)}')
    check_text(f'{kind} name', name, NAME_RULES[kind].max_length)
    return name


_FORBIDDEN_TEXT = re.compile('[\x00-\x1f\x7f-\x9f\ud800-\udfff]')


def check_text(what, value, limit, *, none=False):
    """Free text (host, backend, ...): a string of at most `limit` characters that a database can
    store (no lone surrogate) and without control characters."""
    if value is None and none:
        return value
    if not isinstance(value, str):
        raise ObjectError(f'{what} must be a string, got {_show(value)}')
    if len(value) > limit:
        raise ObjectError(f'{what} is {len(value)} characters long; the limit is {limit}')
    bad = _FORBIDDEN_TEXT.search(value)   # one regex pass: per-character Python loops cost 25 µs an LFN
    if bad is not None:
        raise ObjectError(f'{what} {_show(value)} contains {_show(bad.group())} at position {bad.start()}: '
                          f'control characters and lone surrogates are not allowed')
    return value


def check_integer(what, value, minimum, maximum):
    if isinstance(value, bool) or not isinstance(value, int):
        raise ObjectError(f'{what} must be an integer, got {_show(value)}')
    if value < minimum:
        raise ObjectError(f'{what} must be at least {minimum}, got {value}')
    if value > maximum:
        raise ObjectError(f'{what} {value} is over the limit {maximum} (2**{maximum.bit_length()} - 1)')
    return value


def check_size(what, value):
    return check_integer(what, value, 0, MAX_SIZE)


def check_time(what, value):
    return check_integer(what, value, 0, MAX_TIME)


def check_software_version(what, value):
    """None, a string, or a list/tuple of strings and integers; at most MAX_TEXT characters as JSON."""
    if value is None:
        return value
    items = value if isinstance(value, (tuple, list)) else (value,)
    for item in items:
        if isinstance(item, str):
            check_text(what, item, MAX_TEXT)
        elif isinstance(item, bool) or not isinstance(item, int) or abs(item) > MAX_SIZE:
            raise ObjectError(f'{what} must be a string or a list of strings and integers, got '
                              f'{_show(value)}')
    if isinstance(value, (tuple, list)) and not value:
        raise ObjectError(f'{what} must not be an empty list')
    encoded = json.dumps(list(value) if isinstance(value, tuple) else value)
    if len(encoded) > MAX_TEXT:
        raise ObjectError(f'{what} is {len(encoded)} characters long as JSON; the limit is {MAX_TEXT}')
    return value


def check_checksum(what, checksum):
    """((algorithm, value), ...): known algorithms, once each; at most MAX_TEXT characters as JSON."""
    seen = set()
    for pair in checksum:
        algorithm, value = pair
        if algorithm not in CHECKSUM_ALGORITHMS:
            raise ObjectError(f'{what}: unknown checksum algorithm {_show(algorithm)} (known: '
                              f'{", ".join(CHECKSUM_ALGORITHMS)})')
        if algorithm in seen:
            raise ObjectError(f'{what}: checksum {algorithm} is given twice')
        seen.add(algorithm)
        if not isinstance(value, str) or _CHECKSUM_VALUE.fullmatch(value) is None:
            raise ObjectError(f'{what}: checksum {algorithm} {_show(value)} must be letters, digits '
                              f"and '+/=:_-'")
    encoded = json.dumps([list(p) for p in checksum])
    if len(encoded) > MAX_TEXT:
        raise ObjectError(f'{what}: the checksums are {len(encoded)} characters long as JSON; the '
                          f'limit is {MAX_TEXT}')
    return checksum


def check_long_text(what, text):
    try:
        size = len(text.encode('utf-8'))
    except UnicodeEncodeError as exc:
        raise ObjectError(f'{what} contains a lone surrogate at position {exc.start}') from None
    if size > MAX_LONG_TEXT:
        raise ObjectError(f'{what} is {size} bytes long; the limit is {MAX_LONG_TEXT}')
    return text


def check_filename_mapping(what, mapping):
    for protocol in mapping:
        check_text(f'{what} protocol', protocol, 64)
    try:
        text = json.dumps(mapping, sort_keys=True)
    except (TypeError, ValueError):
        raise ObjectError(f'{what} must map protocols to lists of [[lfn_regex, pfn_format], ...]') from None
    return check_long_text(what, text)


# ---------------------------------------------------------------- per object (duck-typed: no imports)
def check_dataset(dataset, new):
    if new:
        check_name('dataset', dataset.name)
    where = f'dataset {dataset.name}'
    check_software_version(f'{where}: software_version', dataset.software_version)
    check_time(f'{where}: last_update', dataset.last_update)


def check_block(block, new):
    if new:
        check_name('block', block.name)
    where = f'block {block.full_name()}'
    check_size(f'{where}: size', block.size)
    check_integer(f'{where}: num_files', block.num_files, 0, MAX_FILES)
    check_time(f'{where}: last_update', block.last_update)


def check_file(lfile, new):
    if new:
        check_name('file', lfile.lfn)
    check_size(f'file {lfile.lfn}: size', lfile.size)
    check_checksum(f'file {lfile.lfn}', lfile.checksum)


def check_site(site, new):
    if new:
        check_name('site', site.name)
    where = f'site {site.name}'
    check_text(f'{where}: host', site.host, MAX_TEXT)
    check_text(f'{where}: backend', site.backend, MAX_TEXT)
    check_text(f'{where}: x509proxy', site.x509proxy, MAX_PROXY, none=True)
    check_filename_mapping(f'{where}: filename_mapping', site.filename_mapping)


def check_group(group, new):
    if new and group.name is not None:
        check_name('group', group.name)


def check_partition(partition, new):
    if new:
        check_name('partition', partition.name)
        if partition.condition is not None:
            check_long_text(f'partition {partition.name}: condition', partition.condition.text)


def check_quota(site_partition):
    check_integer(f'quota of {site_partition.site_name} in {site_partition.partition_name}',
                  site_partition._quota, -MAX_SIZE, MAX_SIZE)


def check_block_replica(replica):
    where = f'replica of block {replica.block_full_name} at {replica.site_name}'
    size = replica._size
    if size is not None:
        check_integer(f'{where}: size', size, -1, MAX_SIZE)
    check_time(f'{where}: last_update', replica.last_update)
