"""The `detox` web module: cycles, their decisions and the locks (/data/detox/...), and the page
/web/detox (per-site bars of protected / kept / deleted against the quota, the policy with a hit
count per line, the decisions table with filters).

Reads come from Detox's records (detox/selectors.py); lock and unlock are POST requests with a
JSON body, for users with the role user, operator or admin on target detox (unlocking another
user's lock takes operator or admin).
"""
import time

from detox import selectors, services
from policy import parse_time
from webmodules.base import (AuthenticationRequired, AuthorizationError, HTMLMixin, IllFormedRequest,
                             InvalidRequest, NotFound, Param, WebModule, count, yesno)
from webmodules.schemas import (BOOLEAN, BYTES, INTEGER, ISO_TIME, NUMBER, STRING, array, enum, mapping,
                                nullable, obj)

MAX_DECISIONS = 100_000          # rows one answer may hold; more page by page (limit, offset)
LOCK_ROLES = ('user', 'operator', 'admin')
UNLOCK_OTHERS_ROLES = ('operator', 'admin')


# ------------------------------------------------------------------------------------- schemas
_QUOTA = {'type': 'integer', 'description': 'bytes; 0 nothing allowed, negative unlimited'}
_CYCLE = {'id': INTEGER, 'partition': STRING, 'test': BOOLEAN, 'state': enum('committed', 'test', 'stopped'),
          'started': ISO_TIME, 'finished': ISO_TIME, 'comment': STRING, 'user': STRING, 'num_sites': INTEGER,
          'num_triggered': INTEGER, 'num_decisions': INTEGER,
          'num_deletions': {'type': 'integer', 'description': 'block replicas handed to the null group'},
          'deleted_bytes': BYTES, 'num_skipped': INTEGER, 'stop_reason': nullable(STRING),
          'decisions_kept': {'type': 'boolean', 'description': 'its decision rows are still kept'}}
_CYCLE_FULL = dict(_CYCLE, policy_sha256=STRING, application=nullable(INTEGER),
                   now={'type': 'number', 'description': "the UNIX time the policy's relative times were read against"},
                   num_handovers=INTEGER, protected_bytes=BYTES, kept_bytes=BYTES,
                   used_bytes={'type': 'integer', 'description': 'the partition at the target sites before the cycle'},
                   iterations=INTEGER, seq=nullable(INTEGER), policy=STRING, policy_filename=STRING,
                   sites=array(obj({'site': STRING, 'quota': _QUOTA,
                                    'usage_before': BYTES, 'usage_after': BYTES,
                                    'occupancy_before': nullable(NUMBER), 'occupancy_after': nullable(NUMBER),
                                    'protected': BYTES, 'kept': BYTES, 'deleted': BYTES, 'handed_over': BYTES,
                                    'skipped': BYTES, 'triggered': BOOLEAN, 'until_reached': BOOLEAN})),
                   lines=array(obj({'line': INTEGER, 'text': STRING, 'decisions': INTEGER, 'bytes': BYTES}),
                               'the policy text line by line, with the decisions each line made'),
                   warnings=array(STRING), timings=mapping(NUMBER, 'seconds per phase'),
                   replica_evaluations=INTEGER, line_evaluations=INTEGER)
_DECISION = obj({'site': STRING, 'dataset': STRING, 'decision': enum('delete', 'keep', 'protect'),
                 'blocks': nullable(array(STRING)), 'size': BYTES,
                 'line': {'type': 'integer', 'description': 'the number of the policy line that decided'},
                 'text': STRING})
_LOCK = obj({'id': INTEGER, 'item': STRING, 'sites': nullable(STRING), 'groups': nullable(STRING),
             'comment': STRING, 'user': STRING, 'created': ISO_TIME, 'expires': nullable(ISO_TIME),
             'unlocked': nullable(ISO_TIME), 'unlocked_by': nullable(STRING),
             'state': enum('locked', 'expired', 'unlocked')})
