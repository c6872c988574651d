"""Discovery of web modules: every module or package in the module directories (the shipped
`webmodules/modules/` and DYNAMO_WEB_MODULE_PATHS) is a web interface named after it, and so is
every module an app registered in its AppConfig.ready() (`register_app_module('detox',
'detox.webmodule')`: the web side of a capability lives in its own folder).

Discovery runs once, at server start or on first use, never as an import side effect. A module
that fails to import is logged and recorded in `errors`; the others still load.
"""
import importlib.util
import logging
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from webmodules.base import Configuration

log = logging.getLogger('dynamo.web')
BUILTIN_DIR = Path(__file__).resolve().parent / 'modules'
_PREFIX = 'dynamo_webmodules'


@dataclass
class ModuleInfo:
    name: str
    path: str
    web: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    doc: str = ''


@dataclass
class Registry:
    modules: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    config: Configuration = field(default_factory=Configuration)

    def find(self, mode, module, name):
        info = self.modules.get(module)
        if info is None:
            return None
        return (info.web if mode == 'web' else info.data).get(name)

    def endpoints(self):
        for info in sorted(self.modules.values(), key=lambda i: i.name):
            for mode, table in (('web', info.web), ('data', info.data)):
                for name, cls in sorted(table.items()):
                    yield mode, info.name, name, cls


_registry = None
_lock = threading.Lock()
APP_MODULES = {}   # web module name -> dotted path of an app's module (registered in ready())


def register_app_module(name, dotted):
    APP_MODULES[name] = dotted


def module_dirs():
    dirs = [BUILTIN_DIR]
    from dynamo_site.config import split_list
    dirs += [Path(p) for p in split_list(settings.DYNAMO_WEB_MODULE_PATHS)]
    return dirs


def discover(dirs=None, config_path=None):
    """Import every web module found; returns a new Registry."""
    registry = Registry()
    try:
        registry.config = Configuration.from_file(config_path if config_path is not None
                                                  else settings.DYNAMO_WEB_MODULES_CONFIG)
    except (OSError, ValueError) as exc:
        log.error('cannot read the web modules configuration: %s', exc)
        registry.errors['(configuration)'] = str(exc)
    for directory in dirs if dirs is not None else module_dirs():
        if not directory.is_dir():
            log.error('web module directory %s does not exist', directory)
            registry.errors[str(directory)] = 'directory does not exist'
            continue
        for entry in sorted(directory.iterdir()):
            name = entry.stem if entry.suffix == '.py' else entry.name
            if name.startswith(('_', '.')):
                continue
            if entry.is_file() and entry.suffix == '.py':
                location, search = entry, None
            elif entry.is_dir() and (entry / '__init__.py').exists():
                location, search = entry / '__init__.py', [str(entry)]
            else:
                continue
            if name in registry.modules:
                log.warning('web module %s in %s ignored: %s already defines it', name, directory,
                            registry.modules[name].path)
                continue
            try:
                registry.modules[name] = _load(name, location, search)
            except Exception as exc:  # a broken module must not take the others down
                log.exception('web module %s (%s) failed to load', name, location)
                registry.errors[name] = f'{type(exc).__name__}: {exc}'
    for name, dotted in sorted(APP_MODULES.items()):
        if name in registry.modules:
            log.warning('web module %s of %s ignored: %s already defines it', name, dotted, registry.modules[name].path)
            continue
        try:
            module = importlib.import_module(dotted)
            registry.modules[name] = _exports(ModuleInfo(name, module.__file__), module)
        except Exception as exc:  # a broken module must not take the others down
            log.exception('web module %s (%s) failed to load', name, dotted)
            registry.errors[name] = f'{type(exc).__name__}: {exc}'
    log.info('web modules: %s%s', ', '.join(sorted(registry.modules)) or 'none',
             f' (failed: {", ".join(sorted(registry.errors))})' if registry.errors else '')
    return registry


def _load(name, location, search):
    module_name = f'{_PREFIX}.{name}'
    if _PREFIX not in sys.modules:
        import types
        pkg = types.ModuleType(_PREFIX)
        pkg.__path__ = []
        sys.modules[_PREFIX] = pkg
    spec = importlib.util.spec_from_file_location(module_name, location, submodule_search_locations=search)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return _exports(ModuleInfo(name, str(location)), module)


def _exports(info, module):
    info.doc = module.__doc__ or ''
    for attr, table in (('export_web', info.web), ('export_data', info.data)):
        exports = getattr(module, attr, {}) or {}
        if not isinstance(exports, dict):
            raise TypeError(f'{attr} must be a dict of name -> class')
        from webmodules.base import WebModule
        for key, cls in exports.items():
            if not (isinstance(cls, type) and issubclass(cls, WebModule)):
                raise TypeError(f'{attr}[{key!r}] is not a WebModule subclass')
            table[key] = cls
    return info


def get_registry():
    global _registry
    if _registry is None:
        with _lock:
            if _registry is None:
                _registry = discover()
    return _registry


def reset():
    """Forget the registry (tests, or after changing the module directories)."""
    global _registry
    with _lock:
        _registry = None
