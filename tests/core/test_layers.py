"""The layers of docs/architecture.md are a contract (.importlinter) that `make test` checks with lint-imports.
These tests prove the contract bites: on a copy of the code, an upward import and an app the contract does not
place both break it; and the layer list in docs/architecture.md is the contract's."""

import re
import shutil
import subprocess
import sys
from configparser import ConfigParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 (our own lint-imports, no shell)
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(cwd)},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def copy_of_the_code(tmp_path: Path) -> Path:
    for package in ("apps", "config"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    return tmp_path


def test_the_code_keeps_the_contract():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout


def test_an_upward_import_breaks_the_contract(copy_of_the_code):
    # given the markets' models importing reputation, which sits above markets
    models = copy_of_the_code / "apps" / "markets" / "models.py"
    models.write_text(models.read_text() + "\nfrom apps.reputation import models as _reputation  # noqa\n")
    # when the layers are checked
    result = lint_imports(copy_of_the_code)
    # then the check fails and names the import
    assert result.returncode == 1
    assert "apps.markets is not allowed to import apps.reputation:" in result.stdout
    assert "- apps.markets.models -> apps.reputation.models" in result.stdout


def test_a_selector_importing_an_adapter_breaks_the_contract(copy_of_the_code):
    selectors = copy_of_the_code / "apps" / "reputation" / "selectors.py"
    selectors.write_text(selectors.read_text() + "\nfrom apps.reputation import api as _api  # noqa\n")
    result = lint_imports(copy_of_the_code)
    assert result.returncode == 1
    assert "apps.reputation.selectors is not allowed to import apps.reputation.api:" in result.stdout


def test_an_app_the_contract_does_not_place_breaks_it(copy_of_the_code):
    (copy_of_the_code / "apps" / "newcomer").mkdir()
    (copy_of_the_code / "apps" / "newcomer" / "__init__.py").write_text("")
    result = lint_imports(copy_of_the_code)
    assert result.returncode == 1
    assert "apps.newcomer" in result.stdout


def contract_layers() -> list[str]:
    config = ConfigParser()
    config.read(ROOT / ".importlinter")
    lines = config["importlinter:contract:layers"]["layers"].split("\n")
    return [line.strip() for line in lines if line.strip()]


def test_the_architecture_page_lists_the_contract_layers():
    page = (ROOT / "docs" / "architecture.md").read_text()
    block = re.search(r"<!-- layers -->\n```\n(.*?)```", page, re.S)
    assert block is not None, "docs/architecture.md has no layers block"
    documented = [line.split("  ")[0].strip() for line in block.group(1).splitlines() if line.strip()]
    assert documented == contract_layers()
