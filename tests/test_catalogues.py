"""The Greek catalogues are complete and compiled: a CI check on a copy of the repository.

``makemessages`` runs on a temporary copy (the repository itself is never written), with
the flags ``make messages`` uses; then every message a shopper or operator reads must have
a Greek translation that is not fuzzy, and each committed ``.mo`` must say what its
``.po`` says. Without GNU gettext the check is skipped, except under CI=true.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from merchant_site import catalogues

#: What makemessages reads: the project's code and templates (a copy of them).
_COPIED = ("manage.py", "checkout", "merchant_site", "templates")


def _require_gettext() -> None:
    missing = catalogues.gettext_tools_missing()
    if not missing:
        return
    reason = f"GNU gettext is not installed ({', '.join(missing)} not found)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: CI=true, so the catalogue check must run", pytrace=False)
    pytest.skip(f"{reason}: install gettext (Debian/Ubuntu: `apt-get install gettext`)")


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory) -> Path:
    """A copy of the repository whose catalogues makemessages has brought up to date."""
    _require_gettext()
    root = tmp_path_factory.mktemp("catalogues")
    for name in _COPIED:
        source = catalogues.ROOT / name
        if source.is_dir():
            shutil.copytree(
                source, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        else:
            shutil.copy2(source, root / name)
    try:
        catalogues.makemessages(root)
    except subprocess.CalledProcessError as err:
        pytest.fail(f"makemessages failed:\n{err.stdout}\n{err.stderr}", pytrace=False)
    return root


@pytest.mark.parametrize("po", catalogues.po_files(Path(".")), ids=str)
def test_every_message_is_translated(refreshed, po):
    fresh = refreshed / po
    assert fresh.is_file(), f"{po} is missing: run `make messages`"
    todo = catalogues.untranslated(fresh)
    assert todo == [], (
        f"{len(todo)} message(s) of {po} untranslated or fuzzy: run `make messages`, "
        f"translate them in {po}, then `make messages` again to compile: {todo}"
    )


def test_the_code_adds_no_catalogue_of_its_own(refreshed):
    """Every string lands in one of the known catalogues (none in a stray locale dir)."""
    found = {
        path.relative_to(refreshed).as_posix()
        for path in refreshed.rglob("django*.po")
        if "LC_MESSAGES" in path.parts
    }
    assert found == {str(po.as_posix()) for po in catalogues.po_files(Path("."))}


@pytest.mark.parametrize("po", catalogues.po_files(Path(".")), ids=str)
def test_the_committed_mo_matches_its_po(tmp_path, po):
    _require_gettext()
    compiled = catalogues.compile_catalogues(catalogues.ROOT, out=tmp_path)
    fresh = next(mo for mo in compiled if mo.relative_to(tmp_path) == po.with_suffix(".mo"))
    differences = catalogues.mo_differences(catalogues.ROOT / po.with_suffix(".mo"), fresh)
    assert differences == [], (
        f"{po.with_suffix('.mo')} is out of date with {po}: run `make messages` ({differences})"
    )


def test_an_untranslated_or_fuzzy_message_is_found(tmp_path):
    """The check can fail: a catalogue with one empty and one fuzzy message has two."""
    po = tmp_path / "django.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "Pay"\nmsgstr "Πληρωμή"\n\n'
        'msgid "Card number"\nmsgstr ""\n\n'
        '#, fuzzy\nmsgid "Expiry date"\nmsgstr "Λήξη"\n\n'
        'msgid "%(count)d item"\nmsgid_plural "%(count)d items"\n'
        'msgstr[0] "%(count)d προϊόν"\nmsgstr[1] ""\n',
        encoding="utf-8",
    )
    assert catalogues.untranslated(po) == ["Card number", "Expiry date", "%(count)d item"]


def test_a_stale_mo_is_found(tmp_path):
    _require_gettext()
    po = tmp_path / "django.po"
    header = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
    po.write_text(header + 'msgid "Pay"\nmsgstr "Πληρωμή"\n', encoding="utf-8")
    old = tmp_path / "old.mo"
    subprocess.run(["msgfmt", "-o", str(old), str(po)], check=True)
    po.write_text(header + 'msgid "Pay"\nmsgstr "Πληρώστε"\n', encoding="utf-8")
    new = tmp_path / "new.mo"
    subprocess.run(["msgfmt", "-o", str(new), str(po)], check=True)
    assert catalogues.mo_differences(old, new) == ["Pay"]
    assert catalogues.mo_differences(new, new) == []
