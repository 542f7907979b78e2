"""The translation catalogues: refresh them from the code, compile them, and check them.

``python -m merchant_site.catalogues`` (``make messages``) runs ``makemessages`` for every
language the project translates into, with the flags below, then compiles each ``.po``
into the ``.mo`` beside it. tests/test_catalogues.py runs the same ``makemessages`` on a
copy of the repository and fails while any message is untranslated or fuzzy, or a
committed ``.mo`` differs from its ``.po``.

Each app has its own catalogue: ``checkout/locale`` (the checkout and its admin),
``checkout/sandbox/locale`` (the sandbox gateway) and ``merchant_site/locale`` (the demo
shop and the project's templates/, through ``LOCALE_PATHS``).
"""

from __future__ import annotations

import gettext
import os
import shutil
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

__all__ = [
    "CATALOGUES",
    "LANGUAGES",
    "MAKEMESSAGES_ARGS",
    "ROOT",
    "compile_catalogues",
    "gettext_tools_missing",
    "makemessages",
    "mo_differences",
    "po_files",
    "untranslated",
]

ROOT = Path(__file__).resolve().parent.parent
#: The languages translated into (English is the language of the code).
LANGUAGES = ("el",)
#: Every catalogue directory, relative to the repository root.
CATALOGUES = ("checkout/locale", "checkout/sandbox/locale", "merchant_site/locale")
#: Paths whose strings nobody reads in the shop or the admin.
_IGNORED = (
    "tests",
    "docs",
    "site",
    "static",
    "staticfiles",
    "artifacts",
    "build",
    "dist",
    "*/migrations",
)
MAKEMESSAGES_ARGS = (
    *(f"--locale={language}" for language in LANGUAGES),
    "--no-obsolete",
    "--no-wrap",
    "--add-location=file",
    *(f"--ignore={path}" for path in _IGNORED),
)
_TOOLS = ("xgettext", "msgmerge", "msguniq", "msgattrib", "msgfmt")


def gettext_tools_missing() -> list[str]:
    """The GNU gettext programs makemessages and compiling need that are not installed."""
    return [tool for tool in _TOOLS if shutil.which(tool) is None]


def _environment() -> dict[str, str]:
    # The demo's settings, reading no .env file: what is extracted must not depend on it.
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "merchant_site.settings",
        "ENV_FILE": os.devnull,
    }


def makemessages(root: Path = ROOT) -> None:
    """Bring every catalogue under ``root`` up to date with the code under ``root``."""
    for catalogue in CATALOGUES:
        for language in LANGUAGES:
            (root / catalogue / language / "LC_MESSAGES").mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", *MAKEMESSAGES_ARGS],
        cwd=root,
        env=_environment(),
        check=True,
        capture_output=True,
        text=True,
    )


def po_files(root: Path = ROOT) -> list[Path]:
    """Every catalogue's ``.po`` file under ``root``."""
    return [
        root / catalogue / language / "LC_MESSAGES" / "django.po"
        for catalogue in CATALOGUES
        for language in LANGUAGES
    ]


def compile_catalogues(root: Path = ROOT, out: Path | None = None) -> list[Path]:
    """Compile each ``.po`` under ``root`` (checking its format strings) into its ``.mo``,
    beside it or, with ``out``, into the same relative place under ``out``."""
    written = []
    for po in po_files(root):
        mo = po.with_suffix(".mo")
        if out is not None:
            mo = out / mo.relative_to(root)
            mo.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["msgfmt", "--check", "--output-file", str(mo), str(po)],
            check=True,
            capture_output=True,
            text=True,
        )
        written.append(mo)
    return written


def untranslated(po: Path) -> list[str]:
    """The messages of ``po`` without a translation or marked fuzzy (header aside)."""
    with po.open("rb") as handle:
        catalog = read_po(handle)
    missing = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            missing.append(str(message.id if isinstance(message.id, str) else message.id[0]))
    return missing


def _messages(mo: Path) -> dict[object, str]:
    with mo.open("rb") as handle:
        return dict(gettext.GNUTranslations(handle)._catalog)  # type: ignore[attr-defined]


def mo_differences(committed: Path, fresh: Path) -> list[str]:
    """What the ``committed`` .mo says differently from a ``fresh`` compile of its .po."""
    if not committed.is_file():
        return ["(missing)"]
    old, new = _messages(committed), _messages(fresh)
    return sorted(
        str(key) for key in set(old) | set(new) if old.get(key) != new.get(key) and key != ""
    )


def main() -> int:
    missing = gettext_tools_missing()
    if missing:
        print(f"GNU gettext is needed: {', '.join(missing)} not found.", file=sys.stderr)
        return 1
    makemessages()
    for mo in compile_catalogues():
        print(mo.relative_to(ROOT))
    for po in po_files():
        todo = untranslated(po)
        if todo:
            print(f"{po.relative_to(ROOT)}: {len(todo)} to translate", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
