"""No module of the package imports a module that imports it back (read from the source)."""
import ast
from pathlib import Path

import mvit3_dense

PACKAGE = Path(mvit3_dense.__file__).parent


def module_imports():
    """``{module: modules it imports}`` inside the package; a package's own ancestors and
    descendants are left out (a package importing its children is the usual layout)."""
    paths = {}
    for path in PACKAGE.rglob('*.py'):
        parts = path.relative_to(PACKAGE.parent).with_suffix('').parts
        paths['.'.join(parts[:-1] if parts[-1] == '__init__' else parts)] = path
    graph = {}
    for name, path in paths.items():
        base = name if path.name == '__init__.py' else name.rpartition('.')[0]
        targets = []
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                prefix = base.split('.')[:len(base.split('.')) - node.level + 1] if node.level \
                    else []
                target = '.'.join(prefix + ([node.module] if node.module else []))
                targets += [target] + [f'{target}.{alias.name}' for alias in node.names]
        graph[name] = {t for t in targets if t in paths and t != name and
                       not name.startswith(t + '.') and not t.startswith(name + '.')}
    return graph


def find_cycle(graph):
    state, trail = {}, []

    def visit(node):
        state[node] = 'open'
        trail.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 'open':
                return trail[trail.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = 'done'
        trail.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_analysis_sees_imports_and_cycles():
    graph = module_imports()
    assert 'mvit3_dense.converters.cvnets' in graph['mvit3_dense.converters.cvnets_dense']
    assert 'mvit3_dense.models.backbones.pretrained' in graph['mvit3_dense.converters.variant']
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']


def test_no_import_circle():
    cycle = find_cycle(module_imports())
    assert cycle is None, ' -> '.join(cycle)
