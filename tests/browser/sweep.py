"""Look for card numbers and CVCs where they must never be: database, sessions, cache, logs,
and the error reports mailed to the admins."""

from __future__ import annotations

import json
import logging
import pickle
import re
from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.contrib.sessions.models import Session
from django.core.cache.backends import locmem


class LogCapture(logging.Handler):
    """Keeps every log record's final text (message, arguments and traceback)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = f"{record.name} {record.levelname} {record.getMessage()}"
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.lines.append(text)


def _patterns(pans: Iterable[str], cvcs: Iterable[str]) -> list[tuple[str, re.Pattern[str]]]:
    patterns = []
    for pan in pans:
        grouped = " ".join(pan[i : i + 4] for i in range(0, len(pan), 4))
        patterns.append((f"card number {pan[:6]}…", re.compile(f"{pan}|{grouped}")))
    for cvc in cvcs:
        # A CVC is a short number: only a standalone one counts, not digits inside ids.
        patterns.append((f"CVC {cvc}", re.compile(rf"(?<![0-9A-Za-z]){cvc}(?![0-9A-Za-z])")))
    return patterns


# Integer columns that count things (keys, durations) and may equal a short CVC by chance.
_COUNTING = re.compile(r"(^id$|_id$|^duration_ms$)")


def _texts_in_database() -> Iterable[tuple[str, str]]:
    for model in apps.get_models():
        for row in model._default_manager.all().values():
            kept = {
                name: value
                for name, value in row.items()
                if not (isinstance(value, int) and _COUNTING.search(name))
            }
            yield (
                f"table {model._meta.db_table} row {row.get('id', '?')}",
                json.dumps(kept, default=str),
            )
    for session in Session.objects.all():
        yield f"session {session.session_key[:6]}…", json.dumps(session.get_decoded(), default=str)


def _texts_in_cache() -> Iterable[tuple[str, str]]:
    # Local-memory caches of this process, which the live server shares with the tests.
    for name, store in list(locmem._caches.items()):
        for key, value in list(store.items()):
            try:
                text = repr(pickle.loads(value))
            except Exception:
                text = repr(value)
            yield f"cache {name or 'default'} {key}", f"{key} {text}"


def _texts_in_mails(mails: Iterable[Any]) -> Iterable[tuple[str, str]]:
    for n, message in enumerate(mails):
        parts = [message.subject, message.body]
        parts += [str(content) for content, _ in getattr(message, "alternatives", ())]
        yield f"mail {n} ({message.subject[:40]})", "\n".join(parts)


def find_card_data(
    *,
    pans: Iterable[str],
    cvcs: Iterable[str],
    log_lines: Iterable[str] = (),
    mails: Iterable[Any] = (),
) -> list[str]:
    """Where any of these card numbers or CVCs is found; empty when nowhere."""
    patterns = _patterns(pans, cvcs)
    sources = [
        *_texts_in_database(),
        *_texts_in_cache(),
        *((f"log line {n}", line) for n, line in enumerate(log_lines)),
        *_texts_in_mails(mails),
    ]
    return [
        f"{what} in {where}"
        for where, text in sources
        for what, pattern in patterns
        if pattern.search(text)
    ]
