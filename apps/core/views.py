from django.http import HttpRequest, JsonResponse

from .health import checks


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and readiness, for the supervisor, compose healthchecks and load balancers:
    200 when PostgreSQL and Redis answer, else 503 naming the dependency that is down, e.g.
    {"status": "unavailable", "database": "ok", "redis": "down"}."""
    results = checks()
    healthy = all(value == "ok" for value in results.values())
    body = {"status": "ok" if healthy else "unavailable", **results}
    return JsonResponse(body, status=200 if healthy else 503)
