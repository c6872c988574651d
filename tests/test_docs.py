"""The documents that must stay true: docs/objects.md (the object API) and docs/certificates.md
(test certificates with openssl).

docs/objects.md is read as follows. Headings that name a class (`## Dataset`, `### Condition`,
`### DatasetStatus`) open that class's section. In a section, the first column of a table lists
the class's names (`size`, `find_block(name)`, `STAT_*`, `Block.from_full_name(full_name)`); with
parentheses a name must be callable, without them it must not be. Anywhere in the text, a span
`var.name...` (a variable of the Conventions table: `dataset`, `br`, `obj`, ...) or
`Class.name...` names an attribute of that class, resolved with getattr on linked objects of a
small inventory (tests/conftest.py make_inventory), step by step along the chain. Every public
name of every class must be named so, and the first `Class(...)` span of a class's section is its
constructor's signature. Python blocks compile and run on the document's own example inventory
(its try_offline.py block) with the arguments of the `manage.py dynamo '...'` command before them,
and print the text block that follows them.
"""
import ast
import contextlib
import enum
import fnmatch
import importlib
import inspect
import io
import re
import shlex
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

import dynamo.core.executable as executable
import inventory.objects as objects
from inventory.objects import (Block, BlockReplica, Condition, DataType, Dataset, DatasetReplica,
                               DatasetStatus, File, Group, Inventory, OwnershipLevel, Partition, Site,
                               SitePartition, SiteStatus, StorageType)

ROOT = Path(__file__).resolve().parent.parent
OBJECTS_MD = ROOT / 'docs' / 'objects.md'
CERTIFICATES_MD = ROOT / 'docs' / 'certificates.md'

OBJECT_CLASSES = (Dataset, Block, File, Site, Partition, SitePartition, Group, DatasetReplica, BlockReplica)
ENUMS = (DatasetStatus, DataType, StorageType, SiteStatus, OwnershipLevel)
CLASSES = {c.__name__: c for c in (Inventory, Condition, *OBJECT_CLASSES, *ENUMS)}
ENUM_METHODS = ('parse', 'name_of', 'label')
# dotted module paths a span may start with (`inventory.objects.OWNED` is not `inventory.objects`)
MODULES = ('dynamo.core.executable', 'dynamo.dataformat', 'dynamo.web.modules._base', 'inventory.objects')


# ------------------------------------------------------------------------------------ markdown
@dataclass
class Line:
    no: int
    text: str
    path: tuple          # the titles of the headings it is under, outermost first


@dataclass
class Fence:
    lang: str
    code: str
    line: int            # of the opening marker
    end: int             # of the closing marker
    path: tuple


@dataclass
class Markdown:
    name: str
    lines: list
    fences: list
    headings: list       # titles


def parse_markdown(text, name):
    lines, fences, headings, path = [], [], [], []
    fence = None
    for no, line in enumerate(text.splitlines(), 1):
        if fence is not None:
            if line.strip() == fence['marker']:
                fences.append(Fence(fence['lang'], ''.join(l + '\n' for l in fence['body']), fence['line'], no,
                                    tuple(t for _, t in path)))
                fence = None
            else:
                fence['body'].append(line)
            continue
        opening = re.match(r'^(`{3,})([\w-]*)\s*$', line)
        if opening:
            fence = {'marker': opening.group(1), 'lang': opening.group(2), 'body': [], 'line': no}
            continue
        heading = re.match(r'^(#{1,6})\s+(.*?)\s*$', line)
        if heading:
            level = len(heading.group(1))
            while path and path[-1][0] >= level:
                path.pop()
            path.append((level, heading.group(2)))
            headings.append(heading.group(2))
        lines.append(Line(no, line, tuple(t for _, t in path)))
    assert fence is None, f'{name}: the code block opened at line {fence["line"]} is not closed'
    return Markdown(name, lines, fences, headings)


def spans(text):
    return re.findall(r'`([^`]+)`', text)


