"""What the benchmarks share: Django on a throwaway database, the project served over real
HTTP, interleaved timing and a plain-text table.

Every figure is relative. Each script measures its baseline in the same run, round by
round alongside what it compares, so the machine's speed and load mostly cancel out of
the ratios. Nothing here asserts a duration: a benchmark reports, it does not pass or fail
on speed. It does stop when an operation ends in the wrong state, since a fast wrong
answer is no figure at all.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

BACKENDS = ("sqlite", "postgres")
_POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql"}


# --- command line and database selection ----------------------------------------------------


def _postgres_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.split(":", 1)[0] in _POSTGRES_SCHEMES else ""


def parse_args(
    description: str, default_n: int, argv: Sequence[str] | None = None
) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--n", type=int, default=default_n, help=f"timed rounds (default {default_n})"
    )
    parser.add_argument(
        "--warmup", type=int, default=None, help="untimed rounds first (default n/10, at least 5)"
    )
    parser.add_argument(
        "--db",
        choices=("auto", *BACKENDS),
        default="auto",
        help="auto (default): SQLite, then PostgreSQL as well when DATABASE_URL names one",
    )
    args = parser.parse_args(argv)
    if args.n < 2:
        parser.error("--n must be at least 2")
    if args.warmup is None:
        args.warmup = max(5, args.n // 10)
    return args


def main(
    module: str, description: str, default_n: int, bench: Callable[[argparse.Namespace], None]
) -> int:
    """Run ``bench(args)`` on the chosen database, or once per database in child processes."""
    args = parse_args(description, default_n)
    if args.db != "auto":
        _setup_django(args.db)
        bench(args)
        return 0
    backends = ["sqlite", "postgres"] if _postgres_url() else ["sqlite"]
    status = 0
    for backend in backends:
        # One process per database: Django reads DATABASES once, when it starts.
        command = [sys.executable, "-m", module, "--n", str(args.n)]
        command += ["--warmup", str(args.warmup), "--db", backend]
        sys.stdout.flush()
        status = subprocess.run(command, check=False).returncode or status
    return status


def expect(condition: bool, what: str) -> None:
    """Stop the benchmark when an operation ended in the wrong state."""
    if not condition:
        sys.exit(f"benchmark stopped: {what}")


def _setup_django(backend: str) -> None:
    if backend == "postgres":
        if not _postgres_url():
            sys.exit("--db postgres needs DATABASE_URL=postgres://user@host:port/name")
    else:
        # Never the demo's db.sqlite3: the throwaway database replaces this name anyway.
        path = os.path.join(tempfile.gettempdir(), f"checkout-bench-{os.getpid()}.sqlite3")
        os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import django

    django.setup()


# --- the project, served ----------------------------------------------------------------------


@contextmanager
def served_project() -> Iterator[str]:
    """A migrated throwaway database and the whole project on 127.0.0.1; yields its origin.

    The checkout talks to the sandbox gateway mounted at /sandbox/payment/ over real HTTP,
    as in production it would talk to JCC. DEBUG is off, as under the test runner, so no
    connection keeps a log of every query.
    """
    from django.conf import settings
    from django.db import connection
    from django.test.utils import override_settings

    from checkout.gateway import reset_client

    original_name = connection.creation.create_test_db(
        verbosity=0, autoclobber=True, serialize=False
    )
    test_name = str(connection.settings_dict["NAME"])
    try:
        with _server() as origin:
            checkout = {**settings.CHECKOUT, "SITE_URL": origin, "GATEWAY_URL": ""}
            try:
                with override_settings(DEBUG=False, CHECKOUT=checkout):
                    yield origin
            finally:
                # Closes the client's keep-alive connections, so the server's threads end.
                reset_client()
    finally:
        connection.creation.destroy_test_db(original_name, verbosity=0)
        if connection.vendor == "sqlite":
            for suffix in ("-wal", "-shm"):
                if os.path.exists(test_name + suffix):
                    os.remove(test_name + suffix)


@contextmanager
def _server() -> Iterator[str]:
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    class QuietHandler(WSGIRequestHandler):
        # wsgiref writes the headers and the body of an answer separately; with Nagle's
        # algorithm on, the body then waits for the client's delayed ACK (about 40 ms on
        # Linux). Production servers set TCP_NODELAY too.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadedWSGIServer):
        # Joined on close, so that no thread still holds a database connection when the
        # throwaway database is dropped.
        daemon_threads = False

    server = Server(("127.0.0.1", 0), QuietHandler, allow_reuse_address=False)
    server.set_app(WSGIHandler())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# --- timing -------------------------------------------------------------------------------------


class GatewayClock:
    """Time spent waiting on the gateway's HTTP answers, summed over calls of one client.

    Wraps the client's ``requests.Session``: the gateway client itself is left as it is,
    and the app uses the same shared client, so both sides are timed the same way.
    """

    def __init__(self, client: Any) -> None:
        self.total = 0.0
        session = client.session
        send = session.request

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return send(*args, **kwargs)
            finally:
                self.total += time.perf_counter() - started

        session.request = timed


@dataclass
class Stopwatch:
    """Durations of one kind of operation; ``with watch:`` times one of them.

    With a GatewayClock, ``own`` gets each duration minus its time on the gateway's HTTP.
    """

    label: str
    clock: GatewayClock | None = None
    seconds: list[float] = field(default_factory=list)
    own: list[float] = field(default_factory=list)
    queries: str = ""
    _started: float = 0.0
    _waited: float = 0.0

    def __enter__(self) -> Stopwatch:
        self._waited = self.clock.total if self.clock else 0.0
        self._started = time.perf_counter()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        elapsed = time.perf_counter() - self._started
        if kind is None:
            self.seconds.append(elapsed)
            if self.clock:
                self.own.append(elapsed - (self.clock.total - self._waited))

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def p95(self) -> float:
        ordered = sorted(self.seconds)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]

    @property
    def own_median(self) -> float | None:
        return statistics.median(self.own) if self.own else None

    @property
    def per_second(self) -> float:
        """Throughput of one client doing these back to back."""
        return len(self.seconds) / sum(self.seconds)


def run_rounds(
    labels: Sequence[str],
    rounds: int,
    warmup: int,
    one_round: Callable[[int, dict[str, Stopwatch]], None],
    clock: GatewayClock | None = None,
) -> dict[str, Stopwatch]:
    """``one_round(i, watches)`` ``warmup`` times untimed, then ``rounds`` times timed.

    Each round times one of every kind, so slow phases of the machine hit all alike.
    """
    for i in range(warmup):
        one_round(-1 - i, {label: Stopwatch(label, clock) for label in labels})
    watches = {label: Stopwatch(label, clock) for label in labels}
    for i in range(rounds):
        one_round(i, watches)
    return watches


def count_queries(operation: Callable[[], Any]) -> Counter[str]:
    """SQL statements ``operation`` sends on this thread's connection, by first keyword.

    Only this thread's: the sandbox gateway's own queries, made in the server's threads,
    belong to the gateway's side of the comparison.
    """
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        operation()
    kinds: Counter[str] = Counter()
    for query in captured.captured_queries:
        word = query["sql"].lstrip().split(None, 1)[0].upper() if query["sql"].strip() else ""
        kinds[word if word in ("SELECT", "INSERT", "UPDATE", "DELETE") else "other"] += 1
    return kinds


def describe_queries(samples: Sequence[Counter[str]]) -> str:
    """ "22 (11 S, 4 I, 5 U, 2 tx)", or a range of totals when the operations differed."""
    totals = sorted(sum(kinds.values()) for kinds in samples)
    first = samples[0]
    parts = [f"{first[k]} {k[0]}" for k in ("SELECT", "INSERT", "UPDATE", "DELETE") if first[k]]
    if first["other"]:
        parts.append(f"{first['other']} tx")
    total = str(totals[0]) if totals[0] == totals[-1] else f"{totals[0]}-{totals[-1]}"
    return f"{total} ({', '.join(parts)})" if parts else total


#: Legend of describe_queries() for the notes under a table.
QUERY_LEGEND = "SQL statements: S select, I insert, U update, D delete, tx BEGIN/COMMIT/SAVEPOINT"


# --- output ---------------------------------------------------------------------------------------


def backend_name() -> str:
    from django.db import connection

    names = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
    return names.get(connection.vendor, connection.vendor)


def print_table(title: str, watches: Sequence[Stopwatch], notes: Sequence[str] = ()) -> None:
    """Median, p95, throughput, time off the gateway's HTTP and SQL statements per row."""
    head = ("", "median ms", "p95 ms", "per s", "own ms", "SQL statements")
    rows = [
        (
            w.label,
            f"{w.median * 1000:.2f}",
            f"{w.p95 * 1000:.2f}",
            f"{w.per_second:.0f}",
            "-" if w.own_median is None else f"{w.own_median * 1000:.2f}",
            w.queries or "-",
        )
        for w in watches
    ]
    widths = [max(len(row[c]) for row in (head, *rows)) for c in range(len(head))]

    def line(row: Sequence[str]) -> str:
        cells = [row[0].ljust(widths[0])]
        cells += [row[c].rjust(widths[c]) for c in range(1, 5)]
        cells.append(row[5].ljust(widths[5]))
        return "  ".join(cells).rstrip()

    print(f"\n{title}")
    print(line(head))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))
    for note in notes:
        print(note)
    sys.stdout.flush()


def ratio(measured: Stopwatch, baseline: Stopwatch) -> str:
    """ "2.31x median, 2.10x p95, +4.02 ms": how much slower than the baseline."""
    return (
        f"{measured.median / baseline.median:.2f}x median, "
        f"{measured.p95 / baseline.p95:.2f}x p95, "
        f"{(measured.median - baseline.median) * 1000:+.2f} ms"
    )
