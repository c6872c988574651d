"""The two dispatchers: /web/<module>/<name> (HTML) and /data/<module>/<name> (JSON, DRF).

They identify the caller, find the module class, enforce what it declares (authentication, roles,
write access), run it against the RAM image and map every error to a status code in one place.
Module calls are expensive: all but RESERVED_THREADS web threads may run them at once, so that
health checks, metrics and cached answers always find a thread (docs/web.md, "Limits").
"""
import json
import logging
import os
import tempfile
import threading
import traceback
from collections import OrderedDict

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.http import Http404, HttpResponse, UnreadablePostError
from django.template.loader import render_to_string
from django.utils.html import escape
from django.utils.safestring import mark_safe
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from rest_framework.exceptions import APIException
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from execution import errors as execution_errors
from execution import writepath
from execution.metrics import METRICS
from execution.runtime import RUNTIME
from inventory.errors import ObjectError, ServiceError
from webmodules import identity, openapi
from webmodules.base import (AuthenticationRequired, AuthorizationError, Busy, HTMLMixin, InvalidRequest,
                             MethodNotAllowed, NotFound, PayloadTooLarge, TryAgain, WebError)
from webmodules.registry import get_registry

log = logging.getLogger('dynamo.web')


def envelope(data=None, message='', result='OK', status=200):
    body = {'result': result, 'message': message}
    if data is not None:
        body['data'] = data
    return Response(body, status=status)


def request_params(request):
    """GET and form POST parameters: strings, or lists for repeated keys and `key[]`."""
    params = {}
    sources = [request.GET]
    if request.method == 'POST' and request.content_type in ('application/x-www-form-urlencoded', 'multipart/form-data'):
        sources.append(request.POST)
    for source in sources:
        for key in source:
            values = source.getlist(key)
            if key.endswith('[]'):
                params.setdefault(key[:-2], []).extend(values)
            elif key in params:
                existing = params[key]
                params[key] = (existing if isinstance(existing, list) else [existing]) + values
            else:
                params[key] = values[0] if len(values) == 1 else values
    return params


def _declared_length(request):
    try:
        return int(request.META.get('CONTENT_LENGTH') or 0)
    except ValueError:
        raise InvalidRequest('the Content-Length header is not a number') from None


def _truncated(got, declared):
    what = 'ended before all' if got is None else f'ended after {got}'
    return InvalidRequest(f'the request body {what} of the {declared} bytes its Content-Length announced '
                          f'(the client stopped sending)')


def json_body(request):
    """The decoded JSON body of a POST request (at most DATA_UPLOAD_MAX_MEMORY_SIZE), or None."""
    if request.method != 'POST' or request.content_type in ('application/x-www-form-urlencoded',
                                                            'multipart/form-data'):
        return None
    declared = _declared_length(request)
    if declared > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        raise PayloadTooLarge(f'the request body is {declared} bytes; this endpoint takes at most '
                              f'{settings.DATA_UPLOAD_MAX_MEMORY_SIZE}')
    try:
        body = request.body
    except UnreadablePostError:
        raise _truncated(None, declared) from None
    if len(body) < declared:
        raise _truncated(len(body), declared)
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f'the request body is not valid JSON: {exc}') from None
    except RecursionError:
        raise InvalidRequest('the request body is not valid JSON: arrays or objects nested too deeply') from None


def spool_body(request):
    """A POST body copied to a temporary file a piece at a time, within DYNAMO_MAX_DOCUMENT_MB;
    returns its path (the caller removes it), or None without a body."""
    limit = settings.DYNAMO_MAX_DOCUMENT_MB << 20
    declared = _declared_length(request)
    if declared > limit:
        raise PayloadTooLarge(f'the document is {declared} bytes, over the maximum of '
                              f'{settings.DYNAMO_MAX_DOCUMENT_MB} MB (DYNAMO_MAX_DOCUMENT_MB)')
    if declared <= 0:
        return None
    fd, path = tempfile.mkstemp(prefix='dynamo-body-', suffix='.json')
    try:
        got = 0
        with os.fdopen(fd, 'wb') as f:
            while got < declared:
                try:
                    piece = request.read(min(1 << 20, declared - got))
                except OSError:   # the socket timed out or broke: the client stopped sending
                    piece = b''
                if not piece:
                    raise _truncated(got, declared)
                f.write(piece)
                got += len(piece)
    except BaseException:
        os.unlink(path)
        raise
    return path


