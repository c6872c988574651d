"""Template tags of the Dynamo pages: the navigation (the inventory's pages, then every loaded web
module's own page), human sizes and times, and links that keep a page's other parameters."""
import time
from urllib.parse import urlencode

from django import template
from django.utils.html import format_html, format_html_join

from webmodules.registry import get_registry

register = template.Library()

# the shipped pages first, in this order; other modules' index pages follow, by name
PRIMARY = (('Sites', '/web/inventory/sites', ('/web/inventory/', '/web/inventory/sites', '/web/inventory/site')),
           ('History', '/web/inventory/history', ('/web/inventory/history',)),
           ('Datasets', '/web/inventory/datasets', ('/web/inventory/datasets', '/web/inventory/dataset')),
           ('Replicas', '/web/inventory/replicas', ('/web/inventory/replicas',)),
           ('Applications', '/web/applications/', ('/web/applications/', '/web/applications/list')))
SHIPPED = {'inventory', 'applications'}


def navigation():
    """[(label, url, current paths)] of the header."""
    items = list(PRIMARY)
    for name, info in sorted(get_registry().modules.items()):
        if name in SHIPPED:
            continue
        page = info.web.get('')
        if page is None:
            continue
        label = getattr(page, 'nav_label', None) or getattr(page, 'title', None) or name
        items.append((label, f'/web/{name}/', tuple(f'/web/{name}/{n}' for n in info.web)))
    return items


@register.simple_tag
def nav_links(path=''):
    links = []
    for label, url, current in navigation():
        here = bool(path) and path in current
        links.append((url, ' aria-current="page"' if here else '', label))
    return format_html_join('\n', '<a href="{}"{}>{}</a>', ((u, _safe(a), label) for u, a, label in links))


def _safe(text):
    from django.utils.safestring import mark_safe
    return mark_safe(text)


@register.filter(name='bytes')
def human_bytes(value):
    """12.34 GB (decimal units)."""
    if value is None or value == '':
        return ''
    v = float(value)
    for unit, factor in (('PB', 1e15), ('TB', 1e12), ('GB', 1e9), ('MB', 1e6), ('kB', 1e3)):
        if abs(v) >= factor:
            return f'{v / factor:.2f}\u00a0{unit}'
    return f'{int(v)}\u00a0B'


@register.filter
def quota(value):
    """A quota as people read it: bytes, `none` (0: nothing allowed) or `unlimited` (negative)."""
    if value is None:
        return ''
    if value < 0:
        return 'unlimited'
    if value == 0:
        return 'none'
    return human_bytes(value)


@register.filter
def percent(value, digits=0):
    if value is None:
        return ''
    return f'{100 * value:.{int(digits)}f}\u00a0%'


@register.filter
def unixtime(value):
    if not value:
        return ''
    return time.strftime('%Y-%m-%d %H:%M', time.gmtime(float(value)))


@register.filter
def number(value):
    """1,234,567."""
    if value is None:
        return ''
    return f'{int(value):,}'


@register.simple_tag
def query(params, **changes):
    """'?a=1&b=2' of `params` (a dict) with `changes` applied (None removes a key)."""
    merged = {k: v for k, v in (params or {}).items() if v not in (None, '')}
    for key, value in changes.items():
        if value is None or value == '':
            merged.pop(key, None)
        else:
            merged[key] = value
    return '?' + urlencode(merged) if merged else '?'


@register.simple_tag
def sort_header(params, key, label, current, order, default_order='asc', css=''):
    """A table header that sorts by `key` (again: the other way round)."""
    if key == current:
        new_order = 'asc' if order == 'desc' else 'desc'
        state = 'sorted-asc' if order == 'asc' else 'sorted-desc'
        aria = 'ascending' if order == 'asc' else 'descending'
    else:
        new_order, state, aria = default_order, '', 'none'
    href = query(params, sort=key, order=new_order, page=None)
    return format_html('<th scope="col" class="{}" data-key="{}" aria-sort="{}"><a href="{}">{}</a></th>',
                       ' '.join(c for c in (css, state) if c), key, aria, href, label)
