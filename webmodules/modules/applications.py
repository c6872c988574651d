"""The `applications` web module: application records, output, kill, and submitting a script
(role operator or admin on target application; the same rules as `manage.py dynamo`)."""

from django.conf import settings

from execution import authorization, selectors
from execution import output
from execution.runtime import RUNTIME
from execution.services import applications
from execution.topology import TOPOLOGY, server_paths
from webmodules.base import (AuthorizationError, HTMLMixin, IllFormedRequest, InvalidRequest,
                             MissingParameter, Param, WebModule, yesno)
from webmodules.schemas import ANY, BOOLEAN, described, INTEGER, ISO_TIME, NUMBER, STRING, array, nullable, obj

ID = Param('id', 'integer', required=True, description='the application id')
STATES = ('new', 'assigned', 'run', 'done', 'failed', 'killed', 'notfound', 'authfailed')
# everyone sees the first fields; its owner and operators/admins of target application the others
RECORD = obj({'id': INTEGER, 'title': STRING, 'state': STRING, 'created': nullable(ISO_TIME),
              'started': nullable(ISO_TIME), 'finished': nullable(ISO_TIME), 'user': STRING, 'args': STRING,
              'script': STRING, 'write_request': BOOLEAN, 'exit_code': nullable(INTEGER), 'message': STRING,
              'server': STRING, 'seq': nullable(INTEGER), 'num_changes': nullable(INTEGER),
              'builtin': nullable(STRING), 'result': ANY},
             required=['id', 'title', 'state', 'created', 'started', 'finished'])


def _app(request, name='id'):
    value = request.get(name)
    if value is None:
        raise MissingParameter(name)
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or len(value) > 18:
        raise IllFormedRequest(name, value, 'expected an application id')
    return selectors.application_get(int(value))


def _number(request, name, default):
    value = request.get(name)
    if value is None:
        return default
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or len(value) > 15:
        raise IllFormedRequest(name, value, 'expected a number of bytes')
    return int(value)


class ListApps(WebModule):
    """Application records, newest first. Filters: `id` (that application only), `state`, `user`,
    `title`; `limit` (default 100)."""
    reads_image = False
    parameters = (Param('id', 'integer', description='that application only'),
                  Param('state', 'string', enum=STATES), Param('user', 'string', description='its submitter'),
                  Param('title', 'string'),
                  Param('limit', 'integer', default=100, description='the newest this many (1 to 10000)'))
    response = array(RECORD)

    def run(self, caller, request, inventory):
        if request.get('id') is not None:
            return [selectors.application_record(_app(request), caller=caller)]
        filters = {param: request[param] for param in ('state', 'user', 'title') if isinstance(request.get(param), str)}
        limit = request.get('limit', '100')
        if not isinstance(limit, str) or not limit.isascii() or not limit.isdigit() or not 0 < int(limit) <= 10000:
            raise IllFormedRequest('limit', limit, 'expected a number from 1 to 10000')
        return [selectors.application_record(a, caller=caller)
                for a in selectors.application_list(limit=int(limit), **filters)]


class Poll(WebModule):
    """The record of application `id` (state, exit code, timestamps, ...)."""
    reads_image = False
    parameters = (ID,)
    response = RECORD

    def run(self, caller, request, inventory):
        app = _app(request)
        self.message = app.state
        return selectors.application_record(app, caller=caller)


class Output(WebModule):
    """Output (stdout and stderr) of application `id`, live while it runs: for its owner and for
    operators and admins of target application. A window of at most 4 MiB: by default the last
    MiB; `offset` and `length` (bytes) choose another; `total` is the size of the whole."""
    reads_image = False
    parameters = (ID, Param('offset', 'integer', description='first byte of the window (default: the last MiB)'),
                  Param('length', 'integer', description='bytes of the window (at most 4 MiB)'))
    response = obj({'id': INTEGER, 'state': STRING, 'output': STRING, 'offset': INTEGER, 'total': INTEGER})

    def run(self, caller, request, inventory):
        app = _app(request)
        if not applications.may_control(caller, app):
            raise AuthorizationError(f'the output of application {app.id} is visible to its owner and to '
                                     f'operators and admins only' + ('' if caller.is_authenticated else
                                                                    ' (use HTTPS with a client certificate)'))
        offset, length = _number(request, 'offset', None), _number(request, 'length', output.WINDOW)
        if length > output.MAX_WINDOW:
            raise IllFormedRequest('length', request.get('length'), f'at most {output.MAX_WINDOW} bytes')
        text, offset, total = selectors.application_output(app, offset=offset, length=length)
        self.message = app.state
        return {'id': app.id, 'state': app.state, 'output': text, 'offset': offset, 'total': total}


