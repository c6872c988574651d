"""The commands as an operator uses them: what a write run applied, the output of an --async
application, a kill that came too late, tracebacks in the user's file, listings with headers,
grants checked against the known roles, targets and the DN grammar, --help with examples."""
import textwrap
import time

import pytest

from tests.conftest import make_reader, manage

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(start_server, tmp_path):
    make_reader()
    assert manage('dynamo_inject', 'inventory/fixtures/demo.json').returncode == 0
    env = {'DYNAMO_APP_SOCKET': str(tmp_path / 'a.sock'), 'DYNAMO_WORK_DIR': str(tmp_path / 'w')}
    s = start_server(env=env)
    s.env = env
    return s


def script(tmp_path, name, body):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return str(path)


def dynamo(server, *args):
    return manage('dynamo', *args, env=server.env)


def test_a_write_run_says_what_it_applied(server, tmp_path):
    path = script(tmp_path, 'w.py', '''
        from dynamo.core.executable import inventory
        from dynamo.dataformat import Dataset
        inventory.update(Dataset('/Cli/Written/RAW'))
        inventory.update(Dataset('/Cli/Written2/RAW'))
    ''')
    assert manage('exec_auth', '--executable', path, '--title', 'cli').returncode == 0
    r = dynamo(server, path, '--write-request', '--title', 'cli')
    assert r.returncode == 0, r.stderr
    assert 'done: applied 2 updates and 0 deletes as change set' in r.stderr, r.stderr


def test_the_output_of_an_async_application_can_be_read_and_followed(server, tmp_path):
    path = script(tmp_path, 's.py', '''
        import time
        print('first line', flush=True)
        time.sleep(2)
        print('last line')
    ''')
    r = dynamo(server, path, '--async')
    assert r.returncode == 0 and 'submitted' in r.stdout, r.stderr
    app_id = r.stdout.split()[1]
    followed = dynamo(server, '--output', app_id, '--follow')
    assert followed.returncode == 0, followed.stderr
    assert followed.stdout == 'first line\nlast line\n'
    again = dynamo(server, '--output', app_id)
    assert again.returncode == 0 and again.stdout == 'first line\nlast line\n'
    missing = dynamo(server, '--output', '999999')
    assert missing.returncode != 0 and 'no application 999999' in missing.stderr


def test_killing_an_application_that_ended_is_an_error_naming_its_state(server, tmp_path):
    path = script(tmp_path, 'q.py', 'print("quick")\n')
    r = dynamo(server, path, '--async')
    app_id = r.stdout.split()[1]
    deadline = time.monotonic() + 20
    while 'done' not in dynamo(server, '--poll', app_id).stdout:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    r = dynamo(server, '--kill', app_id)
    assert r.returncode != 0 and f'application {app_id} had already ended (done)' in r.stderr


def test_a_traceback_names_the_users_script_and_line(server, tmp_path):
    path = script(tmp_path, 'broken.py', '''
        x = 1
        raise ValueError('something is wrong')
    ''')
    r = dynamo(server, path)
    assert r.returncode == 1
    assert f'File "{path}", line 3, in <module>' in r.stderr, r.stderr
    assert "raise ValueError('something is wrong')" in r.stderr
    assert 'exec.py' not in r.stderr


def test_listings_have_headers(server, tmp_path):
    path = script(tmp_path, 'a.py', 'print(1)\n')
    assert manage('exec_auth', '--executable', path, '--title', 'listed').returncode == 0
    listing = manage('exec_auth', '--list').stdout.splitlines()
    assert listing[0].split() == ['title', 'user', 'sha256', 'script', 'authorized']
    assert any(line.startswith('listed ') and '(everyone)' in line for line in listing[2:])
    users = manage('user_auth', '--list').stdout.splitlines()
    assert users[0].split()[:2] == ['user', 'roles'] and any('test-reader' in u for u in users[2:])


@pytest.mark.django_db(transaction=True)
def test_grants_are_checked_against_the_known_roles_targets_and_dn_grammar():
    r = manage('user_auth', '--user', 'x', '--role', 'admni', '--target', 'inventory')
    assert r.returncode != 0 and "unknown role 'admni' (did you mean 'admin'?)" in r.stderr
    r = manage('user_auth', '--user', 'x', '--role', 'admin', '--target', 'inventroy')
    assert r.returncode != 0 and "unknown target 'inventroy' (did you mean 'inventory'?)" in r.stderr
    r = manage('user_auth', '--user', 'x', '--dn', 'not a dn')
    assert r.returncode != 0 and "'not a dn' is not a certificate DN" in r.stderr
    assert 'x ' not in manage('user_auth', '--list').stdout