def cells(line):
    """The cells of a table row, or None (not a row, or the |---| line)."""
    text = line.text.strip()
    if not text.startswith('|') or re.fullmatch(r'[|\s:-]+', text):
        return None
    return [c.strip() for c in text.strip('|').split('|')]


def section_class(path):
    """The class whose section a line is in: the innermost heading naming a class."""
    for title in reversed(path):
        name = title.strip('`')
        if name in CLASSES:
            return CLASSES[name]
    return None


def anchor(title):
    """GitHub's anchor of a heading."""
    text = re.sub(r'[^\w\- ]', '', title.strip().lower().replace('`', ''))
    return text.replace(' ', '-')


def objects_doc(text=None):
    return parse_markdown(OBJECTS_MD.read_text() if text is None else text, 'docs/objects.md')


# ------------------------------------------------------------------------------------ names
def conventions(doc):
    """{variable: [classes]} from the table of the Conventions section."""
    found = {}
    for line in doc.lines:
        row = cells(line)
        if 'Conventions' in line.path and row and len(row) >= 2:
            variable = spans(row[0])
            classes = [CLASSES[s] for s in spans(row[1]) if s in CLASSES]
            if len(variable) == 1 and classes:
                found[variable[0]] = classes
    return found


def sample_objects(inventory):
    """Linked objects of each class, from a small inventory."""
    dataset = inventory.datasets['/A/B/RAW']
    site = inventory.sites['T2_A']
    partition = inventory.partitions['Default']
    replica = site.find_dataset_replica(dataset)
    block = dataset.blocks[0]
    samples = {
        Inventory: inventory, Dataset: dataset, Block: block, File: File('/A/B/RAW/b1/1.root', block, 10, id=1),
        Site: site, Partition: partition, Condition: partition.condition, SitePartition: site.partitions[partition],
        Group: inventory.groups['physics'], DatasetReplica: replica, BlockReplica: replica.block_replicas[0],
    }
    for enum_cls in ENUMS:
        samples[enum_cls] = list(enum_cls)[0]
    return samples


def public_names(cls, sample):
    if cls in ENUMS:
        return set(cls.__members__) | set(ENUM_METHODS)
    return {n for n in dir(sample) if not n.startswith('_')}


_MISSING = object()


def lookup(owner, name):
    """getattr, with enum members found on their class; _MISSING if there is no such attribute."""
    cls = owner if isinstance(owner, type) else type(owner)
    if issubclass(cls, enum.Enum) and name in cls.__members__:
        return cls[name]
    try:
        return getattr(owner, name)
    except AttributeError:
        return _MISSING


def parse_chain(span):
    """(head, [names], called) of `head.a.b(...)...`, or None. The chain stops at a subscript,
    a call or anything else; `called` says whether its last name is called."""
    match = re.match(r'([A-Za-z_][\w*]*)((?:\.[A-Za-z_*][\w*]*)*)(\()?', span)
    if match is None:
        return None
    names = [n for n in match.group(2).split('.') if n]
    return match.group(1), names, match.group(3) is not None


