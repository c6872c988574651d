"""Reads of the execution records: applications (as their callers may see them) and servers."""
import json
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from execution import output
from execution.errors import NotFound
from execution.models import Application, AppState, Server
from execution.services.applications import may_control, private_dir
from execution.services.servers import ACTIVE_STATES


def _iso(t):
    return t.isoformat() if t else None


def application_get(app_id):
    app = Application.objects.select_related('user').filter(id=app_id).first()
    if app is None:
        raise NotFound(f'no application {app_id}')
    return app


def application_record(app, *, caller=None, full=None):
    """The record of `app` as `caller` may see it: everyone sees its id, title, state and times;
    its owner and operators/admins of target application see all of it (user, arguments, script,
    exit code, message, change set)."""
    record = {'id': app.id, 'title': app.title, 'state': app.state, 'created': _iso(app.created),
              'started': _iso(app.started), 'finished': _iso(app.finished)}
    if full if full is not None else may_control(caller, app):
        record.update(user=app.user.username, args=app.args, script=app.script_path, write_request=app.write_request,
                      exit_code=app.exit_code, message=app.message, server=app.hostname, seq=app.seq,
                      num_changes=app.num_changes, builtin=app.builtin,
                      result=json.loads(app.result) if app.result else None)
    return record


def application_output(app, *, offset=None, length=output.WINDOW):
    """(text, offset, total bytes) of a window of an application's output (by default its end):
    from the server's own files when this server ran it, else the last MiB kept in the record."""
    directory = private_dir(app) if app.work_dir else ''
    if directory and output.exists(directory):
        return output.read(directory, offset, length)
    return app.output, 0, len(app.output.encode())


def application_list(*, state=None, user=None, title=None, limit=100):
    qs = Application.objects.select_related('user').order_by('-id')
    if state:
        qs = qs.filter(state=state)
    if user:
        qs = qs.filter(user__username=user)
    if title:
        qs = qs.filter(title=title)
    return list(qs[:limit])


def applications_queued(*, server_id, limit=50):
    return list(Application.objects.select_related('user').filter(server_id=server_id, state=AppState.NEW)
                .order_by('id')[:limit])


def builtin_running(name, *, exclude=None):
    """Is a cycle `name` assigned or running anywhere in the cluster?"""
    rows = Application.objects.filter(builtin=name, state__in=[AppState.ASSIGNED, AppState.RUN])
    return rows.exclude(id=exclude).exists() if exclude is not None else rows.exists()


def live_servers():
    cutoff = timezone.now() - timedelta(seconds=settings.DYNAMO_HEARTBEAT_TIMEOUT)
    return list(Server.objects.filter(heartbeat__gte=cutoff, state__in=ACTIVE_STATES))


def known_servers():
    return list(Server.objects.order_by('id'))


def server_get(server_id):
    return Server.objects.filter(id=server_id).first()
