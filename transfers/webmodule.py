"""The `request` web module: /data/request/copy, pollcopy, cancelcopy, delete, polldelete.

Parameters come as the original client sends them: a form-encoded POST (`item[]=...&site[]=...`),
a query string or a JSON body (whose keys win). Creating and cancelling need an authenticated
caller (a client certificate or the trusted proxy's header); they write only the requests'
registry, never the inventory, so they are not write modules of the web: a form POST is accepted
(no cookie session can authenticate here). Errors are 400s naming the item, site or group.
"""
from contextlib import contextmanager

from execution.runtime import RUNTIME
from transfers import resolve, selectors, services
from webmodules.base import AuthorizationError, InvalidRequest, MethodNotAllowed, Param, WebModule, yesno
from webmodules.schemas import ANY, BOOLEAN, INTEGER, ISO_TIME, STRING, array, nullable, obj

DEFAULT_GROUP = 'AnalysisOps'
PAGE = 100           # requests a poll answers unless it asks for more (limit, offset)

# the API description (webmodules/openapi.py)
_LIST = {'type': ['string', 'array'], 'items': {'type': 'string'}}
_ITEM = Param('item', 'pattern', description='datasets or DATASET#BLOCK (repeatable, also item[])')
_SITE = Param('site', 'pattern', description='site names or patterns (repeatable, also site[]; !pattern excludes)')
_REQUEST_ID = Param('request_id', 'integer', description='the request')
_ACTION = obj({'item': STRING, 'site': STRING, 'status': STRING, 'reason': nullable(STRING), 'updated': nullable(ISO_TIME)},
              extra=True)
_RECORD = obj({'request_id': INTEGER, 'item': ANY, 'site': ANY, 'site_patterns': ANY, 'status': STRING,
               'reason': nullable(STRING), 'user': nullable(STRING), 'dn': nullable(STRING), 'comment': nullable(STRING),
               'request_count': INTEGER, 'first_request': nullable(ISO_TIME), 'last_request': nullable(ISO_TIME),
               'updated': nullable(ISO_TIME), 'actions': array(_ACTION)},
              required=['request_id', 'item', 'site', 'status', 'actions'], extra=True)
_POLL = (Param('request_id', 'integer', description='requests by id (repeatable)'),
         Param('item', 'pattern', description='requests naming these items (a dataset also finds its blocks)'),
         Param('site', 'pattern', description='requests at these sites'),
         Param('status', description='requests in these states (repeatable)'),
         Param('user', description='requests of these users (repeatable)'),
         Param('limit', 'integer', default=PAGE, description='at most 10000'), Param('offset', 'integer', default=0))


def _params(module, request):
    params = dict(request)
    if isinstance(module.input_data, dict):
        params.update(module.input_data)
    elif module.input_data is not None:
        raise InvalidRequest('the JSON body must be an object of parameters')
    return params


def _no_get(module, path):
    # (views set `method` on the module when they know it; a GET must not change anything)
    if getattr(module, 'method', None) == 'GET':
        raise MethodNotAllowed(f'{path} changes the registry: send a POST request (form or JSON)')


@contextmanager
def _registry():
    """The registry's reads and writes need no RAM image: the dispatcher's read lock on it is let
    go meanwhile. (A writer of the inventory holds the database before it takes the image's lock;
    a reader waiting for the database with the image's lock held would block it, and on SQLite,
    where the database is one lock, wait for it in turn.)"""
    RUNTIME.lock.release_read()
    try:
        yield
    finally:
        RUNTIME.lock.acquire_read()


def _text(params, name, default=''):
    value = params.get(name, default)
    if isinstance(value, list):
        value = ' '.join(str(v) for v in value)
    return '' if value is None else str(value)


def _call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except resolve.NotAllowed as exc:
        raise AuthorizationError(str(exc)) from None
    except resolve.RequestError as exc:
        raise InvalidRequest(str(exc)) from None


class _Base(WebModule):
    def default_group(self):
        conf = self.config.get('request') or {}
        conf = conf.get('copy') or {} if isinstance(conf, dict) else {}
        return conf.get('default_group') or DEFAULT_GROUP


class Copy(_Base):
    """Ask for copies (POST, form or JSON): `item` (repeatable, `item[]`; datasets or
    dataset#block), `site` (names or patterns, `!pattern` excludes), `group` (default
    AnalysisOps), `n` (copies among the sites; 0 = one at every site; default 1), `comment`;
    `request_id` to change a request that is still new. An open request containing all the items
    and sites is reused (its request_count rises). Returns the request's record (in a list)."""
    must_authenticate = True
    methods = ('POST',)
    parameters = (_ITEM, _SITE, Param('group', description=f'the owning group (default {DEFAULT_GROUP})'),
                  Param('n', 'integer', default=1, description='copies among the sites; 0 = one at every site'),
                  Param('comment'), Param('request_id', 'integer', description='change this request (still new)'))
    request_body = obj({'item': _LIST, 'site': _LIST, 'group': STRING, 'n': {'type': ['integer', 'string']},
                        'comment': STRING, 'request_id': {'type': ['integer', 'string']}}, required=[])
    response = array(_RECORD)

    def run(self, caller, request, inventory):
        _no_get(self, '/data/request/copy')
        params = _params(self, request)
        catalog = resolve.InventoryCatalog(inventory)
        items = _call(resolve.resolve_items, catalog, params.get('item'))
        sites, patterns = _call(resolve.expand_sites, catalog, params.get('site'))
        group = _call(resolve.check_group, catalog, params.get('group') or self.default_group())
        n = _call(resolve.parse_count, params.get('n'))
        request_id = _call(resolve.parse_id, params.get('request_id'))
        with _registry():
            req, what = _call(services.copy_request_create, user=caller.name, dn=caller.dn or '', items=items,
                              sites=sites, site_patterns=patterns, group=group, num_copies=n,
                              comment=_text(params, 'comment'), request_id=request_id)
            self.message = f'copy request {req.id} {what}'
            return selectors.copy_requests_poll(request_ids=[req.id])


