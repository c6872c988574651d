#!/usr/bin/env bash
# Install the storage tools the file operations use (gfal2 and its plugins, XRootD, nginx with WebDAV,
# davix) from Debian, and make Debian's gfal2 Python bindings importable from the project venv.
# Idempotent and quiet; leaves no storage server running as a system service (tests start their own).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES="gfal2 gfal2-plugin-file gfal2-plugin-http gfal2-plugin-xrootd gfal2-plugin-mock python3-gfal2
xrootd-server xrootd-client nginx libnginx-mod-http-dav-ext davix"
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    # nginx was absent before this run: a service it starts on installation is ours to stop below
    nginx_was_installed=$(dpkg-query -W -f='${Status}' nginx 2>/dev/null | grep -c "install ok installed" || true)
    echo "install-storage: installing$missing"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
    if [ "$nginx_was_installed" = 0 ]; then
        # Debian starts and enables nginx where a service manager runs; the tests start their own
        if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
            $SUDO systemctl disable --now nginx >/dev/null 2>&1 || true
        elif [ -f /run/nginx.pid ]; then
            $SUDO nginx -s stop >/dev/null 2>&1 || true
        fi
    fi
fi

# The bindings: Debian's python3-gfal2 is one extension module built for CPython 3.11's stable
# per-minor ABI (tag cpython-311-x86_64-linux-gnu). Neither it nor libboost_python311 links
# libpython, so it loads into any CPython 3.11 interpreter, such as the venv's pyenv 3.11.
# Only that one file is linked into the venv: the rest of Debian's dist-packages stays out.
SO=$(dpkg -L python3-gfal2 | grep -E '/gfal2\.cpython-[0-9]+-[^/]*\.so$' | head -1)
SITE=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
VENV_TAG=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
case "$SO" in
    *"$VENV_TAG") ;;
    *) echo "install-storage: $SO does not match the venv's ABI ($VENV_TAG)" >&2; exit 1 ;;
esac
if [ "$(readlink "$SITE/$(basename "$SO")" 2>/dev/null)" != "$SO" ]; then
    echo "install-storage: linking $(basename "$SO") into the venv"
    ln -sfn "$SO" "$SITE/$(basename "$SO")"
fi
.venv/bin/python -c 'import gfal2; gfal2.creat_context()' \
    || { echo "install-storage: the gfal2 bindings do not load in the venv" >&2; exit 1; }
