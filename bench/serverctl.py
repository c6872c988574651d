"""Start and stop a real runserver_dynamo for the benchmarks (bench_apps.py, bench_web.py)."""
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATOR_NOW = '2025-01-01T00:00:00Z'     # the generator's "now" (bench/generate.py T_END)
# the Detox policy of the benchmarks on the cms preset (bench_detox.py, bench_detox_server.py, bench_dealer.py)
DETOX_POLICY = """\
Partition Default
On site.name == T2_*
When site.occupancy > 0.9
Until site.occupancy < 0.85
Protect replica.incomplete
ProtectBlock blockreplica.is_last_transfer_source
Protect replica.num_full_disk_copy_common_owner < 2
Dismiss replica.last_block_created older_than 180 days ago
Protect
Order increasing replica.last_block_created decreasing replica.size
"""


class BenchServer:
    def __init__(self, db_url, port=8190, log_path='/tmp/bench-server.log', env=None):
        self.port = port
        self.url = f'http://127.0.0.1:{port}'
        self.socket = f'/tmp/bench-dynamo-{port}.sock'
        self.env = dict(os.environ, DYNAMO_DB_URL=db_url, DYNAMO_APP_SOCKET=self.socket,
                        DYNAMO_LOG_LEVEL='INFO', **(env or {}))
        self.log_path = log_path
        self.proc = None

    def start(self, timeout=300):
        start = time.monotonic()
        self.proc = subprocess.Popen([sys.executable, str(ROOT / 'manage.py'), 'runserver_dynamo', '--bind',
                                      f'127.0.0.1:{self.port}'], env=self.env, cwd=str(ROOT),
                                     stdout=open(self.log_path, 'w'), stderr=subprocess.STDOUT)
        while time.monotonic() - start < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f'server exited: see {self.log_path}')
            try:
                status, _ = self.get('/data/inventory/groups')
                if status == 200 and os.path.exists(self.socket):
                    return time.monotonic() - start
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError('server did not come online')

    def get(self, path, timeout=30):
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b'null')

    def rss(self):
        with open(f'/proc/{self.proc.pid}/status') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1]) * 1024
        return 0

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def setup_django(db_url, socket_path):
    os.environ['DYNAMO_DB_URL'] = db_url
    os.environ['DYNAMO_APP_SOCKET'] = socket_path
    os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'dynamo_site.settings')
    sys.path.insert(0, str(ROOT))
    import django
    django.setup()
