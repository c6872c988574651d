#!/usr/bin/env bash
# Quick start: install, create the embedded SQLite database with a demo inventory, run the server.
set -euo pipefail
prev=""
cd "$(dirname "$0")/.."
bash scripts/install.sh
.venv/bin/python manage.py migrate -v0
.venv/bin/python manage.py dynamo_demo
bind=127.0.0.1:8000
for arg in "$@"; do case "$prev" in --bind) bind="$arg";; esac; prev="$arg"; done
echo "Dynamo is starting: http://$bind/web/inventory/ and http://$bind/data/inventory/datasets (Ctrl-C stops it)"
exec .venv/bin/python manage.py runserver_dynamo "$@"
