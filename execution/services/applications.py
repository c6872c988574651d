"""Application records: submission, the scheduler's transitions, kills, and the truth after a
crash. The only module that writes dyn_applications, and the one rule for who may stop an
application or read its output (its owner, or an operator or admin of target `application`)."""
import logging
import os
import tempfile
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from execution import builtins
from execution.errors import NotAllowed, NotFound
from execution.models import FINAL_APP_STATES, Application, AppState
from execution.topology import TOPOLOGY
from inventory.models import ChangeSet

log = logging.getLogger('dynamo.apps')

SCRIPT_FILE = 'exec.py'
CONTROL_ROLES = ('operator', 'admin')


def may_control(caller, app):
    """May `caller` (accounts.caller.Caller) stop application `app` or read its arguments and output?"""
    if caller is None or not caller.is_authenticated:
        return False
    return app.user.username == caller.name or caller.has_any_role(CONTROL_ROLES, 'application')


def checksum_bytes(data):
    import hashlib
    return hashlib.sha256(data).hexdigest()


def private_dir(app):
    """The server's own directory of an application (its output and its change stream), beside
    the work areas and out of the application's reach (mode 0700, the server's)."""
    return os.path.join(os.path.dirname(app.work_dir), '.private', str(app.id))


def application_submit(*, user, server_id, hostname, work_base, run_as, script=None, title='DynamoExecutable',
                       script_path='', args='', write=False, timeout=None, interactive=False, builtin=''):
    """Queue an application on a server, to run as the OS account `run_as`. The row is created
    complete (work area and script in place) so that the scheduler never sees half of it. The work
    area is the server's (0700) until the application starts and it is handed to `run_as`."""
    os.makedirs(work_base, exist_ok=True)
    os.chmod(work_base, 0o711)   # applications find their own area; nobody lists the others
    os.makedirs(os.path.join(work_base, '.private'), mode=0o700, exist_ok=True)
    work_dir = tempfile.mkdtemp(prefix=timezone.now().strftime('%Y%m%d-%H%M%S-'), dir=work_base)
    if script is not None:
        with open(os.path.join(work_dir, SCRIPT_FILE), 'wb') as f:
            f.write(script)
    return Application.objects.create(
        user=user, server_id=server_id, hostname=hostname, created=timezone.now(), work_dir=work_dir,
        title=(title or 'DynamoExecutable')[:255], script_path=script_path[:1024], args=args,
        checksum=checksum_bytes(script) if script is not None else '', write_request=write,
        interactive=interactive, run_as=run_as[:64], builtin=builtin, timeout=settings.DYNAMO_APP_TIMEOUT_HOURS if timeout is None else float(timeout))


def may_start_builtin(caller, builtin):
    """May `caller` start the built-in cycle `builtin` (an execution.builtins.Builtin)?"""
    return caller is not None and caller.is_authenticated and caller.has_any_role(CONTROL_ROLES, builtin.target)


def application_submit_builtin(*, name, params, user, server_id, hostname, work_base, title=None, timeout=None):
    """Queue the built-in cycle `name` with its parameters (a JSON-serializable dict) on a server;
    it runs as DYNAMO_APP_USER. The caller checks who may start it (may_start_builtin)."""
    import json
    builtin = builtins.get(name)
    return application_submit(user=user, server_id=server_id, hostname=hostname, work_base=work_base,
                              run_as=settings.DYNAMO_APP_USER, title=title or builtin.title,
                              script_path=f'(built-in {name})', args=json.dumps(params), timeout=timeout,
                              builtin=name)


def application_assign(*, app_id):
    """new -> assigned (taken by the scheduler); False if it was killed meanwhile."""
    return bool(Application.objects.filter(id=app_id, state=AppState.NEW).update(state=AppState.ASSIGNED))


def application_started(*, app_id, pid):
    """assigned -> run; False if it was killed between assignment and start (the pid is kept)."""
    now = timezone.now()
    if Application.objects.filter(id=app_id, state=AppState.ASSIGNED).update(state=AppState.RUN, pid=pid, started=now):
        return True
    Application.objects.filter(id=app_id).update(pid=pid, started=now)
    return False