def _poll_filters(params):
    filters = {}
    ids = [resolve.parse_id(v) for v in resolve.listed(params.get('request_id'), 'request_id')]
    if ids:
        filters['request_ids'] = ids
    for param, key in (('item', 'items'), ('site', 'sites'), ('status', 'statuses'), ('user', 'users')):
        values = resolve.listed(params.get(param), param)
        if values:
            filters[key] = values
    filters['limit'] = resolve.parse_count(params.get('limit'), 'limit', PAGE, selectors.MAX_LIMIT) or PAGE
    filters['offset'] = resolve.parse_count(params.get('offset'), 'offset', 0, 10 ** 9)
    return filters


def _page(module, filters, poll):
    records = _call(poll, **filters)
    if len(records) == filters['limit']:
        module.message = (f'the newest {len(records)} matching requests from {filters["offset"]}; more with '
                          f'offset={filters["offset"] + len(records)}')
    return records


class PollCopy(_Base):
    """Copy requests, newest first, with their actions: by `request_id`, `item` (a dataset also
    finds requests of its blocks), `site`, `status`, `user` (each repeatable; items and sites may
    be patterns); `limit` (default 100, at most 10000), `offset`."""
    methods = ('GET', 'POST')
    parameters = _POLL
    response = array(_RECORD)

    def run(self, caller, request, inventory):
        params = _params(self, request)
        with _registry():
            return _page(self, _call(lambda: _poll_filters(params)), selectors.copy_requests_poll)


class _Cancel(_Base):
    must_authenticate = True
    methods = ('POST',)
    parameters = (_REQUEST_ID,)
    request_body = obj({'request_id': {'type': ['integer', 'string']}}, required=[])
    response = array(_RECORD)
    kind = path = cancel = poll = None      # set by each kind

    def run(self, caller, request, inventory):
        _no_get(self, self.path)
        params = _params(self, request)
        request_id = _call(resolve.parse_id, params.get('request_id'))
        if request_id is None:
            raise InvalidRequest('missing required parameter "request_id"')
        with _registry():
            req = _call(type(self).cancel, request_id=request_id, caller=caller)
            self.message = f'{self.kind} request {req.id} cancelled'
            return type(self).poll(request_ids=[req.id])


class CancelCopy(_Cancel):
    """Cancel copy request `request_id` (POST; its owner, or an operator/admin of target request)."""
    kind, path = 'copy', '/data/request/cancelcopy'
    cancel, poll = staticmethod(services.copy_request_cancel), staticmethod(selectors.copy_requests_poll)


class Delete(_Base):
    """Ask for deletions (POST, form or JSON): `item` and `site` as for copy (both required),
    `comment`, `allow_last_copy` (yes/no; admins only). Callers need a role on target request.
    The request is carried out by the next request tracking cycle."""
    must_authenticate = True
    methods = ('POST',)
    parameters = (_ITEM, _SITE, Param('comment'), Param('allow_last_copy', 'yesno', description='admins only'))
    request_body = obj({'item': _LIST, 'site': _LIST, 'comment': STRING,
                        'allow_last_copy': {'type': ['boolean', 'string']}}, required=[])
    response = array(_RECORD)

    def run(self, caller, request, inventory):
        _no_get(self, '/data/request/delete')
        params = _params(self, request)
        catalog = resolve.InventoryCatalog(inventory)
        items = _call(resolve.resolve_items, catalog, params.get('item'))
        sites, patterns = _call(resolve.expand_sites, catalog, params.get('site'))
        allow = params.get('allow_last_copy')
        allow = allow if isinstance(allow, bool) else yesno({'allow_last_copy': allow}, 'allow_last_copy', False)
        with _registry():
            req, what = _call(services.deletion_request_create, caller=caller, items=items, sites=sites,
                              site_patterns=patterns, allow_last_copy=allow, comment=_text(params, 'comment'))
            self.message = f'deletion request {req.id} {what}'
            return selectors.deletion_requests_poll(request_ids=[req.id])


class PollDelete(_Base):
    """Deletion requests, newest first (filters as pollcopy)."""
    methods = ('GET', 'POST')
    parameters = _POLL
    response = array(_RECORD)

    def run(self, caller, request, inventory):
        params = _params(self, request)
        with _registry():
            return _page(self, _call(lambda: _poll_filters(params)), selectors.deletion_requests_poll)


class CancelDelete(_Cancel):
    """Cancel deletion request `request_id` while it is still new (POST)."""
    kind, path = 'deletion', '/data/request/canceldelete'
    cancel, poll = staticmethod(services.deletion_request_cancel), staticmethod(selectors.deletion_requests_poll)


export_data = {'copy': Copy, 'pollcopy': PollCopy, 'cancelcopy': CancelCopy, 'delete': Delete,
               'polldelete': PollDelete, 'canceldelete': CancelDelete}
