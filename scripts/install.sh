#!/usr/bin/env bash
# Install what Dynamo needs on a Debian machine, saying what it does: a C compiler, the Python
# headers and venv module, the MariaDB client library (mysqlclient builds against it), then a venv
# with the pinned packages. Runs again in seconds when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "install: $*"; }
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi

PYTHON="${PYTHON:-python3}"
if ! command -v "$PYTHON" >/dev/null; then
    say "no $PYTHON: installing Debian's python3"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3 >/dev/null
fi
version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
case "$version" in
    3.11|3.12|3.13) ;;
    *) echo "install: Dynamo needs Python 3.11 or newer; $PYTHON is $version" >&2; exit 1 ;;
esac

# Debian packages: what building mysqlclient and making a venv need (only what is missing)
needed=""
command -v gcc >/dev/null || needed="$needed gcc"
command -v pkg-config >/dev/null || needed="$needed pkg-config"
pkg-config --exists libmariadb 2>/dev/null || pkg-config --exists mysqlclient 2>/dev/null || needed="$needed libmariadb-dev"
"$PYTHON" -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
    || needed="$needed python3-dev"
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || needed="$needed python3-venv"
if [ -n "$needed" ]; then
    say "installing from Debian:$needed"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $needed >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    say "making the virtual environment .venv ($PYTHON $version)"
    "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c 'import django, rest_framework, MySQLdb, celery, prometheus_client' 2>/dev/null \
        || [ requirements.txt -nt .venv/.installed ]; then
    say "installing the pinned Python packages (requirements.txt; mysqlclient is compiled, a minute or so)"
    .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt 2> >(grep -v "is ignored: it is neither" >&2)
    touch .venv/.installed
fi
say "done (.venv/bin/python manage.py ...)"