class _Gate:
    """Lets at most `size` expensive requests run at once; one more is refused at once (503 with
    a Retry-After), so that it does not take one of the threads kept for cheap requests."""

    def __init__(self):
        self._semaphore = None
        self._lock = threading.Lock()

    @property
    def size(self):
        return max(1, settings.DYNAMO_WEB_THREADS - RESERVED_THREADS)

    def __enter__(self):
        with self._lock:
            if self._semaphore is None:
                self._semaphore = threading.BoundedSemaphore(self.size)
        if not self._semaphore.acquire(blocking=False):
            raise Busy(f'the server is answering {self.size} expensive requests already; retry in a second')
        return self

    def __exit__(self, *exc):
        self._semaphore.release()
        return False


RESERVED_THREADS = 2
# modules whose calls are cheap (health): never refused for being busy, and answered while a change
# set is being applied (they read the image's sequence number and digest, no inventory object)
CHEAP_MODULES = frozenset({'server'})
EXPENSIVE = _Gate()


class _Ungated:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _gate(module):
    return _Ungated() if module in CHEAP_MODULES else EXPENSIVE


class ReadOnlyInventory:
    """The image as seen by modules that did not declare write access: reading only."""
    __slots__ = ('_inventory',)

    def __init__(self, inventory):
        self._inventory = inventory

    def __getattr__(self, name):
        return getattr(self._inventory, name)

    def update(self, obj):
        raise AuthorizationError('this web module is read-only: it cannot change the inventory')

    delete = register_update = update


def run_module(request, mode, module, name):
    """Returns (content, module instance); raises WebError subclasses."""
    caller = identity.caller_of_request(request)
    cls = get_registry().find(mode, module, name)
    if cls is None:
        raise NotFound(f'no /{mode}/{module}/{name}' + ('' if module in get_registry().modules
                                                         else f' (no web module named {module!r})'))
    if (cls.must_authenticate or cls.require_roles or cls.write_enabled) and not caller.is_authenticated:
        raise AuthenticationRequired(f'/{mode}/{module}/{name} needs an authenticated caller '
                                     f'(HTTPS with a client certificate)')
    if cls.require_roles and not any(caller.has_role(role, target) for role, target in cls.require_roles):
        needed = ' or '.join(f'{r} on {t or "any target"}' for r, t in cls.require_roles)
        raise AuthorizationError(f'{caller.name} needs the role {needed} for /{mode}/{module}/{name}')
    if (cls.write_enabled or cls.changes_state) and (
            request.method != 'POST' or request.content_type != 'application/json'):
        # a link, an image or a cross-site form must not be able to change anything
        raise MethodNotAllowed(f'/{mode}/{module}/{name} changes data: send a POST request with a JSON body '
                               f'(Content-Type: application/json)')
    if RUNTIME.inventory is None:
        raise TryAgain('the inventory is loading; try again shortly')
    params = request_params(request)
    instance = cls(get_registry().config)
    instance.request_path = request.path    # the page layout marks where the caller is
    instance.method = request.method        # (a module that takes forms refuses a GET that would change things)
    spooled = None
    try:
        if hasattr(instance, 'load_document') and request.method == 'POST':
            # a module that reads documents of any size: the body goes to a file, read from there
            spooled = spool_body(request)
            if spooled is not None:
                instance.load_document(spooled)
        else:
            instance.input_data = json_body(request)
        if cls.write_enabled:
            content, applied = writepath.submit_write(lambda inv: instance.run(caller, params, inv),
                                                      origin=f'web:{caller.name}:/{mode}/{module}/{name}',
                                                      timeout=settings.DYNAMO_WEB_WRITE_WAIT)
            if applied.num_changes and not instance.message:
                instance.message = f'applied as change set {applied.seq} ({applied.num_changes} changes)'
            return content, instance
        if module in CHEAP_MODULES or not cls.reads_image:   # no objects read: no lock to wait for
            return instance.run(caller, params, ReadOnlyInventory(RUNTIME.inventory)), instance
        with RUNTIME.lock.read():
            return instance.run(caller, params, ReadOnlyInventory(RUNTIME.inventory)), instance
    finally:
        if spooled is not None:
            os.unlink(spooled)


_RESULTS = {400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found',
            405: 'Method Not Allowed', 406: 'Not Acceptable', 413: 'Request Entity Too Large',
            415: 'Unsupported Media Type', 500: 'Internal Server Error', 503: 'Service Unavailable'}


