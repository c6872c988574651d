"""Configuration: the environment wins over the INI file, which wins over defaults; database URLs
and master_conf are checked with a clear message; importing the settings writes nothing."""
import os
import stat
import subprocess
import sys
import time

import pytest

from dynamo_site import bootstrap, config
from tests.conftest import ROOT


def ini(tmp_path, text):
    path = tmp_path / 'server.ini'
    path.write_text(text)
    return config.load_ini(str(path))


def test_the_environment_wins_over_the_ini_file_which_wins_over_the_default(tmp_path):
    parsed = ini(tmp_path, '[server]\nbind = 0.0.0.0:9000\nlog_level = DEBUG\n')
    assert config.get('DYNAMO_BIND', parsed, 'x', environ={'DYNAMO_BIND': '127.0.0.1:1'}) == '127.0.0.1:1'
    assert config.get('DYNAMO_BIND', parsed, 'x', environ={}) == '0.0.0.0:9000'
    assert config.get('DYNAMO_BIND', parsed, 'x', environ={'DYNAMO_BIND': ''}) == '0.0.0.0:9000'
    assert config.get('DYNAMO_SYNC_INTERVAL', parsed, '0.05', environ={}) == '0.05'


def test_a_broken_ini_file_is_refused_naming_the_file(tmp_path):
    with pytest.raises(config.ConfigError, match='server.ini is not a valid INI file'):
        ini(tmp_path, 'bind = nowhere\n')
    with pytest.raises(config.ConfigError, match='cannot read configuration file'):
        config.load_ini(str(tmp_path / 'missing.ini'))


def test_database_urls():
    sqlite = config.database_from_url(None, '/srv/var')
    assert sqlite['NAME'] == '/srv/var/dynamo.sqlite3' and sqlite['ENGINE'] == 'dynamo_site.sqlite_backend'
    mysql = config.database_from_url('mysql://dyn:s%40cret@db.example:3307/dynamo', '/srv/var')
    assert (mysql['USER'], mysql['PASSWORD'], mysql['HOST'], mysql['PORT'], mysql['NAME']) == \
        ('dyn', 's@cret', 'db.example', '3307', 'dynamo')
    assert mysql['ENGINE'] == config.MYSQL_ENGINE
    with pytest.raises(config.ConfigError, match='names no database'):
        config.database_from_url('mysql://root@localhost', '/srv/var')
    with pytest.raises(config.ConfigError, match='unsupported scheme'):
        config.database_from_url('postgres://x/y', '/srv/var')


def test_master_conf_is_checked_and_makes_the_primary_alias():
    local = config.database_from_url('mysql://root@127.0.0.1/dynamo', '/v')
    db, conf = config.master_from_conf('{"host": "primary.example", "user": "dynamosrv"}', local)
    assert (db['HOST'], db['USER'], db['NAME'], db['TEST']) == ('primary.example', 'dynamosrv', 'dynamo',
                                                               {'MIRROR': 'default'})
    assert config.primary_alias(local, db) is db
    with pytest.raises(config.ConfigError, match='not valid JSON'):
        config.master_from_conf('{host: x}', local)
    with pytest.raises(config.ConfigError, match=r"unknown keys \['hots'\]"):
        config.master_from_conf('{"host": "x", "hots": "y"}', local)
    with pytest.raises(config.ConfigError, match='needs a MariaDB/MySQL database of its own'):
        config.master_from_conf('{"host": "x"}', config.database_from_url(None, '/v'))
    # a primary on MariaDB has the alias too (pointing at itself until a failover moves it)
    assert config.master_from_conf('', local) == (None, None)
    own = config.primary_alias(local, None)
    assert own['NAME'] == 'dynamo' and own['CONN_MAX_AGE'] == 0
    assert config.primary_alias(config.database_from_url(None, '/v'), None) is None


def test_importing_the_settings_writes_no_file(tmp_path):
    var = tmp_path / 'var'
    env = dict(os.environ, DYNAMO_VAR_DIR=str(var), DJANGO_SETTINGS_MODULE='dynamo_site.settings')
    env.pop('DYNAMO_SECRET_KEY', None)
    env.pop('DYNAMO_DB_URL', None)
    code = 'import django; django.setup(); from django.conf import settings; print(settings.DATABASES["default"]["NAME"])'
    r = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True, cwd=str(ROOT))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(var / 'dynamo.sqlite3')
    assert not var.exists()


def test_the_server_commands_make_the_var_directory_and_a_private_secret_key(tmp_path, monkeypatch):
    var = tmp_path / 'var'
    monkeypatch.setenv('DYNAMO_VAR_DIR', str(var))
    monkeypatch.delenv('DYNAMO_SECRET_KEY', raising=False)
    monkeypatch.delenv('DYNAMO_CONFIG', raising=False)
    bootstrap.prepare('dynamo')           # a client command: nothing
    assert not var.exists()
    bootstrap.prepare('runserver_dynamo')
    key = var / 'secret_key'
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_text()) >= 50
    first = key.read_text()
    bootstrap.prepare('migrate')          # made once, never replaced
    assert key.read_text() == first


def test_servers_starting_at_once_on_a_fresh_var_directory_all_start_and_share_one_key(tmp_path):
    # several `runserver_dynamo` (or a migrate and a server) started together on a clean clone
    var = tmp_path / 'var'
    env = dict(os.environ, DYNAMO_VAR_DIR=str(var))
    env.pop('DYNAMO_SECRET_KEY', None)
    env.pop('DYNAMO_CONFIG', None)
    code = ('import sys, time; sys.path.insert(0, sys.argv[1]); from dynamo_site import bootstrap; '
            'time.sleep(max(0, float(sys.argv[2]) - time.time())); '
            'bootstrap.prepare("runserver_dynamo"); print((bootstrap.var_dir() / "secret_key").read_text())')
    start = str(time.time() + 3)     # all of them at the same moment
    procs = [subprocess.Popen([sys.executable, '-c', code, str(ROOT), start], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(12)]
    results = [p.communicate(timeout=60) + (p.returncode,) for p in procs]
    assert [r[2] for r in results] == [0] * 12, [r[1] for r in results if r[2]]
    assert len({r[0] for r in results}) == 1 and len(results[0][0]) >= 50
    assert sorted(p.name for p in var.iterdir()) == ['secret_key']     # no temporary file left


def test_the_suite_runs_on_a_clean_clone_whose_var_directory_does_not_exist_yet(tmp_path):
    # the admin's test client signs its session with the secret key, which nothing has made yet
    env = dict(os.environ, DYNAMO_VAR_DIR=str(tmp_path / 'var'))
    for name in ('DYNAMO_SECRET_KEY', 'DYNAMO_CONFIG', 'DYNAMO_DB_URL'):
        env.pop(name, None)
    r = subprocess.run([sys.executable, '-m', 'pytest', '-p', 'no:xdist', '-p', 'no:cacheprovider', '-q',
                        'tests/inventory/test_admin.py::test_a_live_servers_row_cannot_be_deleted'],
                       cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert (tmp_path / 'var' / 'secret_key').exists()
