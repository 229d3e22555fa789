"""Run every benchmark module in this package (or those named on the command line).

Usage: ``python -m bench [module ...]``, inside the local services (``make bench`` does that).
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import time


def main(argv: list[str]) -> int:
    # Development settings, as `make run` uses (the local services export docqa.settings).
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "docqa.settings")
    os.environ.setdefault("DJANGO_DEBUG", "1")
    import django

    django.setup()
    package = sys.modules[__package__ or "bench"]
    names = argv or sorted(
        m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_")
    )
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        print(f"== bench.{name} ==", flush=True)
        started = time.monotonic()
        module.main()
        print(f"== bench.{name} done in {time.monotonic() - started:.1f} s ==\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
