"""The sandbox CRM is a package of its own: the product reaches it only through the commands
that start it, and it runs none of the product's code.

The import graph is grimp's (the library import-linter is built on): every ``import`` and
``from ... import`` statement of every module, at module level or inside a function.
"""

from __future__ import annotations

import grimp
import pytest

SANDBOX = "crm_sandbox"
PRODUCT = ("connector", "tasks")
# ``cx360 sandbox`` is registered in connector/cli.py; ``cx360 demo`` starts a sandbox.
MAY_IMPORT_SANDBOX = frozenset({"connector.cli", "connector.demo"})


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PRODUCT, SANDBOX)


def _imports(
    graph: grimp.ImportGraph, importers: str | tuple[str, ...], imported: str | tuple[str, ...]
) -> list[str]:
    """Every import of a module under ``imported`` by a module under ``importers``, as
    ``importer:line: statement``."""

    def under(module: str, packages: str | tuple[str, ...]) -> bool:
        roots = (packages,) if isinstance(packages, str) else packages
        return any(module == root or module.startswith(root + ".") for root in roots)

    found = []
    for target in sorted(m for m in graph.modules if under(m, imported)):
        for importer in sorted(graph.find_modules_that_directly_import(target)):
            if not under(importer, importers):
                continue
            for detail in graph.get_import_details(importer=importer, imported=target):
                found.append(
                    f"{importer}:{detail['line_number']}: {detail['line_contents'].strip()}"
                )
    return found


def test_given_the_product_when_its_imports_are_read_then_only_the_commands_import_the_sandbox(
    graph: grimp.ImportGraph,
) -> None:
    imports = _imports(graph, PRODUCT, SANDBOX)
    importers = {line.split(":", 1)[0] for line in imports}
    assert importers - MAY_IMPORT_SANDBOX == set(), "\n".join(
        line for line in imports if line.split(":", 1)[0] not in MAY_IMPORT_SANDBOX
    )
    # the graph does see the two commands' imports, so an empty answer above means something
    assert importers == MAY_IMPORT_SANDBOX, imports


def test_given_the_sandbox_when_its_imports_are_read_then_it_imports_nothing_of_the_product(
    graph: grimp.ImportGraph,
) -> None:
    assert _imports(graph, SANDBOX, PRODUCT) == []
    assert _imports(graph, SANDBOX, SANDBOX), "the graph holds the sandbox's own imports"
