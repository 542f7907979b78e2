"""``manage.py checkout_golive``: is this shop ready for real payments? (see checkout.golive)."""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from checkout import golive
from checkout.golive import Finding, Level

__all__ = ["Command"]

_WIDTH = 88
_INDENT = " " * 11


class Command(BaseCommand):
    """Check the settings and the gateway connection before going live; no money moves."""

    help = (
        "Check this shop's checkout settings against what production needs, and ask the "
        "configured gateway whether it accepts the credentials (a status query for a "
        "made-up order number) and which seToken key it publishes. Nothing is paid or "
        "registered. Exits with status 1 if any problem is found."
    )
    # The findings cover the app's own system checks, in plain words.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--skip-gateway",
            action="store_true",
            help="Only check the settings; make no call to the gateway.",
        )
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print the findings as JSON (check, level, title, explanation).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        gateway = not options["skip_gateway"]
        findings = golive.run_checks(gateway=gateway)
        counts = Counter(finding.level for finding in findings)
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "gateway_checked": gateway,
                        "problems": counts[Level.PROBLEM],
                        "warnings": counts[Level.WARNING],
                        "findings": [finding.as_dict() for finding in findings],
                    },
                    indent=2,
                    ensure_ascii=False,
                )
            )
        else:
            self._print(findings, counts, gateway=gateway, verbosity=int(options["verbosity"]))
        if counts[Level.PROBLEM]:
            raise CommandError(
                ngettext(
                    "%(count)d problem found: fix it before taking real payments.",
                    "%(count)d problems found: fix them before taking real payments.",
                    counts[Level.PROBLEM],
                )
                % {"count": counts[Level.PROBLEM]}
            )

    def _print(
        self, findings: list[Finding], counts: Counter[Level], *, gateway: bool, verbosity: int
    ) -> None:
        labels: dict[Level, tuple[str, Callable[[str], str]]] = {
            Level.OK: (_("ok"), self.style.SUCCESS),
            Level.WARNING: (_("WARNING"), self.style.WARNING),
            Level.PROBLEM: (_("PROBLEM"), self.style.ERROR),
        }
        self.stdout.write(_("Going-live check of the JCC checkout"))
        if not gateway:
            self.stdout.write(_("The gateway was not contacted (--skip-gateway)."))
        self.stdout.write("")
        for finding in findings:
            if finding.level == Level.OK and verbosity < 1:
                continue
            label, style = labels[finding.level]
            self.stdout.write(f"  {style(label.ljust(8))} {finding.title}")
            if finding.explanation:
                for line in textwrap.wrap(finding.explanation, _WIDTH - len(_INDENT)):
                    self.stdout.write(_INDENT + line)
        self.stdout.write("")
        self.stdout.write(
            _("%(problems)s, %(warnings)s, %(ok)d ok.")
            % {
                "problems": ngettext(
                    "%(count)d problem", "%(count)d problems", counts[Level.PROBLEM]
                )
                % {"count": counts[Level.PROBLEM]},
                "warnings": ngettext(
                    "%(count)d warning", "%(count)d warnings", counts[Level.WARNING]
                )
                % {"count": counts[Level.WARNING]},
                "ok": counts[Level.OK],
            }
        )
