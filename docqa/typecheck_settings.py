"""Settings for mypy's Django plugin, which imports settings to learn the apps and models.

The plugin only reads the settings; it never connects to a database or Redis. So this module
fills in placeholders for what docqa.settings demands from the environment (a secret, the two
service URLs), and `make lint` type-checks from a fresh clone without starting any server.
Real environment variables still win.
"""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "typecheck-only-secret-key-not-for-serving-" + "x" * 30)
os.environ.setdefault("DATABASE_URL", "postgres://typecheck@localhost:1/typecheck")
os.environ.setdefault("REDIS_URL", "redis://localhost:1/0")

from docqa.settings import *  # noqa: F403
