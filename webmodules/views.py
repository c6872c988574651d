"""The two dispatchers: /web/<module>/<name> (HTML) and /data/<module>/<name> (JSON, DRF).

They identify the caller, find the module class, enforce what it declares (authentication, roles,
write access), run it against the RAM image and map every error to a status code in one place.
"""
import json
import logging
import threading
import traceback
from collections import OrderedDict

from django.conf import settings
from django.http import HttpResponse
from django.template.loader import render_to_string
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from execution import errors as execution_errors
from execution import writepath
from execution.metrics import METRICS
from execution.runtime import RUNTIME
from inventory.errors import ObjectError, ServiceError
from webmodules import identity
from webmodules.base import (AuthenticationRequired, AuthorizationError, HTMLMixin, MethodNotAllowed,
                             NotFound, TryAgain, WebError)
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


def json_body(request):
    if request.method != 'POST' or not request.body:
        return None
    if request.content_type in ('application/x-www-form-urlencoded', 'multipart/form-data'):
        return None
    try:
        return json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as exc:
        from webmodules.base import InvalidRequest
        raise InvalidRequest(f'the request body is not valid JSON: {exc}') from None


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
    instance.input_data = json_body(request)
    if cls.write_enabled:
        content, applied = writepath.submit_write(lambda inv: instance.run(caller, params, inv),
                                                  origin=f'web:{caller.name}:/{mode}/{module}/{name}',
                                                  timeout=settings.DYNAMO_WEB_WRITE_WAIT)
        if applied.num_changes and not instance.message:
            instance.message = f'applied as change set {applied.seq} ({applied.num_changes} changes)'
        return content, instance
    with RUNTIME.lock.read():
        return instance.run(caller, params, ReadOnlyInventory(RUNTIME.inventory)), instance


_RESULTS = {400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found',
            405: 'Method Not Allowed', 406: 'Not Acceptable', 413: 'Request Entity Too Large',
            500: 'Internal Server Error', 503: 'Service Unavailable'}


def _error(exc):
    """(status, result, message, retry_after) for any exception: the one table where errors become
    statuses. The caller's errors are 4xx; the service's (fenced, no writer, not primary, image
    reloading) 503 with a Retry-After; anything else is a bug: 500, logged."""
    if isinstance(exc, WebError):
        return exc.status, exc.result, str(exc), getattr(exc, 'retry_after', None) or (5 if exc.status == 503 else None)
    if isinstance(exc, execution_errors.ClientError):
        return exc.status, _RESULTS.get(exc.status, 'Bad Request'), str(exc), None
    if isinstance(exc, ObjectError):
        return 400, 'Bad Request', str(exc), None
    if isinstance(exc, ServiceError):
        return exc.status, _RESULTS.get(exc.status, 'Service Unavailable'), str(exc), exc.retry_after
    log.exception('web request failed')
    message = 'internal error' + (f': {traceback.format_exc()}' if settings.DEBUG else ' (see the server log)')
    return 500, 'Internal Server Error', message, None


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


class DataView(APIView):
    """/data/<module>/<name>: the module's value in {"result", "message", "data"}."""
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer]
    authentication_classes = []
    permission_classes = []

    def get(self, request, module, name):
        raw = request._request
        cls = get_registry().find('data', module, name)
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

    def get_view_name(self):
        kwargs = getattr(self, 'kwargs', {}) or {}
        return f'/data/{kwargs.get("module", "")}/{kwargs.get("name", "")}'

    def get_view_description(self, html=False):
        kwargs = getattr(self, 'kwargs', {}) or {}
        cls = get_registry().find('data', kwargs.get('module'), kwargs.get('name'))
        doc = (cls.__doc__ or '').strip() if cls else ''
        if html:
            from django.utils.html import escape
            return f'<pre>{escape(doc)}</pre>'
        return doc


def web_view(request, module, name):
    try:
        content, instance = run_module(request, 'web', module, name)
    except Exception as exc:
        status, result, message, retry_after = _error(exc)
        response = HttpResponse(render_to_string('webmodules/error.html', {'status': status, 'result': result,
                                                                           'message': message}), status=status)
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


class OpenAPIView(APIView):
    """OpenAPI 3 description of every /data endpoint of the loaded modules."""
    authentication_classes = []
    permission_classes = []

    def get(self, request):
        paths = {}
        for mode, module, name, cls in get_registry().endpoints():
            if mode != 'data':
                continue
            doc = (cls.__doc__ or '').strip()
            op = {'summary': doc.splitlines()[0] if doc else f'{module}/{name}', 'description': doc,
                  'tags': [module], 'responses': {'200': {'description': 'envelope {"result", "message", "data"}'}}}
            if cls.require_roles or cls.must_authenticate or cls.write_enabled:
                op['responses']['401'] = {'description': 'no client certificate'}
                op['responses']['403'] = {'description': 'missing role: ' + ', '.join(
                    f'{r} on {t or "*"}' for r, t in cls.require_roles)}
            paths[f'/data/{module}/{name}'] = {'get': dict(op, operationId=f'{module}_{name}_get'.replace('/', '_')),
                                               'post': dict(op, operationId=f'{module}_{name}_post'.replace('/', '_'))}
        return Response({'openapi': '3.0.3', 'info': {'title': 'Dynamo data API', 'version': '1'}, 'paths': paths})


def metrics_view(request):
    """/metrics: this server's metrics in the Prometheus text format."""
    return HttpResponse(generate_latest(METRICS.registry), content_type=CONTENT_TYPE_LATEST)
