"""System checks standing in for Django's own middleware checks.

Django's deploy checks security.W001/W002/W003 look for its middleware by dotted path, so they
do not see the async-native subclasses in apps.core.async_middleware and are silenced in the
settings. This check makes the same demand of the subclasses instead: the protections must
still be in MIDDLEWARE.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Warning, register
from django.utils.module_loading import import_string

REQUIRED = {
    "security.W001": "django.middleware.security.SecurityMiddleware",
    "security.W002": "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "security.W003": "django.middleware.csrf.CsrfViewMiddleware",
}


@register("security", deploy=True)
def check_security_middleware(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    installed = [import_string(path) for path in settings.MIDDLEWARE]
    problems = []
    for check_id, path in REQUIRED.items():
        required = import_string(path)
        if not any(issubclass(cls, required) for cls in installed if isinstance(cls, type)):
            problems.append(
                Warning(f"{path} (or a subclass) is not in MIDDLEWARE.", id=f"core.{check_id}")
            )
    return problems