_NAMES = {'type': ['array', 'string'], 'items': STRING, 'description': 'a name or a list of names'}
_LOCK_FILTERS = (Param('item', 'pattern', description='locks whose item matches', example='/SingleMuon/*'),
                 Param('site', 'string', description='locks that apply at this site'),
                 Param('user', 'string', description='locks of this user'),
                 Param('id', 'integer', description='this lock only'),
                 Param('all', 'yesno', description='also the ended (expired or unlocked) locks', default='n'))


def _one(request, name):
    value = request.get(name)
    if isinstance(value, list):
        value = ','.join(str(v) for v in value)
    return value


def _cycle(request, name='id'):
    value = _one(request, name)
    if value is None:
        value = 'latest'
    if value != 'latest' and not (isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 15):
        raise IllFormedRequest(name, value, 'expected a cycle id or "latest"')
    try:
        return selectors.cycle_get(value if value == 'latest' else int(value))
    except selectors.NoSuchCycle as exc:
        raise NotFound(str(exc)) from None


class Cycles(WebModule):
    """Detox cycles, newest first: id, partition, test or real, state, start and end, comment,
    counts. Filters: `partition`, `test` (y/n); `limit` (default 100)."""
    parameters = (Param('partition', 'string', description='cycles of this partition'),
                  Param('test', 'yesno', description='test cycles only (y) or real ones only (n)'),
                  Param('limit', 'integer', description='at most this many', default=100))
    response = array(obj(_CYCLE))

    def run(self, caller, request, inventory):
        limit = count(request, 'limit', maximum=10000) or 100
        rows = selectors.cycles(partition=_one(request, 'partition'), test=yesno(request, 'test'), limit=limit)
        self.message = f'{len(rows)} cycles'
        return rows


class CycleDetail(WebModule):
    """Cycle `id` (or `latest`, the default): its record, the policy text with the decisions of
    each line (`lines`), the per-site summaries (quota, usage and occupancy before and after,
    bytes protected / kept / deleted / handed over / skipped), warnings and timings."""
    parameters = (Param('id', 'string', description='a cycle id or latest', example='latest', default='latest'),)
    response = obj(_CYCLE_FULL)

    def run(self, caller, request, inventory):
        cycle = _cycle(request)
        self.message = f'cycle {cycle.id} ({cycle.state})'
        return selectors.cycle_detail(cycle)


class Decisions(WebModule):
    """The decisions of cycle `cycle` (an id or `latest`): site, dataset, decision (delete, keep,
    protect), blocks (null for every block replica of the dataset replica, else the block names),
    size in bytes, and the line number and text of the policy line that decided. Filters: `site`,
    `dataset` (shell patterns, comma-separated), `decision` (comma-separated). Paged with `limit`
    and `offset` (by site, dataset, line)."""
    parameters = (Param('cycle', 'string', description='a cycle id or latest', example='latest', default='latest'),
                  Param('site', 'pattern', description='site names'),
                  Param('dataset', 'pattern', description='dataset names'),
                  Param('decision', 'string', description='delete, keep or protect (comma-separated)'),
                  Param('limit', 'integer', description=f'rows (at most {MAX_DECISIONS})'),
                  Param('offset', 'integer', description='rows to skip', default=0))
    response = array(_DECISION)

    def run(self, caller, request, inventory):
        cycle = _cycle(request, 'cycle')
        if not selectors.cycle_has_decisions(cycle):
            raise NotFound(f'the decisions of cycle {cycle.id} are no longer kept (only the newest '
                           f'{services.keep_cycles()} cycles keep theirs)')
        decision = _one(request, 'decision')
        if decision:
            wrong = [d for d in decision.split(',') if d.strip() and d.strip() not in ('delete', 'keep', 'protect')]
            if wrong:
                raise IllFormedRequest('decision', decision, 'delete, keep or protect (comma-separated)')
        limit = count(request, 'limit', maximum=MAX_DECISIONS)
        offset = count(request, 'offset') or 0
        total, rows = selectors.decisions(cycle, site=_one(request, 'site'), dataset=_one(request, 'dataset'),
                                          decision=decision, offset=offset,
                                          limit=MAX_DECISIONS + 1 if limit is None else limit)
        if limit is None and total > MAX_DECISIONS:
            raise InvalidRequest(f'{total} decisions match, more than the {MAX_DECISIONS} one answer holds: '
                                 f'filter by site, dataset or decision, or page with limit and offset')
        self.message = f'cycle {cycle.id}: ' + (f'{total} decisions' if limit is None and not offset else
                                                f'decisions {offset + 1}-{offset + len(rows)} of {total}')
        return rows