class NameCheck:
    """Resolves the names of docs/objects.md; `problems` says what does not exist, `documented`
    holds the (class, name) pairs the document names."""

    def __init__(self, doc, samples):
        self.doc = doc
        self.samples = samples
        self.variables = conventions(doc)
        self.problems = []
        self.documented = set()

    def where(self, line, span):
        return f'{self.doc.name}:{line.no}: `{span}`'

    def resolve(self, line, span, owner, names, called, strict):
        """Follow `names` from `owner` (a class or a sample object), recording what is named."""
        value = owner
        for i, name in enumerate(names):
            cls = value if isinstance(value, type) else type(value)
            if cls.__name__ not in CLASSES:
                return   # (a str, a dict, None: the chain leaves the API; nothing more to check)
            cls = CLASSES[cls.__name__]
            if '*' in name:
                matches = fnmatch.filter(public_names(cls, self.samples[cls]), name)
                if not matches:
                    self.problems.append(f'{self.where(line, span)}: no name of {cls.__name__} matches {name!r}')
                self.documented.update((cls, m) for m in matches)
                return
            found = lookup(value, name)
            if found is _MISSING:
                self.problems.append(f'{self.where(line, span)}: {cls.__name__} has no attribute {name!r}')
                return
            self.documented.add((cls, name))
            if i == len(names) - 1:
                if called and not callable(found):
                    self.problems.append(f'{self.where(line, span)}: {cls.__name__}.{name} is not callable')
                if strict and not called and callable(found) and not isinstance(found, type):
                    self.problems.append(f'{self.where(line, span)}: {cls.__name__}.{name} is a method: '
                                         f'write it with its arguments')
            value = found

    def check_span(self, line, span, context, strict):
        chain = parse_chain(span)
        if chain is None:
            return
        head, names, called = chain
        dotted = '.'.join([head, *names])
        module = next((m for m in MODULES if dotted == m or dotted.startswith(m + '.')), None)
        if module is not None:
            rest = dotted[len(module) + 1:].split('.') if dotted != module else []
            value = importlib.import_module(module)
            for name in rest:
                value = getattr(value, name, _MISSING)
                if value is _MISSING:
                    self.problems.append(f'{self.where(line, span)}: {module} has no {name!r}')
                    return
            return
        if context is not None and strict and head not in CLASSES and (head not in self.variables or not names):
            # a bare name in the first column of a class's table (`block`, even though a variable)
            owner = context if context in ENUMS and head in context.__members__ else self.samples[context]
            self.resolve(line, span, owner, [head, *names], called, strict)
            return
        if head in self.variables:
            if names:
                for cls in self.variables[head]:
                    self.resolve(line, span, self.samples[cls], names, called, strict)
            return
        if head in CLASSES and names:
            self.resolve(line, span, CLASSES[head], names, called, strict)

    def run(self):
        for line in self.doc.lines:
            context = section_class(line.path)
            row = cells(line)
            first = spans(row[0]) if row and context is not None else []
            for span in first:
                self.check_span(line, span, context, strict=True)
            rest = line.text
            if row and context is not None:
                rest = '|'.join(row[1:])
            for span in spans(rest):
                self.check_span(line, span, None, strict=False)
        return self


def undocumented(check):
    missing = []
    for cls, sample in check.samples.items():
        for name in sorted(public_names(cls, sample)):
            if (cls, name) not in check.documented:
                missing.append(f'{cls.__name__}.{name}')
    return missing


def constructor_problems(doc):
    """The first `Class(...)` span of each class's section must be its signature."""
    namespace = {name: getattr(objects, name) for name in objects.__all__}
    problems = []
    for cls in (Inventory, *OBJECT_CLASSES):
        span, line = next(((s, l) for l in doc.lines if section_class(l.path) is cls
                           for s in spans(l.text) if s.startswith(cls.__name__ + '(')), (None, None))
        if span is None:
            problems.append(f'{doc.name}: the section {cls.__name__} shows no constructor')
            continue
        try:
            args = ast.parse(f'def {span}: pass').body[0].args
        except SyntaxError:
            problems.append(f'{doc.name}:{line.no}: `{span}` is not a signature')
            continue
        documented = []
        defaults = [None] * (len(args.args) - len(args.defaults)) + list(args.defaults)
        for arg, default in zip(args.args, defaults):
            documented.append((arg.arg, 'POSITIONAL_OR_KEYWORD', default))
        for arg, default in zip(args.kwonlyargs, args.kw_defaults):
            documented.append((arg.arg, 'KEYWORD_ONLY', default))
        documented = [(name, kind, inspect.Parameter.empty if d is None else eval(ast.unparse(d), namespace))
                      for name, kind, d in documented]
        real = [(p.name, p.kind.name, p.default) for p in inspect.signature(cls).parameters.values()]
        if documented != real or args.vararg or args.kwarg:
            problems.append(f'{doc.name}:{line.no}: `{span}` is not {cls.__name__}{inspect.signature(cls)}')
    return problems


