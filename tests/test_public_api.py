"""The public API: what the documentation promises is exported, and every export exists."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import checkout

API_PAGE = Path(__file__).resolve().parents[1] / "docs" / "integrating" / "api.md"


def promised() -> dict[str, set[str]]:
    """Module -> names, read from the tables of the public API page."""
    sections: dict[str, set[str]] = {}
    module = None
    for line in API_PAGE.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"## `(checkout[\w.]*)`", line)
        if heading:
            module = heading.group(1)
            sections[module] = set()
        elif line.startswith("## "):
            module = None
        elif module and line.startswith("| `"):
            first_cell = line.split("|")[1]
            for code in re.findall(r"`([^`]+)`", first_cell):
                sections[module].add(re.match(r"\w+", code).group(0))
    return sections


PROMISED = promised()


def test_the_page_promises_the_main_modules():
    assert {"checkout.services", "checkout.gateway", "checkout.status", "checkout.models"} <= set(
        PROMISED
    )
    assert all(PROMISED.values())


@pytest.mark.parametrize("module_name", sorted(PROMISED))
def test_every_promised_name_is_exported(module_name):
    module = importlib.import_module(module_name)
    missing = sorted(name for name in PROMISED[module_name] if name not in module.__all__)
    assert missing == [], f"{module_name} does not export {missing}"
    for name in PROMISED[module_name]:
        assert getattr(module, name) is not None


def _modules() -> list[str]:
    names = ["checkout"]
    for info in pkgutil.walk_packages(checkout.__path__, "checkout."):
        if ".migrations" not in info.name:
            names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("module_name", _modules())
def test_every_module_declares_its_api_and_every_export_exists(module_name):
    module = importlib.import_module(module_name)
    exported = module.__all__
    assert len(exported) == len(set(exported)), "repeated names"
    assert [name for name in exported if not hasattr(module, name)] == []
    assert [name for name in exported if name.startswith("_") and name != "__version__"] == []


def test_the_wheel_declares_its_types():
    assert (Path(checkout.__file__).parent / "py.typed").is_file()
