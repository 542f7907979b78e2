"""Settings of the benchmark process itself (set-up, checks, statement counts).

The demo's settings, read from the same environment as the servers the harness starts,
with the sandbox gateway's database as a second alias, so that the harness can prepare
gateway orders the way it prepares the shop's payments.
"""

from merchant_site.settings import *  # noqa: F403
from merchant_site.settings import _database

DATABASES = {
    "default": _database("DATABASE_URL"),
    "sandbox": _database("BENCH_SANDBOX_DATABASE_URL"),
}
# The harness prints its own tables; the app's INFO lines would only interleave with them.
LOGGING = {"version": 1, "disable_existing_loggers": False}
# The demo's receipts of the payments made in this process (bench_queries) are not printed.
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
