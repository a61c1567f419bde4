"""The product's imports run one way.

- No import circle among the modules of ``connector``, ``tasks`` and the sandbox CRM: a circle
  makes the order of imports matter and invites imports hidden inside functions.
- Blueprints, tasks and helpers take the shared handles from ``connector.extensions``; only the
  entry points that build an app import the app factory's module.
- The sandbox CRM is a package of its own: the product reaches it only through the commands
  that start it, and it runs none of the product's code.

The import graph is grimp's (the library import-linter is built on): every ``import`` and
``from ... import`` statement of every module, at module level, inside a function or under
``TYPE_CHECKING``.
"""

from __future__ import annotations

from itertools import pairwise

import grimp
import pytest

SANDBOX = "crm_sandbox"
PRODUCT = ("connector", "tasks")
# ``cx360 sandbox`` is registered in connector/cli.py; ``cx360 demo`` starts a sandbox.
MAY_IMPORT_SANDBOX = frozenset({"connector.cli", "connector.demo"})
APP_FACTORY = "connector.app"
# the commands and the worker's entry point build an app; nothing else imports its module
MAY_IMPORT_APP_FACTORY = frozenset(
    {"connector.cli_admin", "connector.cli_sync", "connector.demo", "tasks.worker"}
)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PRODUCT, SANDBOX)


def _under(module: str, packages: str | tuple[str, ...]) -> bool:
    roots = (packages,) if isinstance(packages, str) else packages
    return any(module == root or module.startswith(root + ".") for root in roots)


def _imports(
    graph: grimp.ImportGraph, importers: str | tuple[str, ...], imported: str | tuple[str, ...]
) -> list[str]:
    """Every import of a module under ``imported`` by a module under ``importers``, as
    ``importer:line: statement``."""
    found = []
    for target in sorted(m for m in graph.modules if _under(m, imported)):
        for importer in sorted(graph.find_modules_that_directly_import(target)):
            if not _under(importer, importers):
                continue
            found.extend(_statements(graph, importer, target))
    return found


def _statements(graph: grimp.ImportGraph, importer: str, imported: str) -> list[str]:
    return [
        f"{importer}:{detail['line_number']}: {detail['line_contents'].strip()}"
        for detail in graph.get_import_details(importer=importer, imported=imported)
    ]


def _circles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Each group of modules that import one another (directly or through others), as one
    circle through it: ``[a, b, …, a]``, each module importing the next.

    The groups are the strongly connected components of the graph (Tarjan's algorithm,
    iterative so that a deep graph needs no deep recursion)."""
    imports = {
        module: sorted(graph.find_modules_directly_imported_by(module)) for module in graph.modules
    }
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    for root in sorted(imports):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            module, next_child = work.pop()
            if next_child == 0:
                index[module] = lowest[module] = len(index)
                stack.append(module)
                on_stack.add(module)
            children = imports[module]
            if next_child < len(children):
                work.append((module, next_child + 1))
                child = children[next_child]
                if child not in index:
                    work.append((child, 0))
                elif child in on_stack:
                    lowest[module] = min(lowest[module], index[child])
                continue
            if lowest[module] == index[module]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == module:
                        break
                if len(group) > 1 or module in imports[module]:
                    circles.append(_circle_through(graph, sorted(group)))
            if work:
                parent = work[-1][0]
                lowest[parent] = min(lowest[parent], lowest[module])
    return circles


def _circle_through(graph: grimp.ImportGraph, group: list[str]) -> list[str]:
    """A shortest circle from the group's first module back to it."""
    start = group[0]
    circles = [
        [start, *graph.find_shortest_chain(importer=imported, imported=start)]
        for imported in graph.find_modules_directly_imported_by(start)
        if imported in group and imported != start
    ]
    return min(circles, key=len) if circles else [start, start]  # else it imports itself


def _describe(graph: grimp.ImportGraph, circle: list[str]) -> str:
    steps = [
        "; ".join(_statements(graph, importer, imported)) for importer, imported in pairwise(circle)
    ]
    return " -> ".join(circle) + "\n    " + "\n    ".join(steps)


def test_given_a_graph_with_a_circle_when_circles_are_sought_then_it_is_named() -> None:
    graph = grimp.ImportGraph()
    for importer, imported in [("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d"),
                               ("p.d", "p.e"), ("p.x", "p.x")]:  # fmt: skip
        graph.add_import(
            importer=importer, imported=imported, line_number=1, line_contents=f"import {imported}"
        )

    assert _circles(graph) == [["p.a", "p.b", "p.c", "p.a"], ["p.x", "p.x"]]
    assert _describe(graph, ["p.a", "p.b", "p.c", "p.a"]) == (
        "p.a -> p.b -> p.c -> p.a\n    p.a:1: import p.b\n    p.b:1: import p.c\n"
        "    p.c:1: import p.a"
    )


def test_given_a_graph_without_a_circle_when_circles_are_sought_then_none_is_found() -> None:
    graph = grimp.ImportGraph()
    for importer, imported in [("p.a", "p.b"), ("p.a", "p.c"), ("p.b", "p.c")]:
        graph.add_import(importer=importer, imported=imported)

    assert _circles(graph) == []


def test_given_the_product_and_the_sandbox_when_their_imports_are_read_then_none_runs_in_a_circle(
    graph: grimp.ImportGraph,
) -> None:
    circles = _circles(graph)

    assert circles == [], "import circles:\n" + "\n".join(_describe(graph, c) for c in circles)
    assert graph.find_modules_directly_imported_by("connector.app"), "the graph holds imports"


@pytest.mark.parametrize(
    ("imported", "allowed_importers"),
    [(SANDBOX, MAY_IMPORT_SANDBOX), (APP_FACTORY, MAY_IMPORT_APP_FACTORY)],
    ids=["the sandbox", "the app factory"],
)
def test_given_the_product_when_its_imports_are_read_then_only_the_allowed_modules_import_these(
    graph: grimp.ImportGraph, imported: str, allowed_importers: frozenset[str]
) -> None:
    imports = _imports(graph, PRODUCT, imported)
    importers = {line.split(":", 1)[0] for line in imports}

    assert importers - allowed_importers == set(), "\n".join(
        line for line in imports if line.split(":", 1)[0] not in allowed_importers
    )
    # the graph does see the allowed modules' imports, so an empty answer above means something
    assert importers == allowed_importers, imports


def test_given_the_sandbox_when_its_imports_are_read_then_it_imports_nothing_of_the_product(
    graph: grimp.ImportGraph,
) -> None:
    assert _imports(graph, SANDBOX, PRODUCT) == []
    assert _imports(graph, SANDBOX, SANDBOX), "the graph holds the sandbox's own imports"
