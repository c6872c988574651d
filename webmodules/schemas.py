"""Small builders of the JSON schemas web modules declare (`response`, `request_body`): plain
dicts, so that a module's declaration reads like the answer it describes."""

STRING = {'type': 'string'}
INTEGER = {'type': 'integer'}
NUMBER = {'type': 'number'}
BOOLEAN = {'type': 'boolean'}
BYTES = {'type': 'integer', 'description': 'bytes'}
UNIX_TIME = {'type': 'number', 'description': 'UNIX time (seconds)'}
ISO_TIME = {'type': 'string', 'format': 'date-time'}
ANY = {}


def nullable(schema):
    """The schema, or null."""
    out = dict(schema)
    kind = out.get('type')
    if isinstance(kind, str):
        out['type'] = [kind, 'null']
    elif isinstance(kind, list):
        out['type'] = kind if 'null' in kind else kind + ['null']
    else:
        return {'anyOf': [schema, {'type': 'null'}]}
    if 'enum' in out and None not in out['enum']:
        out['enum'] = list(out['enum']) + [None]
    return out


def described(schema, description):
    return dict(schema, description=description)


def obj(properties=None, *, required=None, optional=(), extra=False, description=None):
    """An object with these properties; all of them required except `optional` (or exactly
    `required` when given)."""
    properties = dict(properties or {})
    schema = {'type': 'object', 'properties': properties}
    names = [n for n in properties if n not in optional] if required is None else list(required)
    if names:
        schema['required'] = names
    if not extra:
        schema['additionalProperties'] = False
    if description:
        schema['description'] = description
    return schema


def array(items, description=None):
    schema = {'type': 'array', 'items': items}
    if description:
        schema['description'] = description
    return schema


def mapping(values, description=None):
    """An object whose keys are names and whose values follow `values`."""
    schema = {'type': 'object', 'additionalProperties': values}
    if description:
        schema['description'] = description
    return schema


def enum(*values):
    return {'type': 'string', 'enum': list(values)}