def _error(exc):
    """(status, result, message, retry_after) for any exception: the one table where errors become
    statuses. The caller's errors are 4xx; the service's (fenced, no writer, not primary, image
    reloading) 503 with a Retry-After; anything else is a bug: 500, logged."""
    if isinstance(exc, WebError):
        return exc.status, exc.result, str(exc), getattr(exc, 'retry_after', None) or (5 if exc.status == 503 else None)
    if isinstance(exc, APIException):   # REST framework's own: method, Accept header, format
        return exc.status_code, _RESULTS.get(exc.status_code, 'Bad Request'), _detail(exc.detail), None
    if isinstance(exc, Http404):
        return 404, 'Not Found', str(exc) or 'not found', None
    if isinstance(exc, RequestDataTooBig):
        return 413, _RESULTS[413], (f'the request body is over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes, '
                                    f'the most this endpoint takes'), None
    if isinstance(exc, TooManyFieldsSent):
        return 400, 'Bad Request', (f'the request has more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} '
                                    f'parameters'), None
    if isinstance(exc, SuspiciousOperation):
        return 400, 'Bad Request', f'the request was refused: {exc}', None
    if isinstance(exc, UnreadablePostError):
        return 400, 'Bad Request', f'the request body could not be read: {exc}', None
    if isinstance(exc, execution_errors.ClientError):
        return exc.status, _RESULTS.get(exc.status, 'Bad Request'), str(exc), None
    if isinstance(exc, ObjectError):
        return 400, 'Bad Request', str(exc), None
    if isinstance(exc, ServiceError):
        return exc.status, _RESULTS.get(exc.status, 'Service Unavailable'), str(exc), exc.retry_after
    log.exception('web request failed')
    message = 'internal error' + (f': {traceback.format_exc()}' if settings.DEBUG else ' (see the server log)')
    return 500, 'Internal Server Error', message, None


def _detail(detail):
    if isinstance(detail, (list, tuple)):
        return '; '.join(_detail(d) for d in detail)
    if isinstance(detail, dict):
        return '; '.join(f'{k}: {_detail(v)}' for k, v in detail.items())
    return str(detail)


def error_response(exc):
    status, result, message, retry_after = _error(exc)
    response = envelope(message=message, result=result, status=status)
    if retry_after:
        response['Retry-After'] = str(int(retry_after))
    return response


class _AnswerCache:
    """Rendered answers of `cacheable` modules, valid while the image version does not change."""

    def __init__(self, size=512):
        self.size = size
        self.lock = threading.Lock()
        self.entries = OrderedDict()

    @staticmethod
    def key(module, name, request):
        return (module, name, tuple(sorted((k, tuple(request.GET.getlist(k))) for k in request.GET)))

    def get(self, key, version, changing=False):
        """The answer for this image version; while a change set is being applied (`changing`),
        also the answer for the version before it: the last committed state, whole."""
        with self.lock:
            hit = self.entries.get(key)
            if hit is not None and (hit[0] == version or (changing and hit[0] == version - 1)):
                self.entries.move_to_end(key)
                return hit[1]
        return None

    def put(self, key, version, body):
        with self.lock:
            self.entries[key] = (version, body)
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)


ANSWERS = _AnswerCache()


def _envelope_errors(exc, context):
    return error_response(exc)


class _EnvelopeErrors:
    """REST framework's own errors (405, 406, a bad format, too many parameters) in the envelope."""

    def get_exception_handler(self):
        return _envelope_errors


class DataBrowsableAPIRenderer(BrowsableAPIRenderer):
    """The browsable API with breadcrumbs that lead somewhere: the index of /data, the module's
    index, the endpoint."""

    def get_breadcrumbs(self, request):
        parts = [p for p in request.path.split('/') if p][1:]
        crumbs = [('Data API', '/data/')]
        if parts:
            crumbs.append((parts[0], f'/data/{parts[0]}/'))
        if len(parts) > 1:
            crumbs.append(('/'.join(parts[1:]), request.path))
        return crumbs


def endpoint_index(module=None):
    """[{path, summary, methods, needs}] of the /data endpoints (of one module)."""
    rows = []
    for mode, name, endpoint, cls in get_registry().endpoints():
        if mode != 'data' or (module is not None and name != module):
            continue
        path = f'/data/{name}/{endpoint}' if endpoint else f'/data/{name}'
        rows.append({'path': path, 'summary': openapi.summary(cls.__doc__, path), 'methods': list(cls.http_methods()),
                     'needs': openapi.roles_text(cls)})
    return rows


def _description_html(cls, path):
    return render_to_string('webmodules/api_description.html', {
        'paragraphs': openapi.paragraphs(cls.__doc__), 'parameters': cls.parameters or (),
        'methods': cls.http_methods(), 'needs': openapi.roles_text(cls), 'path': path,
        'body': cls.request_body is not None, 'changes': cls.write_enabled or cls.changes_state})


