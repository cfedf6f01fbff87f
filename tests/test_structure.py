"""The tests' own structure: rows are built in tests/factories.py and shared helpers live in tests/support.py,
so no module under tests/ reaches into another package's conftest or test modules. (Such imports made one
package's tests break when another's helpers changed, and ran another package's module-level code twice.)"""

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def _package(module: str) -> str | None:
    """The test package a dotted module under tests/ belongs to ('tests.markets.conftest' -> 'markets')."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "tests" else None


def _is_private(module: str) -> bool:
    """A conftest or a test module: what only its own package may import."""
    last = module.rsplit(".", 1)[-1]
    return last == "conftest" or last.startswith("test_")


def _imported(path: Path, tree: ast.Module) -> list[tuple[int, str]]:
    """Every module the file imports, absolute and dotted, with its line. `from tests.x import y` counts
    as importing tests.x.y too, since y may be a module."""
    here = path.relative_to(TESTS.parent).with_suffix("").parts
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from .conftest import x, from ..markets import conftest
                base = ".".join(here[: len(here) - node.level])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def cross_package_imports(path: Path, source: str) -> list[str]:
    """The imports in `source` (the file at `path`) of another test package's conftest or test modules."""
    own = _package(".".join(path.relative_to(TESTS.parent).with_suffix("").parts))
    return [
        f"{path.relative_to(TESTS.parent)}:{line} imports {module}"
        for line, module in _imported(path, ast.parse(source))
        if _package(module) not in (None, own) and _is_private(module)
    ]


def test_no_module_under_tests_imports_another_packages_conftest_or_test_modules():
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        found += cross_package_imports(path, path.read_text())
    assert found == [], "use tests/factories.py or tests/support.py instead:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "source",
    [
        "from tests.reputation.conftest import buy",
        "from tests.markets.test_resolution import _close",
        "from tests.markets import conftest",
        "from tests.contract import test_openapi as openapi",
        "import tests.markets.conftest",
        "from ..markets.conftest import make_claim",
        "from ..markets import test_services",
    ],
)
def test_the_check_finds_each_way_of_importing_another_packages_private_modules(source):
    assert cross_package_imports(TESTS / "web" / "test_example.py", source) != []


@pytest.mark.parametrize(
    "source",
    [
        "from tests import factories",
        "from tests.factories import new_claim",
        "from tests.support import HTMX, bearer",
        "from tests.web.conftest import something_local",  # a package's own conftest
        "from .conftest import something_local",
        "from tests.realtime.servers import page_server",  # a helper module, not a conftest or test module
        "from apps.markets import test_data",  # not under tests/
    ],
)
def test_the_check_lets_shared_helpers_and_a_packages_own_modules_through(source):
    assert cross_package_imports(TESTS / "web" / "test_example.py", source) == []