@pytest.fixture
def samples(make_inventory):
    return sample_objects(make_inventory())


def test_every_api_name_in_objects_md_exists_on_its_class(samples):
    check = NameCheck(objects_doc(), samples).run()
    assert not check.problems, '\n'.join(check.problems)
    # the conventions the document's spans rely on
    assert {'inventory', 'dataset', 'block', 'site', 'replica', 'br', 'obj'} <= set(check.variables)
    assert set(check.variables['obj']) == set(OBJECT_CLASSES)


def test_every_public_name_of_the_classes_is_in_objects_md(samples):
    missing = undocumented(NameCheck(objects_doc(), samples).run())
    assert not missing, 'not in docs/objects.md: ' + ', '.join(missing)


def test_the_constructors_in_objects_md_are_the_real_signatures():
    problems = constructor_problems(objects_doc())
    assert not problems, '\n'.join(problems)


def test_the_imports_listed_in_objects_md_exist():
    doc = objects_doc()
    rows = [cells(l) for l in doc.lines if 'Imports' in l.path and cells(l)]
    listed = {spans(row[0])[0]: spans(row[1]) for row in rows if spans(row[0])}
    assert {'dynamo.core.executable', 'dynamo.dataformat', 'inventory.objects'} <= set(listed)
    for module, names in listed.items():
        imported = importlib.import_module(module)
        absent = [n for n in names if not hasattr(imported, n)]
        assert not absent, f'{module} has no {absent}'
    assert set(listed['dynamo.core.executable']) == {'inventory', 'read_only', 'authorized', 'authorizer',
                                                     'make_standard_logger'}


def test_the_name_check_finds_wrong_names(samples):
    # given: the document with a made-up row in Dataset's table, a wrong call in the text, a
    # method written as an attribute, and Block's num_files row gone
    def edit(text, pattern, replacement):
        edited, count = re.subn(pattern, replacement, text, count=1, flags=re.M)
        assert count == 1, f'docs/objects.md no longer has {pattern!r}: update this test'
        return edited
    text = OBJECTS_MD.read_text()
    text = edit(text, r'^(\| `name` \| str \| the dataset name)', '| `no_such_attribute` | int | made up |\n'
                '| `find_replica` | method | written without its arguments |\n\\1')
    text = edit(text, r'^## Reading and changing\n', '## Reading and changing\n\nSee `br.no_such_method()` '
                'and `site.name()`.\n')
    text = edit(text, r'^\| `num_files` \| int \| number of its files.*\n', '')
    text = edit(text, r'`Group\(name, olevel=OwnershipLevel\.BLOCK, id=0, \*, gid=None\)`',
                '`Group(name, olevel=OwnershipLevel.DATASET, id=0)`')
    # when
    doc = objects_doc(text)
    check = NameCheck(doc, samples).run()
    # then
    problems = '\n'.join(check.problems)
    assert "Dataset has no attribute 'no_such_attribute'" in problems
    assert "Dataset.find_replica is a method" in problems
    assert "BlockReplica has no attribute 'no_such_method'" in problems
    assert 'Site.name is not callable' in problems
    assert 'Block.num_files' in undocumented(check)
    assert any('is not Group(' in p for p in constructor_problems(doc))


def test_the_links_of_both_documents_lead_somewhere():
    docs = {p.name: parse_markdown(p.read_text(), f'docs/{p.name}') for p in (ROOT / 'docs').glob('*.md')}
    for name in ('objects.md', 'certificates.md'):
        doc = docs[name]
        for line in doc.lines:
            for target in re.findall(r'\]\(([^)\s]+)\)', line.text):
                if re.match(r'\w+://', target):
                    continue
                page, _, fragment = target.partition('#')
                other = docs[name] if not page else docs.get(page)
                assert other is not None, f'{doc.name}:{line.no}: no document {page}'
                if fragment:
                    assert fragment in {anchor(h) for h in other.headings}, \
                        f'{doc.name}:{line.no}: no heading #{fragment} in {other.name}'


