"""The OpenAPI 3.1 description of the /data endpoints, generated from what each loaded module
declares (WebModule.parameters, request_body, response, methods, require_roles ...): pure, no
request handling. A module that declares nothing is still listed, marked `x-undeclared`."""
import re
import textwrap

from webmodules.base import Param

OPENAPI_VERSION = '3.1.0'
_SENTENCE_END = re.compile(r'(?<=[.!?])\s+(?=[A-Z(`"/])')
_ERRORS = {
    '400': 'Bad Request: a missing or invalid parameter or body, an unknown object, a query over its limits',
    '401': 'Unauthorized: the endpoint needs a client certificate (HTTPS)',
    '403': 'Forbidden: the certificate is unknown, or its user lacks the role',
    '404': 'Not Found',
    '405': 'Method Not Allowed: a module that changes data takes only POST with a JSON body',
    '413': 'Request Entity Too Large: the body is over the limit',
    '503': 'Service Unavailable: the inventory is loading, the write lock stayed busy or every expensive '
           'thread is taken; see Retry-After',
}


def paragraphs(doc):
    """The docstring as a list of one-line paragraphs."""
    text = textwrap.dedent('\n'.join((doc or '').strip('\n').splitlines()[1:]))
    first = (doc or '').strip().splitlines()[0].strip() if (doc or '').strip() else ''
    text = first + ('\n' + text if text.strip() else '')
    return [' '.join(p.split()) for p in re.split(r'\n\s*\n', text) if p.strip()]


def summary(doc, fallback):
    """The docstring's first sentence, whole (never cut in the middle)."""
    paras = paragraphs(doc)
    if not paras:
        return fallback
    return _SENTENCE_END.split(paras[0], maxsplit=1)[0].strip()


def roles_text(cls):
    if cls.require_roles:
        return ' or '.join(f'{role} on {target or "any target"}' for role, target in cls.require_roles)
    if cls.must_authenticate or cls.write_enabled:
        return 'any known user'
    return ''


def undeclared(cls):
    """What the module does not declare (its API description is incomplete without it)."""
    missing = []
    if cls.parameters is None:
        missing.append('parameters')
    if cls.response is None:
        missing.append('response')
    if (cls.write_enabled or cls.changes_state) and cls.request_body is None and not hasattr(cls, 'load_document'):
        missing.append('request_body')
    return missing


def _parameter(param: Param):
    out = {'name': param.name, 'in': 'query', 'required': bool(param.required), 'schema': param.schema()}
    if param.description:
        out['description'] = param.description
    if param.example is not None:
        out['example'] = param.example
    if param.type == 'pattern':
        out['style'], out['explode'] = 'form', True
    return out


def _envelope(data_schema):
    data = data_schema if data_schema is not None else {'description': 'not declared by the module'}
    return {'type': 'object', 'required': ['result', 'message', 'data'],
            'properties': {'result': {'const': 'OK'}, 'message': {'type': 'string'}, 'data': data}}


def _form_schema(params):
    properties = {p.name: dict(p.schema(), **({'description': p.description} if p.description else {}))
                  for p in params}
    required = [p.name for p in params if p.required]
    return {'type': 'object', 'properties': properties, **({'required': required} if required else {})}


def operation(module, name, cls, method):
    doc = cls.__doc__ or ''
    path = f'/data/{module}/{name}' if name else f'/data/{module}'
    description = '\n\n'.join(paragraphs(doc))
    roles = roles_text(cls)
    if roles:
        description += f'\n\n**Needs:** {roles} (a client certificate over HTTPS).'
    if cls.write_enabled:
        description += ('\n\nRuns in the write path: its changes are one change set, applied before the '
                        'answer, or none at all when it fails.')
    op = {'operationId': re.sub(r'\W+', '_', f'{module}_{name or "index"}_{method.lower()}'),
          'summary': summary(doc, path), 'description': description.strip(), 'tags': [module],
          'parameters': [_parameter(p) for p in cls.parameters or ()],
          'responses': {'200': {'description': 'OK: the envelope, its `data` the answer',
                                'content': {'application/json': {'schema': _envelope(cls.response)}}}}}
    changes = cls.write_enabled or cls.changes_state
    if method == 'POST':
        if changes:
            if hasattr(cls, 'load_document'):
                body = cls.request_body or {'type': 'object', 'description': 'the document'}
            else:
                body = cls.request_body if cls.request_body is not None else {'type': 'object'}
            op['requestBody'] = {'required': True, 'content': {'application/json': {'schema': body}}}
        elif cls.parameters or cls.request_body is not None:
            content = {}
            if cls.parameters:
                content['application/x-www-form-urlencoded'] = {'schema': _form_schema(cls.parameters)}
            if cls.request_body is not None:
                content['application/json'] = {'schema': cls.request_body}
            op['requestBody'] = {'required': False, 'content': content,
                                 'description': 'the parameters as a form (for long lists)' if not cls.request_body
                                 else 'the parameters as a form, or as a JSON object (whose keys win)'}
    codes = ['400', '404', '503']
    if cls.require_roles or cls.must_authenticate or cls.write_enabled:
        codes[1:1] = ['401', '403']
        op['security'] = [{'certificate': []}]
        op['x-dynamo-roles'] = [{'role': r, 'target': t} for r, t in cls.require_roles]
    if changes:
        op['x-dynamo-changes'] = 'inventory' if cls.write_enabled else 'state'
        codes.append('413')
    for code in sorted(codes):
        op['responses'][code] = {'$ref': f'#/components/responses/{code}'}
    missing = undeclared(cls)
    if missing:
        op['x-undeclared'] = missing
    return path, op


def document(registry):
    """The OpenAPI document of the registry's /data endpoints."""
    paths, tags = {}, []
    for info in sorted(registry.modules.values(), key=lambda i: i.name):
        if not info.data:
            continue
        tags.append({'name': info.name, 'description': summary(info.doc, info.name)})
        for name, cls in sorted(info.data.items()):
            for method in cls.http_methods():
                path, op = operation(info.name, name, cls, method)
                paths.setdefault(path, {})[method.lower()] = op
    return {
        'openapi': OPENAPI_VERSION,
        'info': {'title': 'Dynamo data API', 'version': '1',
                 'description': ('Every answer is the envelope `{"result", "message", "data"}`; errors keep it '
                                 'without `data`. Reads are GET; whatever changes data is a POST with a JSON '
                                 'body. Callers are identified by their client certificate (HTTPS).')},
        'servers': [{'url': '/'}],
        'tags': tags,
        'paths': paths,
        'components': {
            'securitySchemes': {'certificate': {'type': 'mutualTLS',
                                                'description': 'a client certificate whose DN is registered '
                                                               'with `user_auth` (or a trusted proxy\'s header)'}},
            'schemas': {'Error': {'type': 'object', 'required': ['result', 'message'],
                                  'properties': {'result': {'type': 'string'}, 'message': {'type': 'string'}}}},
            'responses': {code: {'description': text, 'content': {'application/json': {
                'schema': {'$ref': '#/components/schemas/Error'}}}} for code, text in _ERRORS.items()},
        },
    }