class DataView(_EnvelopeErrors, APIView):
    """/data/<module>/<name>: the module's value in {"result", "message", "data"}."""
    renderer_classes = [JSONRenderer, DataBrowsableAPIRenderer]
    authentication_classes = []
    permission_classes = []

    def get(self, request, module, name):
        raw = request._request
        cls = get_registry().find('data', module, name)
        if cls is None and not name and module in get_registry().modules:
            # /data/<module>/ of a module without a '' endpoint: its index
            rows = endpoint_index(module)
            return envelope(rows, message=f'{len(rows)} endpoints of {module}')
        inventory = RUNTIME.inventory
        cache_key = None
        if (cls is not None and cls.cacheable and raw.method == 'GET' and inventory is not None
                and 'text/html' not in raw.META.get('HTTP_ACCEPT', '')):
            cache_key = _AnswerCache.key(module, name, raw)
            version = inventory.version
            body = ANSWERS.get(cache_key, version, changing=inventory.journal is not None)
            if body is not None:
                try:
                    identity.caller_of_request(raw)   # an unknown certificate is still refused
                except Exception as exc:
                    return error_response(exc)
                return HttpResponse(body, content_type='application/json')
        try:
            with _gate(module):
                content, instance = run_module(raw, 'data', module, name)
        except Exception as exc:
            return error_response(exc)
        # (also while a change set is being written to the database: readers already see all of
        # it, and its end bumps the version again)
        if cache_key is not None and not instance.additional_headers:
            body = json.dumps({'result': 'OK', 'message': instance.message or '', 'data': content},
                              separators=(',', ':')).encode()
            ANSWERS.put(cache_key, version, body)
            return HttpResponse(body, content_type='application/json')
        response = envelope(content, message=instance.message or '')
        for header, value in instance.additional_headers:
            response[header] = value
        return response

    post = get

    def _path(self):
        kwargs = getattr(self, 'kwargs', {}) or {}
        module, name = kwargs.get('module', ''), kwargs.get('name', '')
        return module, name, f'/data/{module}/{name}' if name else f'/data/{module}'

    def get_view_name(self):
        return self._path()[2]

    def get_view_description(self, html=False):
        module, name, path = self._path()
        cls = get_registry().find('data', module, name)
        if cls is None:
            text = f'The endpoints of the module {module}.' if module in get_registry().modules else ''
            return mark_safe(f'<p>{escape(text)}</p>') if html else text
        if html:
            return mark_safe(_description_html(cls, path))
        return '\n\n'.join(openapi.paragraphs(cls.__doc__))


class DataIndexView(_EnvelopeErrors, APIView):
    """/data/: every /data endpoint of the loaded modules, with its summary and methods."""
    renderer_classes = [JSONRenderer, DataBrowsableAPIRenderer]
    authentication_classes = []
    permission_classes = []

    def get(self, request):
        rows = endpoint_index()
        return envelope(rows, message=f'{len(rows)} endpoints; their description: /data/openapi.json, /api/')

    def get_view_name(self):
        return 'Data API'

    def get_view_description(self, html=False):
        text = ('Every /data endpoint of the loaded web modules. The OpenAPI document is /data/openapi.json; '
                'the interactive page /api/.')
        return mark_safe(f'<p>{escape(text)} <a href="/api/">Open the API page</a>.</p>') if html else text


def error_page(request, status, result, message):
    """The HTML error page (in the site's layout) of a status."""
    return render_to_string('webmodules/error.html', {'status': status, 'result': result, 'message': message,
                                                      'title': f'{status} {result}', 'request_path': request.path})


def web_view(request, module, name):
    try:
        with _gate(module):
            content, instance = run_module(request, 'web', module, name)
    except Exception as exc:
        status, result, message, retry_after = _error(exc)
        response = HttpResponse(error_page(request, status, result, message), status=status)
        if retry_after:
            response['Retry-After'] = str(int(retry_after))
        return response
    if not isinstance(content, (str, bytes)):
        content = json.dumps(content)
    content_type = 'text/html' if isinstance(instance, HTMLMixin) else instance.content_type
    response = HttpResponse(content, content_type=content_type)
    for header, value in instance.additional_headers:
        response[header] = value
    return response


def web_index(request, module):
    return web_view(request, module, '')


def data_not_found(request, rest=''):
    return HttpResponse(json.dumps({'result': 'Not Found', 'message': f'no /data/{rest}'}), status=404,
                        content_type='application/json')


class OpenAPIView(_EnvelopeErrors, APIView):
    """OpenAPI 3.1 description of every /data endpoint of the loaded modules (webmodules/openapi.py)."""
    renderer_classes = [JSONRenderer]
    authentication_classes = []
    permission_classes = []

    def get(self, request):
        return Response(openapi.document(get_registry()))


def metrics_view(request):
    """/metrics: this server's metrics in the Prometheus text format."""
    return HttpResponse(generate_latest(METRICS.registry), content_type=CONTENT_TYPE_LATEST)
