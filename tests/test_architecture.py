"""The import graph of the project: no cycle anywhere (imports inside functions included), and
the layers of docs/architecture.md import only downwards."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ('accounts', 'dynamo', 'dynamo_site', 'execution', 'inventory', 'webmodules', 'policy', 'detox',
            'dealer', 'transfers', 'fileops', 'schedule', 'usage')


def project_modules():
    """{dotted module name: path} of the project's source (migrations excluded: Django's own graph)."""
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob('*.py') if (ROOT / package).is_dir() else ():
            rel = path.relative_to(ROOT).with_suffix('')
            if 'migrations' in rel.parts:
                continue
            parts = rel.parts[:-1] if rel.name == '__init__' else rel.parts
            modules['.'.join(parts)] = path
    return modules


def _resolve(name, modules):
    """The project module an import of `name` executes last (the deepest existing prefix)."""
    parts = name.split('.')
    while parts and '.'.join(parts) not in modules:
        parts.pop()
    return '.'.join(parts) if parts else None


def import_graph():
    modules = project_modules()
    graph = {}
    for module, path in modules.items():
        edges = set()
        is_package = path.name == '__init__.py'
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ''
                if node.level:
                    anchor = module.split('.') if is_package else module.split('.')[:-1]
                    anchor = anchor[:len(anchor) - (node.level - 1)]
                    base = '.'.join(anchor + ([base] if base else []))
                # `from X import Y` executes X.Y when it is a module, else X for the name Y
                names = [f'{base}.{alias.name}' if f'{base}.{alias.name}' in modules else base
                         for alias in node.names]
            for name in names:
                target = _resolve(name, modules)
                # a module's own packages are imported before it anyway: not an edge
                if target is not None and target != module and not module.startswith(target + '.'):
                    edges.add(target)
        graph[module] = edges
    return graph


def cycles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


# (modules of a layer, prefixes they must never import): the layers of docs/architecture.md
LAYERS = [
    ('inventory.objects', ('inventory.store', 'inventory.services', 'inventory.models', 'inventory.injection',
                           'execution', 'webmodules', 'accounts', 'policy', 'detox', 'dealer', 'transfers',
                           'fileops', 'dynamo_site')),
    ('policy', ('inventory.store', 'inventory.services', 'inventory.models', 'execution', 'webmodules',
                'accounts', 'detox', 'dealer', 'transfers', 'fileops', 'dynamo_site')),
    ('fileops.backends', ('inventory', 'execution', 'webmodules', 'accounts', 'detox', 'dealer', 'transfers')),
    ('inventory', ('execution', 'webmodules', 'accounts', 'detox', 'dealer', 'transfers', 'fileops')),
    ('accounts', ('execution', 'webmodules', 'detox', 'dealer', 'transfers', 'fileops')),
    ('execution.topology', ('execution.models', 'execution.services', 'execution.cluster', 'execution.server',
                            'execution.scheduler', 'execution.selectors', 'execution.writepath', 'inventory.models')),
    ('execution.models', ('execution.services', 'execution.cluster', 'execution.server', 'execution.scheduler',
                          'execution.selectors', 'execution.writepath', 'execution.appserver')),
    ('execution.services', ('execution.cluster', 'execution.server', 'execution.scheduler', 'execution.writepath',
                            'execution.appserver', 'execution.runner', 'webmodules')),
    ('execution.cluster', ('execution.server', 'execution.scheduler', 'execution.writepath', 'execution.appserver',
                           'webmodules')),
    ('execution', ('webmodules', 'detox', 'dealer', 'transfers', 'fileops')),
    ('execution.protocol', ('django', 'execution.models', 'dynamo_site')),
    # the capabilities: the records below the decisions, the decisions below the file operations'
    # engine only by those records, the schedule above them all by the cycles' names only
    ('transfers', ('detox', 'dealer', 'fileops', 'schedule', 'usage')),
    ('detox', ('dealer', 'fileops', 'schedule')),
    ('dealer', ('fileops', 'schedule')),
    ('fileops', ('detox', 'dealer', 'schedule')),
    ('schedule', ('detox', 'dealer', 'fileops', 'transfers', 'usage')),
    ('usage', ('detox', 'dealer', 'fileops', 'schedule', 'transfers')),
    # the pure cores of Detox and Dealer: a policy over an image -> a plan
    ('detox.cycle', ('django', 'execution', 'inventory.models', 'inventory.store', 'inventory.services')),
    ('detox.policyfile', ('django', 'execution', 'inventory.models', 'inventory.store', 'inventory.services')),
    ('detox.plan', ('django', 'execution', 'inventory.models', 'inventory.store', 'inventory.services')),
    ('detox.image', ('django', 'execution', 'inventory.models', 'inventory.store', 'inventory.services')),
    ('dealer.cycle', ('django', 'execution', 'inventory.models', 'inventory.store', 'inventory.services')),
]


def _within(module, prefix):
    return module == prefix or module.startswith(prefix + '.')


def test_the_import_graph_has_no_cycle():
    graph = import_graph()
    assert len(graph) > 50   # the walk found the project
    assert cycles(graph) == []


def test_layers_import_only_downwards():
    graph = import_graph()
    wrong = []
    for layer, forbidden in LAYERS:
        for module, targets in graph.items():
            if not _within(module, layer) or '.management.commands.' in module:
                continue   # management commands are interfaces, whichever package holds them
            wrong += [f'{module} -> {t}' for t in sorted(targets)
                      if any(_within(t, f) for f in forbidden) and not _within(t, layer)]
    assert wrong == []


def test_the_client_side_of_the_socket_imports_nothing_of_the_server():
    """execution.protocol is all `manage.py dynamo` takes from the server side: standard library only."""
    tree = ast.parse((ROOT / 'execution' / 'protocol.py').read_text())
    imported = {alias.name.split('.')[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split('.')[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {'json', 'socket', 'struct'}


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}) == [['a', 'b', 'c']]


PURE = ('inventory.objects', 'policy', 'detox.cycle', 'detox.policyfile', 'detox.plan', 'detox.image',
        'dealer.cycle', 'fileops.backends', 'fileops.pfn', 'fileops.checksums', 'execution.protocol')


def test_the_pure_cores_import_no_django():
    """What computes (the object graph, the policy language, the cycles' cores, the storage
    backends) is testable and forkable without Django."""
    found = []
    for module, path in project_modules().items():
        if not any(_within(module, pure) for pure in PURE):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ''] if isinstance(node, ast.ImportFrom) else []
            found += [f'{module}: {name}' for name in names if name.split('.')[0] == 'django']
    assert found == []