# ------------------------------------------------------------------------------------- locks
def _names(value, what):
    if value is None:
        return None
    if isinstance(value, str):
        value = [v for v in value.split(',')]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise IllFormedRequest(what, value, 'a name or a list of names')
    return [v.strip() for v in value if v.strip()] or None


LATEST_EXPIRY = 253402300799          # 9999-12-31T23:59:59Z


def _expiry(value):
    if value is None or value == '':
        return None
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            when = float(value)
        else:
            when = parse_time(str(value), time.time())
    except (ValueError, OverflowError) as exc:
        raise IllFormedRequest('expires', value, str(exc)) from None
    if not 0 <= when <= LATEST_EXPIRY:      # (NaN fails both)
        raise IllFormedRequest('expires', value, 'a time between 1970 and 9999')
    return when


def _may_lock(caller):
    if not caller.is_authenticated:
        raise AuthenticationRequired('locking needs an authenticated caller (HTTPS with a client certificate)')
    if not caller.has_any_role(LOCK_ROLES, 'detox'):
        raise AuthorizationError(f'{caller.name} needs the role user, operator or admin on target detox to lock or '
                                 f'unlock')


def lock_list(request):
    lock_id = _one(request, 'id')
    if lock_id is not None and not (isinstance(lock_id, str) and lock_id.isdigit() and len(lock_id) <= 15):
        raise IllFormedRequest('id', lock_id, 'expected a lock id')
    return selectors.lock_rows(item=_one(request, 'item'), site=_one(request, 'site'), user=_one(request, 'user'),
                               lock_id=int(lock_id) if lock_id else None,
                               include_ended=bool(yesno(request, 'all', False)))


def lock(caller, params):
    _may_lock(caller)
    items = _names(params.get('item', params.get('items')), 'item')
    try:
        rows = services.lock_create(user=caller.name, items=items or [], sites=_names(params.get('sites',
                                    params.get('site')), 'sites'), groups=_names(params.get('groups',
                                    params.get('group')), 'groups'), comment=str(params.get('comment') or ''),
                                    expires=_expiry(params.get('expires')))
    except services.LockError as exc:
        raise InvalidRequest(str(exc)) from None
    return [selectors.lock_row(r) for r in rows]


def unlock(caller, params):
    _may_lock(caller)
    ids = params.get('id', params.get('ids'))
    if ids is not None:
        ids = ids if isinstance(ids, list) else [ids]
        try:
            ids = [int(i) for i in ids if not isinstance(i, bool)]
        except (TypeError, ValueError, OverflowError):
            raise IllFormedRequest('id', params.get('id'), 'lock ids') from None
        if not all(0 < i < 2 ** 63 for i in ids):
            raise IllFormedRequest('id', params.get('id'), 'lock ids')
    try:
        others = caller.has_any_role(UNLOCK_OTHERS_ROLES, 'detox')
        rows = services.lock_release(by=caller.name, may_release_others=others, lock_ids=ids,
                                     items=_names(params.get('item', params.get('items')), 'item'),
                                     sites=_names(params.get('sites', params.get('site')), 'sites'))
    except services.LockError as exc:
        raise InvalidRequest(str(exc)) from None
    except PermissionError as exc:
        raise AuthorizationError(str(exc)) from None
    return [selectors.lock_row(r) for r in rows]


