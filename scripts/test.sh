#!/usr/bin/env bash
# Install and run the test suite: on SQLite (embedded) and, when reachable, on MariaDB.
#   DYNAMO_TEST_MARIADB_URL  MariaDB to test on (default mysql://root@127.0.0.1:3306/dynamo)
#   DYNAMO_TEST_BACKENDS     "sqlite mariadb" (default), or one of them
#   DYNAMO_TEST_WORKERS      parallel pytest processes (default 3; most tests wait on servers and
#                            storage, so more processes than cores pay); 0 runs in this process
# Under CI=true an unreachable MariaDB is a failure, not a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
bash scripts/install-storage.sh
# the browser tests drive Debian's Chromium (no browser download)
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null
fi
# the confinement tests run the client and applications as other local users: they must be able
# to reach the interpreter (a pyenv under /root is not, by default)
if [ "$(id -u)" = 0 ]; then
    dir="$(.venv/bin/python -c 'import sys; print(sys.base_prefix)')"
    while [ "$dir" != / ]; do
        if [ "$(stat -c %A "$dir" | cut -c10)" != x ]; then
            echo "making $dir traversable (o+x) so that test users can run $(.venv/bin/python -c 'import sys; print(sys.executable)')"
            chmod o+x "$dir"
        fi
        dir="$(dirname "$dir")"
    done
fi
MARIADB_URL="${DYNAMO_TEST_MARIADB_URL:-mysql://root@127.0.0.1:3306/dynamo}"
BACKENDS="${DYNAMO_TEST_BACKENDS:-sqlite mariadb}"
WORKERS="${DYNAMO_TEST_WORKERS:-3}"
PARALLEL=()
if [ "$WORKERS" != 0 ]; then PARALLEL=(-n "$WORKERS" --dist loadfile); fi
status=0
for backend in $BACKENDS; do
    echo "=== test suite on $backend ==="
    if [ "$backend" = sqlite ]; then
        DYNAMO_DB_URL="sqlite:///$PWD/var/test-run.sqlite3" .venv/bin/python -m pytest "${PARALLEL[@]}" -m "not mariadb" "$@" || status=$?
    else
        if ! .venv/bin/python - "$MARIADB_URL" <<'PY'
import sys, urllib.parse, MySQLdb
u = urllib.parse.urlparse(sys.argv[1])
MySQLdb.connect(host=u.hostname, port=u.port or 3306, user=u.username or 'root', passwd=u.password or '', connect_timeout=5).close()
PY
        then
            if [ "${CI:-}" = true ]; then echo "MariaDB at $MARIADB_URL is not reachable" >&2; exit 1; fi
            echo "MariaDB not reachable at $MARIADB_URL: skipping the MariaDB pass"; continue
        fi
        DYNAMO_DB_URL="$MARIADB_URL" .venv/bin/python -m pytest "${PARALLEL[@]}" "$@" || status=$?
    fi
done
exit $status