def application_finish(*, app_id, state, exit_code=None, message='', output='', seq=None, num_changes=None,
                       result=''):
    Application.objects.filter(id=app_id).update(
        state=state, exit_code=exit_code, message=message, finished=timezone.now(), output=output,
        seq=seq, num_changes=num_changes, result=result)
    log.info('application %d %s: %s', app_id, state, message,
             extra={'application': app_id, 'state': str(state), 'exit_code': exit_code})


@dataclass
class KillOutcome:
    app: Application
    killed: bool          # False: it had already ended (state says how)
    state: str


def application_kill(*, app_id, by, reason=None):
    """Stop application `app_id` on behalf of `by` (a Caller). A queued one ends at once; a
    running one is marked and its server stops the child. Raises NotFound or NotAllowed."""
    app = Application.objects.select_related('user').filter(id=app_id).first()
    if app is None:
        raise NotFound(f'no application {app_id}')
    if not may_control(by, app):
        raise NotAllowed(f'application {app.id} belongs to {app.user.username}: only its owner or an '
                         f'operator or admin of target application may stop it')
    message = reason or f'killed by {by.name}'
    if Application.objects.filter(id=app.id, state=AppState.NEW).update(
            state=AppState.KILLED, message=message, finished=timezone.now()):
        return KillOutcome(app, True, AppState.KILLED)
    if Application.objects.filter(id=app.id, state__in=[AppState.ASSIGNED, AppState.RUN]).update(
            state=AppState.KILLED, message=message):
        return KillOutcome(app, True, AppState.KILLED)
    app.refresh_from_db(fields=['state'])
    return KillOutcome(app, False, app.state)


def applications_kill_requested(app_ids):
    """(id, message) of those among `app_ids` that were marked killed (by a client or the web)."""
    return list(Application.objects.filter(id__in=list(app_ids), state=AppState.KILLED).values_list('id', 'message'))


def _committed_changeset(app):
    """(seq, num_changes) of the change set application `app` produced, if it committed."""
    origins = [f'application {app.id}', f'changes:application {app.id}']
    rows = ChangeSet.objects.using(TOPOLOGY.cluster_alias).filter(origin__in=origins)
    if app.started is not None:
        rows = rows.filter(applied_at__gte=app.started)
    return rows.values_list('seq', 'num_changes').order_by('seq').first()


def applications_recover(*, server_ids, reason):
    """The applications of dead servers, told as they were: one whose change set committed is
    `done` with its sequence number (whatever happened to the process after the commit), the other
    unfinished ones are `killed` with `reason`. Returns (done, killed)."""
    done = killed = 0
    orphans = Application.objects.filter(server_id__in=list(server_ids)).exclude(state__in=FINAL_APP_STATES)
    for app in orphans:
        committed = _committed_changeset(app) if app.write_request and app.state != AppState.NEW else None
        if committed is not None:
            seq, num = committed
            Application.objects.filter(id=app.id).update(
                state=AppState.DONE, exit_code=0, seq=seq, num_changes=num, finished=timezone.now(),
                message=f'{num} changes applied as change set {seq} (its server died after the commit)')
            done += 1
        else:
            Application.objects.filter(id=app.id).update(state=AppState.KILLED, message=reason,
                                                         finished=timezone.now())
            killed += 1
        log.warning('application %d of dead server %s: %s', app.id, app.server_id,
                    'done (its change set committed)' if committed else f'killed ({reason})',
                    extra={'application': app.id, 'server': app.server_id})
    return done, killed


def applications_take_over(*, from_server_ids, to_server_id, hostname):
    """Queued applications of replaced servers move to the new primary (failover)."""
    return Application.objects.filter(server_id__in=list(from_server_ids), state=AppState.NEW).update(
        server_id=to_server_id, hostname=hostname)


def applications_orphaned(*, alive_server_ids):
    """Ids of the servers that own unfinished applications but are not among the living."""
    rows = (Application.objects.exclude(state__in=FINAL_APP_STATES).exclude(server_id__in=list(alive_server_ids))
            .exclude(Q(server_id__isnull=True)).values_list('server_id', flat=True).distinct())
    return set(rows)
