"""Which application runs when, and the life of each running child (start, kill, reap, apply).

Rules: first in, first out; at most one write application at a time, and none while another
write (injection, web write) is being applied; read-only applications run in parallel with
anything up to a limit. Runs in the server's main thread only.
"""
import json
import logging
import os
import signal
import time
from dataclasses import dataclass, field

from django.conf import settings

from execution import authorization, builtins, confine, output, selectors
from execution.cluster.forward import send_changes
from execution.cluster.lease import LEASE_SECONDS, lease_acquire, lease_release
from execution.models import AppState, RequestState
from execution.runner import (CHANGES_FILE, SCRIPT_FILE, ChangeSpool, Launch, OutputRelay, fork_application,
                              fork_spare, read_changes, read_report, read_result)
from execution.services import applications, requests
from execution.supervisor import Limits
from execution.topology import TOPOLOGY, lease_owner
from inventory import services as inventory_services
from inventory.objects import ObjectError

log = logging.getLogger('dynamo.apps')
KILL_GRACE = 30.0          # after SIGTERM, the supervisor's own grace (5 s) and then this: SIGKILL
OUTPUT_KEEP = 1 << 20      # the last MiB of output goes into the record


@dataclass
class Running:
    app_id: int
    pid: int                   # of the supervisor
    write: bool                # holds the writer lease while it runs
    builtin: str
    deadline: float | None
    private_dir: str
    report_fd: int
    relay: OutputRelay | None = None
    spool: ChangeSpool | None = None
    kill_reason: str = ''
    killed_at: float | None = None
    last_check: float = field(default_factory=time.monotonic)


def limits_from_settings():
    return Limits(memory_bytes=settings.DYNAMO_APP_MEMORY_LIMIT_MB << 20,
                  processes=settings.DYNAMO_APP_MAX_PROCESSES,
                  cpu_seconds=settings.DYNAMO_APP_CPU_HOURS * 3600)