# ------------------------------------------------------------------------------------ code blocks
def python_blocks(doc):
    return [f for f in doc.fences if f.lang == 'python']


def offline_tool(doc):
    """The namespace of the document's try_offline.py block (not run as __main__)."""
    tools = [f for f in python_blocks(doc) if 'def example_inventory' in f.code]
    assert len(tools) == 1, 'docs/objects.md must hold one try_offline.py block'
    namespace = {'__name__': 'try_offline'}
    exec(compile(tools[0].code, 'try_offline.py', 'exec'), namespace)
    return tools[0], namespace


def script_name(fence):
    name = re.match(r'([\w.-]+\.py)\b', ast.get_docstring(ast.parse(fence.code)) or '')
    return name.group(1) if name else f'example_{fence.line}.py'


def command_of(doc, fence):
    """(args, write) of the `python manage.py dynamo 'SCRIPT ARGS'` line before `fence` in its
    section, or None when there is none."""
    name = script_name(fence)
    found = None
    for other in doc.fences:
        if other.lang != 'sh' or other.path != fence.path or other.line > fence.line:
            continue
        for line in other.code.splitlines():
            words = shlex.split(line) if 'manage.py dynamo ' in line else []
            if words[:3] == ['python', 'manage.py', 'dynamo'] and len(words) > 3:
                script, *args = shlex.split(words[3])
                assert script == name, f'docs/objects.md:{other.line}: runs {script}, the block below is {name}'
                found = args, '--write-request' in words[4:]
    return found


def expected_output(doc, fence):
    """The text block right after `fence` (only blank lines between), or None."""
    lines = {l.no: l.text for l in doc.lines}
    for other in doc.fences:
        if other.line > fence.end and all(not lines.get(n, '').strip() for n in range(fence.end + 1, other.line)):
            return other.code if other.lang == 'text' else None
    return None


@pytest.fixture
def doc():
    return objects_doc()


@pytest.fixture
def tool(doc, monkeypatch):
    # run() sets these for each script: put them back afterwards
    for name in ('inventory', 'read_only', 'authorized'):
        monkeypatch.setattr(executable, name, getattr(executable, name))
    return offline_tool(doc)[1]


def run_block(tool, fence, tmp_path, args=(), write=False):
    path = tmp_path / script_name(fence)
    path.write_text(fence.code)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        inventory, changes = tool['run'](str(path), list(args), write)
    return out.getvalue(), inventory, changes


def recipe(doc, name):
    found = [f for f in python_blocks(doc) if script_name(f) == name]
    assert len(found) == 1, f'docs/objects.md has no recipe {name}'
    return found[0]


def test_every_python_block_of_objects_md_compiles(doc):
    blocks = python_blocks(doc)
    assert len(blocks) >= 15
    for fence in blocks:
        compile(fence.code, f'docs/objects.md:{fence.line}', 'exec')
    for fence in (f for f in doc.fences if f.lang == 'sh'):
        r = subprocess.run(['bash', '-n'], input=fence.code, capture_output=True, text=True)
        assert r.returncode == 0, f'docs/objects.md:{fence.line}: {r.stderr}'


def test_the_example_inventory_is_the_one_described(tool):
    inventory = tool['example_inventory']()
    assert sorted(inventory.sites) == ['T1_CH_CERN_Disk', 'T2_US_MIT']
    assert sorted(n for n in inventory.groups if n) == ['AnalysisOps', 'DataOps']
    assert len(inventory.datasets) == 3
    assert all(len(d.blocks) == 2 and all(len(b.files) == b.num_files == 2 for b in d.blocks)
               for d in inventory.datasets.values())
    assert sum(len(d.replicas) for d in inventory.datasets.values()) == 5


