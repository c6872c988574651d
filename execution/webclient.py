"""The local server's /data API, for commands that query it (dynamo_ls): one GET, the envelope
opened, errors as one line. Reads only; nothing here authenticates (the inventory is public)."""
import ipaddress
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request


class QueryError(Exception):
    pass


def server_url(bind, *, https=False):
    host, _, port = bind.rpartition(':')
    host = host or '127.0.0.1'
    if host in ('0.0.0.0', '::', '[::]'):
        host = '127.0.0.1'
    return f'{"https" if https else "http"}://{host}:{port}'


def get(base, path, params=None, timeout=60):
    """The `data` of GET base + path?params; raises QueryError with the server's message."""
    query = urllib.parse.urlencode({k: v for k, v in (params or {}).items() if v not in (None, '')})
    url = f'{base}{path}' + (f'?{query}' if query else '')
    context = None
    if url.startswith('https:'):
        host = urllib.parse.urlparse(url).hostname
        if host == 'localhost' or (_is_ip(host) and ipaddress.ip_address(host).is_loopback):
            context = ssl._create_unverified_context()   # this machine's own server, by its address
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as r:
            body = json.loads(r.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get('message')
        except ValueError:
            message = exc.reason
        raise QueryError(f'{exc.code}: {message}') from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, 'reason', exc)
        raise QueryError(f'no Dynamo server answers at {base} ({reason}); start one with '
                         f'"python manage.py runserver_dynamo", or name it with --url') from None
    return body.get('data'), body.get('message', '')


def _is_ip(host):
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False