class Scheduler:
    def __init__(self, *, server_id, runtime, hub, readonly_db):
        self.server_id = server_id   # (follows TOPOLOGY.server_id: a rejoining server re-registers)
        self.runtime = runtime
        self.hub = hub
        self.readonly_db = readonly_db
        self.max_readers = settings.DYNAMO_MAX_READONLY_APPS
        self.running = {}          # pid -> Running
        self.interactive_fds = {}  # app id -> (stdin, stdout, stderr) received from the client
        self.pending_interrupts = []   # app ids whose client pressed Ctrl-C (filled by socket threads)
        self._last_state_check = 0.
        self._last_lease_renewal = 0.
        self.before_write = None   # a secondary catches up with the primary before a writer starts
        # why this server cannot run applications under their users ('' when it can)
        self.disabled = confine.switching_problem(settings.DYNAMO_APP_USER)
        self.commits = []          # (Running, result) of built-in cycles that ended, to commit in order
        self.spare = None          # a supervisor forked ahead of need (runner.Spare)
        self._spare_forked = 0.
        if self.disabled:
            log.warning('applications are disabled: %s', self.disabled)

    @property
    def writer_running(self):
        return any(r.write for r in self.running.values())

    def poll(self):
        """One scheduling step; returns True if anything happened."""
        busy = self._reap()
        if self.commits:
            busy = self._commit_next() or busy
        if not busy:
            self._keep_spare()
        while self.pending_interrupts:
            self.interrupt(self.pending_interrupts.pop())
        now = time.monotonic()
        if now - self._last_state_check > 0.25:
            self._last_state_check = now
            self._enforce_kills_and_timeouts(now)
        if now - self._last_lease_renewal > LEASE_SECONDS / 6:
            self._last_lease_renewal = now
            for run in self.running.values():
                if run.write:
                    lease_acquire(self._lease(run.app_id))
        return self._start_new() or busy

    # ------------------------------------------------------------------ starting
    def _start_new(self):
        readers = sum(1 for r in self.running.values() if not r.write)
        writer = self.writer_running
        started = False
        for app in selectors.applications_queued(server_id=self.server_id):
            if app.builtin and selectors.builtin_running(app.builtin, exclude=app.id):
                continue          # never two cycles of one kind at once, cluster-wide
            if app.write_request:
                if writer:
                    continue      # a second writer waits; readers behind it may go
                if not lease_acquire(self._lease(app.id)):
                    continue      # a writer elsewhere in the cluster (or a queued write) goes first
            elif readers >= self.max_readers:
                continue
            if self._start(app):
                started = True
                if app.write_request:
                    writer = True
                else:
                    readers += 1
        return started

    def _lease(self, app_id):
        return lease_owner(server_id=self.server_id, what=f'application {app_id}')

    def _start(self, app):
        started = False
        try:
            started = self._start_app(app)
        finally:
            if app.write_request and not started:
                lease_release(self._lease(app.id))
        return started

    def _start_app(self, app):
        if not applications.application_assign(app_id=app.id):
            return False           # killed meanwhile
        if self.disabled:
            self._finish(app.id, AppState.FAILED, message=f'not run: {self.disabled}')
            return False
        script = os.path.join(app.work_dir, SCRIPT_FILE)
        builtin = ''
        if app.builtin:
            try:
                builtin = builtins.get(app.builtin).run
            except LookupError as exc:
                self._finish(app.id, AppState.FAILED, message=f'not run: {exc}')
                return False
        elif not app.interactive and not os.path.exists(script):
            self._finish(app.id, AppState.NOTFOUND, message=f'script {app.script_path} not found')
            return False
        try:
            account = confine.resolve_account(app.run_as or settings.DYNAMO_APP_USER)
        except LookupError as exc:
            self._finish(app.id, AppState.FAILED, message=f'not run: {exc}')
            return False
        if app.write_request:
            reason = authorization.check(title=app.title, user=app.user, checksum=app.checksum)
            if reason is not None:
                log.warning('application %d refused: %s', app.id, reason)
                self._finish(app.id, AppState.AUTHFAILED, message=f'write request refused: {reason}')
                return False
        if app.write_request and self.before_write is not None:
            self.before_write()
        private = applications.private_dir(app)
        os.makedirs(private, mode=0o700, exist_ok=True)
        display = app.script_path if os.path.isabs(app.script_path or '') else script
        spec = Launch(app_id=app.id, work_dir=app.work_dir, private_dir=private, script_file=SCRIPT_FILE,
                      display_path=display, checksum=app.checksum, args=app.args, write=app.write_request,
                      interactive=app.interactive, account=account, readonly_db=self.readonly_db,
                      limits=limits_from_settings(), builtin_run=builtin)
        fds = self.interactive_fds.pop(app.id, None)
        spare, self.spare = self.spare, None
        if spare is not None and spare.usable(self.runtime.inventory.version):
            launched = spare.launch(spec, interactive_fds=fds)
            # the next spare now, while this one forks the application (they overlap on two
            # cores; later, the fork would hold up this process's threads as the output comes)
            self._spare_forked = time.monotonic()
            self.spare = fork_spare(inventory=self.runtime.inventory)
        else:
            if spare is not None:
                spare.release()
                self._reap_spare(spare)
            launched = fork_application(inventory=self.runtime.inventory, spec=spec, interactive_fds=fds)
        if fds:
            for fd in fds:
                os.close(fd)
        pid = launched.pid
        timeout = app.timeout if app.timeout is not None else settings.DYNAMO_APP_TIMEOUT_HOURS
        run = Running(app.id, pid, app.write_request, app.builtin,
                      time.monotonic() + timeout * 3600 if timeout and timeout > 0 else None, private,
                      launched.report_fd)
        if launched.out_fd is not None:
            run.relay = OutputRelay(app.id, launched.out_fd, launched.err_fd, private,
                                    settings.DYNAMO_APP_OUTPUT_MB << 20,
                                    lambda stream, text, app_id=app.id: self.hub.publish(app_id, stream, text))
            run.relay.start()
        if launched.changes_fd is not None:
            run.spool = ChangeSpool(app.id, launched.changes_fd, os.path.join(private, CHANGES_FILE),
                                    settings.DYNAMO_APP_CHANGES_MB << 20)
            run.spool.start()
        self.running[pid] = run
        if not applications.application_started(app_id=app.id, pid=pid):
            self.kill(run, 'killed on request')   # killed between assignment and start
        self.hub.publish(app.id, 'state', AppState.RUN)
        log.info('application %d started as %s (supervisor pid %d, %s, %s)', app.id, account.login, pid,
                 'write' if app.write_request else 'read-only', app.title,
                 extra={'application': app.id, 'pid': pid, 'title': app.title, 'write': app.write_request,
                        'run_as': account.login})
        return True

    SPARE_INTERVAL = 2.0   # a stale spare is replaced at most this often (change sets make it stale)

    def _keep_spare(self):
        """Have a spare supervisor of the current image ready (when idle: a fork takes tens of ms)."""
        if self.disabled or self.runtime.inventory is None or self.runtime.inventory.journal is not None:
            return
        version = self.runtime.inventory.version
        if self.spare is not None and self.spare.usable(version):
            return
        now = time.monotonic()
        if self.spare is not None:   # stale: replaced, but not more often than SPARE_INTERVAL
            if now - self._spare_forked < self.SPARE_INTERVAL:
                return
            self.spare.release()
            self._reap_spare(self.spare)
        self._spare_forked = now
        self.spare = fork_spare(inventory=self.runtime.inventory)

    @staticmethod
    def _reap_spare(spare):
        """A released spare exits at once; collect it (briefly) so no zombie is left."""
        deadline = time.monotonic() + 1
        while time.monotonic() < deadline:
            try:
                if os.waitpid(spare.pid, os.WNOHANG)[0]:
                    return
            except ChildProcessError:
                return
            time.sleep(0.005)

    # ------------------------------------------------------------------ killing
    def _enforce_kills_and_timeouts(self, now):
        if not self.running:
            return
        by_app = {r.app_id: r for r in self.running.values()}
        for app_id, message in applications.applications_kill_requested(by_app):
            self.kill(by_app[app_id], message or 'killed on request')
        for run in by_app.values():
            if run.deadline is not None and now > run.deadline and not run.kill_reason:
                self.kill(run, 'timed out')
            if run.killed_at is not None and now - run.killed_at > KILL_GRACE:
                _signal(run.pid, signal.SIGKILL)   # the supervisor did not end it: end both

    def kill(self, run, reason):
        if run.kill_reason:
            return
        run.kill_reason = reason
        run.killed_at = time.monotonic()
        log.info('killing application %d (%s)', run.app_id, reason)
        _signal(run.pid, signal.SIGTERM)   # the supervisor ends the application's whole tree

    def interrupt(self, app_id):
        for run in self.running.values():
            if run.app_id == app_id:
                _signal(run.pid, signal.SIGINT)   # forwarded to the application by its supervisor

    def shutdown(self):
        """Server stopping: kill every child and record it as killed."""
        if self.spare is not None:
            self.spare.release()
            self._reap_spare(self.spare)
            self.spare = None
        for run in list(self.running.values()):
            run.kill_reason = 'server shut down'
            _signal(run.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while self.running and time.monotonic() < deadline:
            if not self._reap():
                time.sleep(0.05)
        for run in list(self.running.values()):
            _signal(run.pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while self.running and time.monotonic() < deadline:
            if not self._reap():
                time.sleep(0.05)

    # ------------------------------------------------------------------ reaping
    def _reap(self):
        reaped = False
        for pid in list(self.running):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done, status = pid, 0
            if not done:
                continue
            run = self.running.pop(pid)
            reaped = True
            report = read_report(run.report_fd)
            for thread in (run.relay, run.spool):
                if thread is not None:
                    thread.join(timeout=10)
            self._complete(run, report)
        return reaped

    def _complete(self, run, report):
        try:
            self._settle(run, report)
        finally:
            if run.write:
                lease_release(self._lease(run.app_id))

    def _settle(self, run, report):
        code = report.get('exit_code')
        if code is None:
            code = -report['signal'] if 'signal' in report else 70
        if report.get('limit'):
            state, message = AppState.FAILED, f'stopped by its limits: {report["limit"]}; nothing applied'
        elif run.kill_reason:
            state, message = AppState.KILLED, run.kill_reason
        elif run.spool is not None and run.spool.overflow:
            state, message = AppState.FAILED, (f'more than {settings.DYNAMO_APP_CHANGES_MB} MB of changes; '
                                               f'nothing applied')
        elif code != 0:
            state, message = AppState.FAILED, (f'exit code {code}' if code > 0 else f'killed by signal {-code}')
        elif run.builtin:
            try:
                result = read_result(os.path.join(run.private_dir, CHANGES_FILE))
            except (OSError, ValueError) as exc:
                state, message = AppState.FAILED, f'the cycle returned no result: {exc}'
            else:
                self.commits.append((run, result))   # committed under the writer lease, in order
                return
        elif run.write:
            state, message, seq, num = self._apply_changes(run)
            self._finish(run.app_id, state, code, message, seq=seq, num_changes=num)
            return
        else:
            state, message = AppState.DONE, 'exit code 0'
        self._finish(run.app_id, state, code, message)

    def _apply_changes(self, run):
        path = os.path.join(run.private_dir, CHANGES_FILE)
        origin = f'application {run.app_id}'

        def progress(count):
            log.info('application %d: %d changes applied so far', run.app_id, count)
        if TOPOLOGY.is_secondary:
            return self._forward_changes(run, path, origin)
        kinds = {'u': 0, 'd': 0}

        def counted(operations):
            for op in operations:
                kinds[op[0]] = kinds.get(op[0], 0) + 1
                yield op
        try:
            applied = inventory_services.apply_changeset(
                inventory=self.runtime.inventory, origin=origin, operations=counted(read_changes(path)),
                progress=progress, ram_lock=self.runtime.lock.write)
        except (ObjectError, ValueError, OSError) as exc:
            log.warning('application %d: changes refused: %s', run.app_id, exc)
            return AppState.FAILED, f'changes not applied: {exc}', None, 0
        except inventory_services.ImageLost:
            self._finish(run.app_id, AppState.FAILED, 0, 'changes not applied: the server had to reload its image')
            raise
        except Exception as exc:   # e.g. the database refused or timed out: nothing was applied
            log.exception('application %d: changes could not be applied', run.app_id)
            return AppState.FAILED, f'changes not applied: {type(exc).__name__}: {exc}', None, 0
        if not applied.num_changes:
            return AppState.DONE, 'exit code 0; nothing to change', None, 0
        return (AppState.DONE, f'exit code 0; applied {_plural(kinds["u"], "update")} and '
                               f'{_plural(kinds["d"], "delete")} as change set {applied.seq}',
                applied.seq, applied.num_changes)

    def _commit_next(self):
        """Commit the oldest ended built-in cycle, when the writer lease is free; its record
        stays `run` until then."""
        run, result = self.commits[0]
        lease = lease_owner(server_id=self.server_id, what=f'cycle {run.app_id}')
        if not lease_acquire(lease):
            return False
        self.commits.pop(0)
        try:
            app = selectors.application_get(run.app_id)
            if app.state == AppState.KILLED:
                self._finish(run.app_id, AppState.KILLED, 0, app.message or 'killed before its commit')
                return True
            commit = builtins.resolve(builtins.get(run.builtin).commit)
            try:
                summary = commit(result, builtins.CommitContext(app=app, runtime=self.runtime)) or {}
            except (ObjectError, ValueError) as exc:
                self._finish(run.app_id, AppState.FAILED, 0, f'not committed: {exc}')
                return True
            except inventory_services.ImageLost:
                self._finish(run.app_id, AppState.FAILED, 0, 'not committed: the server had to reload its image')
                raise
            except Exception as exc:   # noqa: BLE001 - a bug in a commit must not stop the loop
                log.exception('application %d: the commit of cycle %s failed', run.app_id, run.builtin)
                self._finish(run.app_id, AppState.FAILED, 0, f'not committed: {type(exc).__name__}: {exc}')
                return True
            self._finish(run.app_id, AppState.DONE, 0, str(summary.get('message', 'committed'))[:2000],
                         seq=summary.get('seq'), num_changes=summary.get('num_changes'),
                         result=json.dumps(summary, default=str))
        finally:
            lease_release(lease)
        return True

    def _forward_changes(self, run, path, origin):
        """A secondary's write application: its changes are applied by the primary (the cluster's
        single committer) and come back here through the log."""
        try:
            operations = list(read_changes(path))
        except (ValueError, OSError) as exc:
            return AppState.FAILED, f'changes not applied: {exc}', None, 0
        if not operations:
            return AppState.DONE, 'exit code 0; nothing to change', None, 0
        log.info('application %d: sending %d changes to the primary', run.app_id, len(operations))
        try:
            request = send_changes(operations, origin=origin, lease=self._lease(run.app_id))
            request = requests.request_wait(request_id=request.id)
        except Exception as exc:   # the primary's database failed: nothing was applied
            log.exception('application %d: changes could not be sent to the primary', run.app_id)
            return AppState.FAILED, f'changes not applied: {type(exc).__name__}: {exc}', None, 0
        if request.state != RequestState.APPLIED:
            return AppState.FAILED, f'changes not applied: {request.message}', None, 0
        num = json.loads(request.result or '{}').get('num_changes', 0)
        if not request.seq:
            return AppState.DONE, 'exit code 0; nothing to change', None, 0
        return (AppState.DONE, f'exit code 0; {num} changes applied by the primary as change set {request.seq}',
                request.seq, num)

    def _finish(self, app_id, state, code=None, message='', seq=None, num_changes=None, result=''):
        text = ''
        app = selectors.application_get(app_id)
        if app.work_dir and output.exists(applications.private_dir(app)):
            text = output.read(applications.private_dir(app), length=OUTPUT_KEEP)[0]
        applications.application_finish(app_id=app_id, state=state, exit_code=code, message=message,
                                        output=text, seq=seq, num_changes=num_changes, result=result)
        self.hub.publish(app_id, 'final', {'state': str(state), 'exit_code': code, 'message': message})


def _plural(n, word):
    return f'{n} {word}' + ('' if n == 1 else 's')


def _signal(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
