"""The `applications` web module: application records, output, kill, and submitting a script
(role operator or admin on target application; the same rules as `manage.py dynamo`)."""
import os

from execution import authorization, services
from execution.appserver import app_record
from execution.models import Application
from execution.runner import OUTPUT_FILE
from execution.runtime import RUNTIME
from webmodules.base import (AuthorizationError, HTMLMixin, IllFormedRequest, InvalidRequest,
                             MissingParameter, NotFound, WebModule, yesno)


def _app(request, name='id'):
    value = request.get(name)
    if value is None:
        raise MissingParameter(name)
    if not isinstance(value, str) or not value.isdigit():
        raise IllFormedRequest(name, value, 'expected an application id')
    app = Application.objects.select_related('user').filter(id=int(value)).first()
    if app is None:
        raise NotFound(f'no application {value}')
    return app


class ListApps(WebModule):
    """Application records, newest first. Filters: `id` (that application only), `state`, `user`,
    `title`; `limit` (default 100)."""

    def run(self, caller, request, inventory):
        if request.get('id') is not None:
            return [app_record(_app(request))]
        qs = Application.objects.select_related('user').order_by('-id')
        for param, field in (('state', 'state'), ('user', 'user__username'), ('title', 'title')):
            if isinstance(request.get(param), str):
                qs = qs.filter(**{field: request[param]})
        limit = request.get('limit', '100')
        if not isinstance(limit, str) or not limit.isdigit():
            raise IllFormedRequest('limit', limit, 'expected a number')
        return [app_record(a) for a in qs[:int(limit)]]


class Poll(WebModule):
    """The record of application `id` (state, exit code, timestamps, ...)."""

    def run(self, caller, request, inventory):
        app = _app(request)
        self.message = app.state
        return app_record(app)


class Output(WebModule):
    """Output (stdout and stderr) of application `id`, live while it runs."""

    def run(self, caller, request, inventory):
        app = _app(request)
        output = app.output
        if not output and app.work_dir:
            try:
                with open(os.path.join(app.work_dir, OUTPUT_FILE), encoding='utf-8', errors='replace') as f:
                    output = f.read()
            except OSError:
                output = ''
        self.message = app.state
        return {'id': app.id, 'state': app.state, 'output': output}


class Kill(WebModule):
    """Stop application `id` (POST, JSON body or query; its owner, or an operator/admin on target
    application)."""
    must_authenticate = True
    changes_state = True

    def run(self, caller, request, inventory):
        from execution.appserver import kill_application
        if isinstance(self.input_data, dict) and 'id' in self.input_data:
            request = dict(request, id=str(self.input_data['id']))
        app = _app(request)
        if app.user.username != caller.name and not (caller.has_role('admin', 'application')
                                                      or caller.has_role('operator', 'application')):
            raise AuthorizationError(f'application {app.id} belongs to {app.user.username}')

        class _NoHub:
            def publish(self, *args):
                pass
        killed = kill_application(app.id, f'killed by {caller.name}', getattr(RUNTIME, 'hub', None) or _NoHub())
        if RUNTIME.wake is not None:
            RUNTIME.wake.set()
        self.message = 'killed' if killed else 'no action: the application had ended'
        return {'id': app.id, 'result': 'killed' if killed else 'noaction'}


class Submit(WebModule):
    """Submit a script to run on this server (asynchronously; poll it with /data/applications/poll).
    POST with a JSON body: `script` (the text), `args`, `title`, `write` (true/false: a write
    request, which must be authorized with exec_auth for the caller), `timeout` (hours). Role
    operator or admin on target application."""
    require_roles = (('operator', 'application'), ('admin', 'application'))
    changes_state = True

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
        if RUNTIME.server_id is None:
            raise InvalidRequest('this process runs no application server')
        from execution.models import Server
        server = Server.objects.get(id=RUNTIME.server_id)
        user = authorization.user_for_login(caller.name)
        app = services.application_create(user=user, server_id=server.id, hostname=server.hostname,
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
