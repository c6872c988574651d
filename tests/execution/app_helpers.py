"""Helpers for the application tests: one real server per test with its own socket and work areas,
the `manage.py dynamo` client, and the /data/applications records."""
import json
import textwrap
import time

from tests.conftest import AS_READER, manage

FINAL = ('done', 'failed', 'killed', 'notfound', 'authfailed')

MUON = '/SingleMuon/Run2026A-PromptReco-v1/MINIAOD'
ZEROBIAS = '/ZeroBias/Run2026A-PromptReco-v1/AOD'
TTBAR = '/TTbar/Sim2026-v2/GEN-SIM'
MIT = 'T2_US_MIT'
CERN = 'T1_CH_CERN_Disk'


class Dyn:
    """A running server with its socket path, plus the client commands that talk to it."""

    def __init__(self, server, tmp_path, socket_path, work_dir):
        self.server = server
        self.tmp_path = tmp_path
        self.socket = str(socket_path)
        self.work_dir = str(work_dir)
        self.env = {'DYNAMO_APP_SOCKET': self.socket}

    # ------------------------------------------------------------------ files
    def script(self, name, body):
        path = self.tmp_path / name
        path.write_text(textwrap.dedent(body))
        return path

    # ------------------------------------------------------------------ client
    def manage(self, *args, timeout=60):
        return manage(*args, env=self.env, timeout=timeout)

    def run(self, command, *options, timeout=60):
        """`manage.py dynamo 'COMMAND' OPTIONS`; returns CompletedProcess."""
        return self.manage('dynamo', str(command), *options, timeout=timeout)

    def submit_async(self, command, *options):
        """`--async` run; returns the application id printed by the client."""
        r = self.run(command, '--async', *options)
        assert r.returncode == 0, r.stderr
        words = r.stdout.split()
        assert words[:1] == ['application'] and 'submitted' in words, r.stdout
        return int(words[1])

    def start(self, command, write=False, title='DynamoExecutable', timeout=None):
        """Submit through the client library (execution.client.submit, --async), as `manage.py dynamo`
        does, without paying for a Django start-up per run; returns the application id."""
        from execution import client
        app_id, _ = client.submit(socket_path=self.socket, command=str(command), title=title, write=write,
                                  asynchronous=True, timeout=timeout)
        return app_id

    def finish(self, command, write=False, title='DynamoExecutable', timeout=None, wait=30):
        """start() and wait for the end; returns (record, output)."""
        app_id = self.start(command, write, title, timeout)
        rec = self.wait_state(app_id, timeout=wait)
        return rec, self.output(app_id)['output']

    def authorize(self, path, title, *users):
        extra = [a for u in users for a in ('--user', u)]
        r = self.manage('exec_auth', '--executable', str(path), '--title', title, *extra)
        assert r.returncode == 0, r.stdout + r.stderr
        return r

    @staticmethod
    def grant(path, title, *users):
        """What `exec_auth` does (execution.authorization.authorize), in this process."""
        from execution import authorization
        return authorization.authorize(path=str(path), title=title, users=users)

    # ------------------------------------------------------------------ records
    def record(self, app_id):
        """The record of application app_id from /data/applications?id=N."""
        status, body = self.server.get(f'/data/applications?id={app_id}', headers=AS_READER)
        assert status == 200, body
        found = [a for a in body['data'] if a['id'] == app_id]
        assert len(found) == 1, body
        return found[0]

    def output(self, app_id):
        status, body = self.server.get(f'/data/applications/output?id={app_id}', headers=AS_READER)
        assert status == 200, body
        return body['data']

    def last_id(self):
        status, body = self.server.get('/data/applications?limit=1', headers=AS_READER)
        assert status == 200 and body['data'], body
        return body['data'][0]['id']

    def wait_state(self, app_id, states=FINAL, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            rec = self.record(app_id)
            if rec['state'] in states and (rec['state'] not in FINAL or rec['finished']):
                return rec   # a killed application is final once its process is reaped
            if time.monotonic() > deadline:
                raise AssertionError(f'application {app_id} still {rec["state"]} after {timeout} s: {rec}\n'
                                     f'{self.server.log()[-3000:]}')
            time.sleep(0.05)

    # ------------------------------------------------------------------ inventory
    def dataset(self, name):
        status, body = self.server.get(f'/data/inventory/datasets?dataset={name}')
        assert status == 200, body
        return body['data'][0] if body['data'] else None

    def datasets(self):
        status, body = self.server.get('/data/inventory/datasets')
        assert status == 200, body
        return {d['name']: d for d in body['data']}

    def assert_ram_matches_database(self):
        """The server's /data/inventory/datasets and /sites equal the same views of an image freshly
        loaded from the database (RAM and database agree after an application's changes)."""
        from inventory import selectors, store
        inv, _ = store.load()
        for path, selector in (('datasets', selectors.datasets), ('sites', selectors.sites)):
            status, body = self.server.get(f'/data/inventory/{path}')
            assert status == 200, body
            assert body['data'] == json.loads(json.dumps(selector(inv))), path


def db_dataset(name):
    """(status label, sorted replica sites) of a dataset in the database, or None."""
    from inventory.models import Dataset, DatasetReplica
    from inventory.objects import DatasetStatus
    row = Dataset.objects.filter(name=name).values('id', 'status').first()
    if row is None:
        return None
    sites = sorted(DatasetReplica.objects.filter(dataset_id=row['id']).values_list('site__name', flat=True))
    return DatasetStatus(row['status']).label, sites


def db_datasets():
    from inventory.models import Dataset
    return {name: db_dataset(name) for name in Dataset.objects.values_list('name', flat=True)}


def alive(pid):
    """True if the process exists and is not a zombie."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rpartition(')')[2].split()[0] != 'Z'
    except FileNotFoundError:
        return False