@pytest.mark.parametrize('command', ['dynamo', 'exec_auth', 'user_auth'])
def test_help_shows_examples_and_defaults(command):
    r = manage(command, '--help')
    assert r.returncode == 0
    assert 'examples:\n  python manage.py ' + command in r.stdout
    if command == 'dynamo':
        assert '(default: DynamoExecutable)' in r.stdout


def test_the_console_completes_dataset_names_and_explains_the_inventory(server):
    import os
    import pty
    import select
    import subprocess
    import sys

    from tests.conftest import ROOT, database_url
    master, slave = pty.openpty()
    env = dict(os.environ, DYNAMO_DB_URL=database_url(), TERM='xterm', **server.env)
    proc = subprocess.Popen([sys.executable, str(ROOT / 'manage.py'), 'dynamo'], stdin=slave, stdout=slave,
                            stderr=slave, env=env, cwd=str(ROOT), start_new_session=True)
    os.close(slave)
    seen = b''

    def read_until(needle, timeout=20):
        nonlocal seen
        deadline = time.monotonic() + timeout
        while needle not in seen:
            left = deadline - time.monotonic()
            assert left > 0, seen.decode(errors='replace')
            if select.select([master], [], [], left)[0]:
                try:
                    seen += os.read(master, 65536)
                except OSError:
                    break
        return seen
    try:
        read_until(b'>>> ')
        os.write(master, b"inventory.datasets['/SingleM\t")
        read_until(b"inventory.datasets['/SingleMuon/Run2026A-PromptReco-v1/MINIAOD']")
        os.write(master, b'\nhelp(inventory)\n')
        read_until(b'inventory.find_dataset(name)')
        assert b'_setattr' not in seen and b'begin(' not in seen   # the public API, not the internals
        # Ctrl-D at the next prompt, as a user types it (not while the help is still being printed)
        help_at = seen.index(b'inventory.find_dataset(name)')
        deadline = time.monotonic() + 20
        while b'>>> ' not in seen[help_at:]:
            if select.select([master], [], [], 0.2)[0]:
                seen += os.read(master, 65536)
            assert time.monotonic() < deadline, seen.decode(errors='replace')
        os.write(master, b'\x04')
        try:
            assert proc.wait(timeout=20) == 0
        except subprocess.TimeoutExpired:
            raise AssertionError('the console did not end on Ctrl-D; it showed:\n' + seen.decode(errors='replace'))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)


def test_dynamo_ls_answers_from_the_running_server(server):
    import json as json_module
    url = ['--url', server.url]
    r = manage('dynamo_ls', 'datasets', '/SingleMuon/*', *url)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ['dataset', 'size', 'files', 'blocks', 'status', 'sites']
    assert lines[2].startswith('/SingleMuon/Run2026A-PromptReco-v1/MINIAOD') and ' GB' in lines[2]
    sites = manage('dynamo_ls', 'sites', 'T*', *url).stdout.splitlines()
    assert sites[0].split()[:4] == ['site', 'status', 'storage', 'quota'] and len(sites) > 3
    replicas = manage('dynamo_ls', 'replicas', '/SingleMuon/*', '--site', 'T2_*', *url).stdout.splitlines()
    assert replicas[0].split() == ['block', 'site', 'group', 'present', 'complete', 'updated']
    assert all(' T2_' in line for line in replicas[2:-1] if line and not line.startswith('('))
    raw = json_module.loads(manage('dynamo_ls', 'groups', *url, '--json').stdout)
    assert {g['name'] for g in raw} >= {'AnalysisOps'}
    none = manage('dynamo_ls', 'datasets', '/No/Such/*', *url)
    assert none.returncode == 0 and none.stdout.strip() == 'No datasets match.'
    down = manage('dynamo_ls', 'datasets', '--url', 'http://127.0.0.1:9')
    assert down.returncode != 0 and 'no Dynamo server answers at http://127.0.0.1:9' in down.stderr