class Lock(WebModule):
    """The live locks, newest first (`blockreplica.is_locked` reads them): id, item (a dataset or
    dataset#block, wildcards allowed), sites and groups (patterns; null for any), comment, user,
    created, expires. Filters: `item`, `site`, `user`, `id`; `all=y` includes ended ones. Make
    and end locks with POST requests to /data/detox/lock/lock and /data/detox/lock/unlock."""
    parameters = _LOCK_FILTERS
    response = array(_LOCK)

    def run(self, caller, request, inventory):
        if self.input_data is not None or request.get('action') not in (None, 'list'):
            raise InvalidRequest('lock with a POST to /data/detox/lock/lock and unlock with a POST to '
                                 '/data/detox/lock/unlock (JSON body, Content-Type: application/json)')
        rows = lock_list(request)
        self.message = f'{len(rows)} locks'
        return rows


class LockLock(WebModule):
    """Make locks (POST, JSON body): `item` (datasets or dataset#block names, wildcards allowed),
    `sites` (site patterns; none: every site), `groups` (owner patterns; none: any owner),
    `comment`, `expires` ("2 weeks", an ISO date or a UNIX time; none: until unlocked). One lock
    per item, site and group. Role user, operator or admin on target detox."""
    parameters = ()
    request_body = obj({'item': _NAMES, 'sites': _NAMES, 'groups': _NAMES, 'comment': STRING,
                        'expires': {'type': ['string', 'number'], 'description': 'a time to come ("2 weeks", an ISO '
                                                                                 'date) or a UNIX time; none: until '
                                                                                 'unlocked'}},
                       required=['item'])
    response = array(_LOCK)
    must_authenticate = True
    changes_state = True

    def run(self, caller, request, inventory):
        rows = lock(caller, self.input_data if isinstance(self.input_data, dict) else {})
        self.message = f'{len(rows)} locks made'
        return rows


class LockUnlock(WebModule):
    """End locks (POST, JSON body): `id` (lock ids) or `item` (and `sites`, as they were given).
    The caller's own locks; with the role operator or admin on target detox, anyone's."""
    parameters = ()
    request_body = obj({'id': {'type': ['array', 'integer'], 'items': INTEGER}, 'item': _NAMES, 'sites': _NAMES},
                       required=[], description='give `id`, or `item` (and `sites`)')
    response = array(_LOCK)
    must_authenticate = True
    changes_state = True

    def run(self, caller, request, inventory):
        rows = unlock(caller, self.input_data if isinstance(self.input_data, dict) else {})
        self.message = f'{len(rows)} locks ended'
        return rows


class LockList(WebModule):
    """The live locks (as GET /data/detox/lock)."""
    parameters = _LOCK_FILTERS
    response = array(_LOCK)

    def run(self, caller, request, inventory):
        rows = lock_list(request)
        self.message = f'{len(rows)} locks'
        return rows


# ------------------------------------------------------------------------------------- the page
class DetoxPage(HTMLMixin, WebModule):
    """The latest cycle (or `cycle=N`): per-site bars, the policy with hits, the decisions."""
    parameters = (Param('cycle', 'string', description='a cycle id or latest', default='latest'),)
    title = 'Detox'
    template = 'detox/detox.html'
    scripts = ('detox/detox.js',)
    stylesheets = ('detox/detox.css',)

    def run(self, caller, request, inventory):
        cycle = request.get('cycle')
        if cycle is not None and not (isinstance(cycle, str) and (cycle == 'latest' or cycle.isdigit())):
            raise IllFormedRequest('cycle', cycle, 'a cycle id or "latest"')
        return self.page(caller=caller, context={'cycle': cycle or 'latest'})


export_data = {'cycles': Cycles, 'cycle': CycleDetail, 'decisions': Decisions, 'lock': Lock,
               'lock/lock': LockLock, 'lock/unlock': LockUnlock, 'lock/list': LockList}
export_web = {'': DetoxPage, 'cycle': DetoxPage}