def test_every_python_block_of_objects_md_runs_and_prints_what_it_shows(doc, tool, tmp_path):
    tool_fence, _ = offline_tool(doc)
    ran = []
    for fence in python_blocks(doc):
        if fence is tool_fence or fence.code == tool_fence.code:
            continue
        command = command_of(doc, fence)
        args, write = command or ((), False)
        try:
            output, _, changes = run_block(tool, fence, tmp_path, args, write)
        except SystemExit as exc:
            pytest.fail(f'docs/objects.md:{fence.line}: {script_name(fence)} exited with {exc.code!r}')
        expected = expected_output(doc, fence)
        assert expected is not None, f'docs/objects.md:{fence.line}: no text block shows what it prints'
        assert output == expected, f'docs/objects.md:{fence.line}: {script_name(fence)} printed\n{output}'
        if 'Recipes' in fence.path and not write:
            assert changes == [], f'docs/objects.md:{fence.line}: a read-only recipe changes {changes}'
        ran.append(script_name(fence))
    assert {'site_replicas.py', 'single_copy.py', 'set_status.py', 'mark_files.py', 'over_quota.py',
            'group_usage.py'} <= set(ran)


ZB = '/ZeroBias/Run2026A-v1/AOD'


def test_the_status_recipe_sends_one_dataset_change_and_refuses_unknown_statuses(doc, tool, tmp_path):
    fence = recipe(doc, 'set_status.py')
    args, write = command_of(doc, fence)
    assert write and args == [ZB, 'invalid']
    # a write request: one change, the dataset's
    output, inventory, changes = run_block(tool, fence, tmp_path, args, write=True)
    assert inventory.datasets[ZB].status is DatasetStatus.INVALID
    assert [(op, d['_t'], d['name'], d['status']) for op, d in changes] == [('u', 'Dataset', ZB, 'invalid')]
    # read-only: the same change in the private image, and the script says so
    output, inventory, _ = run_block(tool, fence, tmp_path, args, write=False)
    assert output.endswith('(read-only run: nothing is applied)\n')
    # nothing to change
    output, _, changes = run_block(tool, fence, tmp_path, [ZB, 'VALID'], write=True)
    assert output == f'{ZB} is already valid\n' and changes == []
    # an unknown status: the error lists the valid ones, nothing is changed
    with pytest.raises(SystemExit) as exc:
        run_block(tool, fence, tmp_path, [ZB, 'nonsense'], write=True)
    assert 'expected one of: unknown, deleted, deprecated, invalid, production, valid, ignored' in str(exc.value.code)


def test_the_file_marking_recipe_completes_and_empties_a_replica(doc, tool, tmp_path):
    fence = recipe(doc, 'mark_files.py')
    args, write = command_of(doc, fence)
    assert write
    # present: the missing file arrived, the replica is complete again (no file list)
    _, inventory, changes = run_block(tool, fence, tmp_path, args, write=True)
    br = inventory.find_site('T2_US_MIT').find_block_replica(f'{ZB}#b1')
    assert br.is_complete() and br.file_ids is None and br.size == br.block.size
    assert [(op, d['_t'], d['file_ids'], d['size']) for op, d in changes] == [('u', 'BlockReplica', None, -1)]
    assert inventory.find_site('T2_US_MIT').find_dataset_replica(ZB).size() == 6 * 10**9
    # lost: the replica's only file is gone; it stays, empty, with its owner
    output, inventory, changes = run_block(tool, fence, tmp_path,
                                           ['T2_US_MIT', f'{ZB}#b1', 'lost', f'/store{ZB}/b1/1.root'], write=True)
    br = inventory.find_site('T2_US_MIT').find_block_replica(f'{ZB}#b1')
    assert output == f'{ZB}#b1 at T2_US_MIT: 0 of 2 files, 0 bytes, incomplete\n'
    assert br.file_ids == () and br.group.name == 'AnalysisOps' and not br.is_complete()
    # a file of another block is refused
    with pytest.raises(SystemExit):
        run_block(tool, fence, tmp_path, ['T2_US_MIT', f'{ZB}#b1', 'lost', f'/store{ZB}/b2/1.root'], write=True)


# ------------------------------------------------------------------------------------ certificates
def certificates_doc():
    return parse_markdown(CERTIFICATES_MD.read_text(), 'docs/certificates.md')


