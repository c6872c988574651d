"""The web module contract (the seed's): classes exported by a module's `export_web` /
`export_data` inherit WebModule, take the modules Configuration, and compute
`run(caller, request, inventory)`: HTML for /web, a JSON-serializable value for /data.

Class attributes declare what the dispatcher enforces before `run` is called:
`must_authenticate` (a known caller), `require_roles` (any of these (role, target) pairs, a target of
None meaning any target) and `write_enabled` (the inventory's update/delete calls are applied as one
change set through the write path); and what the API description says of the module (OpenAPI,
the browsable API): `parameters` (Param), `request_body` and `response` (JSON schemas of the POST
body and of the answer's `data`), `methods`.
"""
import json
import os
import re
from dataclasses import dataclass

from django.template.loader import render_to_string

from accounts.caller import ANONYMOUS, Caller  # noqa: F401  (ANONYMOUS: part of the module contract)


class WebError(Exception):
    status = 400
    result = 'Bad Request'


class MissingParameter(WebError):
    def __init__(self, name, context=''):
        super().__init__(f'missing required parameter "{name}"' + (f' in {context}' if context else ''))


class IllFormedRequest(WebError):
    def __init__(self, name, value, expected=''):
        super().__init__(f'parameter "{name}" has an invalid value {value!r}' + (f': {expected}' if expected else ''))


class InvalidRequest(WebError):
    pass


class AuthenticationRequired(WebError):
    status = 401
    result = 'Unauthorized'


class AuthorizationError(WebError):
    status = 403
    result = 'Forbidden'


class NotFound(WebError):
    status = 404
    result = 'Not Found'


class TryAgain(WebError):
    status = 503
    result = 'Service Unavailable'


class MethodNotAllowed(WebError):
    status = 405
    result = 'Method Not Allowed'


class PayloadTooLarge(WebError):
    status = 413
    result = 'Request Entity Too Large'


class Busy(TryAgain):
    """Every web thread that may run an expensive request is running one: retry shortly."""
    retry_after = 1


class Configuration(dict):
    """Dict with attribute access; strings have $(ENV) replaced by the environment variable."""

    def __init__(self, data=None, **kwargs):
        super().__init__()
        for key, value in dict(data or {}, **kwargs).items():
            self[key] = _expand(value)

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def get(self, key, default=None):
        return super().get(key, default)

    @classmethod
    def from_file(cls, path):
        if not path:
            return cls()
        with open(path) as f:
            return cls(json.load(f))


def _expand(value):
    if isinstance(value, str):
        return re.sub(r'\$\((\w+)\)', lambda m: os.environ.get(m.group(1), ''), value)
    if isinstance(value, dict):
        return Configuration(value)
    if isinstance(value, list):
        return [_expand(v) for v in value]
    return value


# the caller passed to run(): `User` is the name the seed's modules know it by
User = Caller


@dataclass(frozen=True)
class Param:
    """A query (or form) parameter a module reads, as the API description shows it. `type` is a
    JSON schema type (string, integer, number, boolean) or `pattern` (shell wildcards, several
    comma-separated or repeated), `yesno` (y/n, yes/no, true/false, 1/0) or `time` (UNIX seconds)."""
    name: str
    type: str = 'string'
    required: bool = False
    description: str = ''
    example: object = None
    enum: tuple = ()
    default: object = None

    def schema(self):
        if self.type == 'pattern':
            schema = {'type': 'string', 'description': 'shell wildcards (* ? [..]); several comma-separated '
                                                        'or repeated'}
        elif self.type == 'yesno':
            schema = {'type': 'string', 'enum': ['y', 'n', 'yes', 'no', 'true', 'false', '1', '0']}
        elif self.type == 'time':
            schema = {'type': 'integer', 'minimum': 0, 'description': 'UNIX time (seconds)'}
        else:
            schema = {'type': self.type}
        if self.enum:
            schema['enum'] = list(self.enum)
        if self.default is not None:
            schema['default'] = self.default
        return schema


class WebModule:
    must_authenticate = False
    require_roles = ()          # any of these (role, target) pairs
    write_enabled = False
    changes_state = False       # other side effects (e.g. submitting an application): POST + JSON only
    cacheable = False           # the answer depends only on the parameters and the image version
    reads_image = True          # False: it never reads inventory objects (records, registries): run
                                # without the image's read lock, so its database work never waits on a writer
    content_type = 'application/json'
    # the API description (webmodules/openapi.py); None: not declared
    parameters = None           # (Param, ...): the query and form parameters it reads; () for none
    request_body = None         # JSON schema of the JSON body of a POST (writes, submissions)
    response = None             # JSON schema of the answer's `data`
    methods = None              # ('GET',), ('POST',) or ('GET', 'POST'); None: see http_methods()

    @classmethod
    def http_methods(cls):
        """The methods it answers: POST (with a JSON body) when it changes anything, else GET,
        unless it declares `methods` (e.g. a read that also takes a form post of long lists)."""
        if cls.write_enabled or cls.changes_state:
            return ('POST',)
        return tuple(cls.methods) if cls.methods else ('GET',)

    def __init__(self, config):
        self.config = config
        self.message = ''
        self.input_data = None
        self.additional_headers = []

    def run(self, caller, request, inventory):
        raise NotImplementedError


class HTMLMixin:
    """Wraps a page body in the site's layout (webmodules/page.html: header, navigation, footer, the
    shared stylesheet webmodules/dynamo.css and script webmodules/dynamo.js). `nav_label` names
    a module's index page in the navigation (default: its title)."""
    content_type = 'text/html'
    title = 'Dynamo'
    template = None              # template of the body; or return a body string from render_body()
    scripts = ()                 # static paths of page scripts
    stylesheets = ()

    def __init__(self, *args):
        """HTMLMixin(config[, title[, template]]) when it comes first among the bases, or the
        original Dynamo's explicit HTMLMixin.__init__(self, title, body_template) call."""
        rest = args
        if args and isinstance(args[0], dict):
            rest = args[1:]
            if not hasattr(self, 'config'):
                WebModule.__init__(self, args[0])
        if len(rest) > 0 and rest[0] is not None:
            self.title = rest[0]
        if len(rest) > 1 and rest[1] is not None:
            self.template = rest[1]

    def page(self, body=None, context=None, caller=None):
        context = dict(context or {})
        if body is None and self.template:
            body = render_to_string(self.template, context)
        return render_to_string('webmodules/page.html', {
            'title': self.title, 'body': body or '', 'scripts': self.scripts,
            'stylesheets': self.stylesheets, 'caller': caller,
            'request_path': getattr(self, 'request_path', ''), **context})


def count(request, name, default=None, maximum=None):
    """A non-negative integer parameter (a page size, an offset); `default` when it is absent or empty."""
    value = request.get(name)
    if isinstance(value, list):
        value = ','.join(str(v) for v in value)   # given twice: refused below, naming both
    if value is None or value == '':
        return default
    if not (isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12):
        raise IllFormedRequest(name, value, 'expected a non-negative integer')
    number = int(value)
    if maximum is not None and number > maximum:
        raise IllFormedRequest(name, value, f'at most {maximum}')
    return number


def yesno(request, name, default=None):
    value = request.get(name)
    if value is None:
        return default
    if isinstance(value, str) and value.lower() in ('true', '1', 'y', 'yes'):
        return True
    if isinstance(value, str) and value.lower() in ('false', '0', 'n', 'no'):
        return False
    raise IllFormedRequest(name, value, 'expected yes/no, true/false or 1/0')
