"""Enumerate every URL pattern inside a workspace (`<slug:slug>`), for access tests."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver


@dataclass(frozen=True)
class Route:
    name: str
    template: str  # e.g. "w/<slug:slug>/members/<int:membership_id>/role/"

    def build(self, values: dict[str, object]) -> str:
        def fill(match: re.Match[str]) -> str:
            key = match.group(2)
            if key not in values:
                raise KeyError(f"no value for URL parameter {key!r} in {self.template}")
            return str(values[key])

        return "/" + re.sub(r"<(?:(\w+):)?(\w+)>", fill, self.template)

    @property
    def params(self) -> list[str]:
        return re.findall(r"<(?:\w+:)?(\w+)>", self.template)


def _walk(patterns: list, prefix: str, namespace: str) -> list[Route]:
    routes: list[Route] = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            routes += _walk(entry.url_patterns, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            routes.append(
                Route(name=f"{namespace}{entry.name}", template=prefix + str(entry.pattern))
            )
    return routes


def workspace_routes() -> list[Route]:
    return [r for r in _walk(get_resolver().url_patterns, "", "") if "<slug:slug>" in r.template]