class Kill(WebModule):
    """Stop application `id` (POST, JSON body or query; its owner, or an operator/admin on target
    application)."""
    reads_image = False
    must_authenticate = True
    changes_state = True
    parameters = (Param('id', 'integer', description='the application id (or in the body)'),)
    request_body = obj({'id': INTEGER})
    response = obj({'id': INTEGER, 'result': {'type': 'string', 'enum': ['killed', 'noaction']}})

    def run(self, caller, request, inventory):
        if isinstance(self.input_data, dict) and 'id' in self.input_data:
            request = dict(request, id=str(self.input_data['id']))
        app = _app(request)
        outcome = applications.application_kill(app_id=app.id, by=caller)
        if outcome.killed and app.state == 'new' and RUNTIME.hub is not None:
            RUNTIME.hub.publish(app.id, 'final', {'state': 'killed', 'exit_code': None,
                                                  'message': f'killed by {caller.name}'})
        if RUNTIME.wake is not None:
            RUNTIME.wake.set()
        self.message = 'killed' if outcome.killed else f'no action: the application had ended ({outcome.state})'
        return {'id': app.id, 'result': 'killed' if outcome.killed else 'noaction'}


class Submit(WebModule):
    """Submit a script to run on this server (asynchronously; poll it with /data/applications/poll).
    POST with a JSON body: `script` (the text), `args`, `title`, `write` (true/false: a write
    request, which must be authorized with exec_auth for the caller), `timeout` (hours). Role
    operator or admin on target application."""
    reads_image = False
    require_roles = (('operator', 'application'), ('admin', 'application'))
    changes_state = True
    parameters = ()
    request_body = obj({'script': described(STRING, 'the Python script'),
                        'args': described(STRING, 'its arguments (shell words)'),
                        'title': STRING, 'write': described(BOOLEAN, 'a write request (authorized with exec_auth)'),
                        'timeout': described(NUMBER, 'hours')}, required=['script'])
    response = obj({'id': INTEGER})

    def run(self, caller, request, inventory):
        params = dict(request)
        if isinstance(self.input_data, dict):
            params.update(self.input_data)
        script = params.get('script')
        if not isinstance(script, str) or not script.strip():
            raise MissingParameter('script')
        write = params.get('write')
        write = yesno({'write': write}, 'write', False) if not isinstance(write, bool) else write
        timeout = params.get('timeout')
        try:
            timeout = float(timeout) if timeout is not None else None
        except (TypeError, ValueError):
            raise IllFormedRequest('timeout', timeout, 'hours') from None
        server = selectors.server_get(TOPOLOGY.server_id) if TOPOLOGY.server_id is not None else None
        if server is None:
            raise InvalidRequest('this process runs no application server')
        user = authorization.user_for_login(caller.name)
        app = applications.application_submit(user=user, server_id=server.id, hostname=server.hostname,
                                              work_base=server_paths(server.bind)[1], run_as=settings.DYNAMO_APP_USER,
                                              script=script.encode(), title=str(params.get('title') or 'DynamoExecutable'),
                                          script_path='(web)', args=str(params.get('args') or ''),
                                          write=write, timeout=timeout)
        if RUNTIME.wake is not None:
            RUNTIME.wake.set()
        self.message = f'application {app.id} submitted'
        return {'id': app.id}


class AppsPage(HTMLMixin, WebModule):
    """Application list with live output."""
    title = 'Applications'
    template = 'webmodules/applications.html'
    scripts = ('webmodules/applications.js',)

    def run(self, caller, request, inventory):
        return self.page(caller=caller)


export_data = {'list': ListApps, '': ListApps, 'poll': Poll, 'output': Output, 'kill': Kill, 'submit': Submit}
export_web = {'': AppsPage, 'list': AppsPage}