def openssl(*args, cwd, check=True):
    r = subprocess.run(['openssl', *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if check:
        assert r.returncode == 0, f'openssl {" ".join(args)}:\n{r.stdout}{r.stderr}'
    return r


def subject(path, cwd):
    return openssl('x509', '-in', path, '-noout', '-subject', '-nameopt', 'compat', cwd=cwd).stdout.strip() \
        .removeprefix('subject=')


@pytest.fixture(scope='module')
def pki(tmp_path_factory):
    """The directory where the recipe's commands (the sh blocks of "Making the certificates") ran."""
    doc = certificates_doc()
    blocks = [f.code for f in doc.fences if f.lang == 'sh' and 'Making the certificates' in f.path]
    assert len(blocks) >= 5, 'docs/certificates.md: no commands under "Making the certificates"'
    directory = tmp_path_factory.mktemp('certificates')
    (directory / 'recipe.sh').write_text('\n'.join(blocks))
    r = subprocess.run(['bash', '-e', 'recipe.sh'], cwd=directory, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f'the recipe failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}'
    return directory


@pytest.mark.e2e
def test_the_certificate_recipe_makes_a_ca_a_server_a_user_and_a_proxy_certificate(pki):
    from execution.http import is_proxy

    # the authority accepts the server and user certificates, and the proxy with the user's as its issuer
    for name in ('server.crt', 'user.crt'):
        assert openssl('verify', '-CAfile', 'ca.crt', name, cwd=pki).stdout.strip() == f'{name}: OK'
    r = openssl('verify', '-CAfile', 'ca.crt', '-untrusted', 'user.crt', '-allow_proxy_certs', 'proxy.crt', cwd=pki)
    assert r.stdout.strip() == 'proxy.crt: OK'
    # a real proxy: refused without the flag, not issued by the authority, with the RFC 3820 extension
    r = openssl('verify', '-CAfile', 'ca.crt', '-untrusted', 'user.crt', 'proxy.crt', cwd=pki, check=False)
    assert r.returncode != 0 and 'proxy certificates not allowed' in r.stdout + r.stderr
    without_user = openssl('verify', '-CAfile', 'ca.crt', '-allow_proxy_certs', 'proxy.crt', cwd=pki, check=False)
    assert without_user.returncode != 0

    def der(name):
        return ssl.PEM_cert_to_DER_cert((pki / name).read_text())
    assert is_proxy(der('proxy.crt')) and not is_proxy(der('user.crt')) and not is_proxy(der('ca.crt'))
    # the proxy's subject is the user's and its serial number
    serial = int(openssl('x509', '-in', 'proxy.crt', '-noout', '-serial', cwd=pki).stdout.strip().split('=')[1], 16)
    assert subject('proxy.crt', pki) == subject('user.crt', pki) + f'/CN={serial}'
    # the server certificate names localhost and 127.0.0.1
    names = openssl('x509', '-in', 'server.crt', '-noout', '-ext', 'subjectAltName', cwd=pki).stdout
    assert 'DNS:localhost' in names and 'IP Address:127.0.0.1' in names
    # the grid bundle: proxy certificate, proxy key, user certificate; readable by its owner only
    bundles = list(pki.glob('x509up_u*'))
    assert len(bundles) == 1
    text = bundles[0].read_text()
    kinds = re.findall(r'-----BEGIN ([A-Z ]+)-----', text)
    assert kinds[0] == 'CERTIFICATE' and kinds[1].endswith('PRIVATE KEY') and kinds[2:] == ['CERTIFICATE']
    certificates = re.findall(r'-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n', text, re.S)
    assert certificates == [(pki / 'proxy.crt').read_text(), (pki / 'user.crt').read_text()]
    for path in (bundles[0], *pki.glob('*.key')):
        assert path.stat().st_mode & 0o077 == 0, f'{path.name} is readable by others'


def _handshake(server_context, client_context, server_hostname):
    """A TLS handshake over a socket pair (no server, no port); returns the server's socket."""
    left, right = socket.socketpair()
    result = {}

    def serve():
        try:
            result['socket'] = server_context.wrap_socket(left, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            result['error'] = exc
    thread = threading.Thread(target=serve)
    thread.start()
    try:
        client = client_context.wrap_socket(right, server_hostname=server_hostname)
    finally:
        thread.join(timeout=30)
    client.close()
    if 'error' in result:
        raise result['error']
    return result['socket']


@pytest.mark.e2e
def test_the_server_settings_accept_the_recipe_certificates_and_name_the_user(pki):
    """The server's own TLS configuration (execution.http.HttpServer with the three settings of
    "Starting the server with HTTPS"), handshaking in memory with a client as curl would be."""
    from accounts.dn import normalize_dn
    from execution.http import HttpServer
    server = HttpServer('127.0.0.1', 0, certificate=str(pki / 'server.crt'), key=str(pki / 'server.key'),
                        client_ca=str(pki / 'ca.crt'))
    adapter = server.server.ssl_adapter
    user_dn = subject('user.crt', pki)
    bundle = str(next(pki.glob('x509up_u*')))
    for hostname in ('localhost', '127.0.0.1'):
        for chain, proxy in (((str(pki / 'user.crt'), str(pki / 'user.key')), False), ((bundle,), True)):
            client = ssl.create_default_context(cafile=str(pki / 'ca.crt'))
            client.load_cert_chain(*chain)
            sock = _handshake(adapter.context, client, hostname)
            try:
                environ = adapter.get_environ(sock)
            finally:
                sock.close()
            assert environ['SSL_CLIENT_VERIFY'] == 'SUCCESS'
            assert normalize_dn(environ['SSL_CLIENT_S_DN']) == user_dn
            assert ('SSL_CLIENT_PROXY_S_DN' in environ) is proxy
    # a client without a certificate is let in (anonymous)
    sock = _handshake(adapter.context, ssl.create_default_context(cafile=str(pki / 'ca.crt')), 'localhost')
    assert adapter.get_environ(sock)['SSL_CLIENT_VERIFY'] == 'NONE'
    sock.close()


@pytest.mark.e2e
def test_the_dn_to_register_is_the_user_certificate_subject(pki):
    from accounts.dn import normalize_dn
    doc = certificates_doc()
    text = CERTIFICATES_MD.read_text()
    user_dn = subject('user.crt', pki)
    assert f'USER_DN="{user_dn}"' in text
    registering = ' '.join(l.text for l in doc.lines if 'Registering the user' in l.path)
    slash = [s for s in spans(registering) if s.startswith('/C=')]
    rfc2253 = [s for s in spans(registering) if s.startswith('CN=')]
    assert slash == [user_dn] and normalize_dn(rfc2253[0]) == user_dn


def test_the_commands_of_the_certificate_document_parse():
    """Every shell block is valid bash; the manage.py commands' options are the commands' own."""
    from django.core.management import load_command_class
    doc = certificates_doc()
    commands = {'user_auth': 'accounts', 'runserver_dynamo': 'execution'}
    seen = set()
    for fence in doc.fences:
        if fence.lang != 'sh':
            continue
        r = subprocess.run(['bash', '-n'], input=fence.code, capture_output=True, text=True)
        assert r.returncode == 0, f'docs/certificates.md:{fence.line}: {r.stderr}'
        for line in fence.code.replace('\\\n', ' ').splitlines():
            words = shlex.split(line, comments=True)
            if 'manage.py' not in words:
                continue
            name, *args = words[words.index('manage.py') + 1:]
            parser = load_command_class(commands[name], name).create_parser('manage.py', name)
            parser.parse_args(args)
            seen.add(name)
    assert seen == set(commands)
    text = CERTIFICATES_MD.read_text()
    for setting in ('DYNAMO_WEB_SSL_CERT', 'DYNAMO_WEB_SSL_KEY', 'DYNAMO_WEB_SSL_CA'):
        assert setting in text and setting in (ROOT / '.env.example').read_text()
