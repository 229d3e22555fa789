"""/api/v1/usage: the key's workspace only, every day listed, bad input refused."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from apps.chat import services
from apps.chat.models import Message, Role


def _answer(workspace, user, *, prompt: int, completion: int, days_ago: int = 0) -> None:
    conversation = services.create_conversation(workspace=workspace, user=user)
    Message.objects.create(
        conversation=conversation,
        workspace=workspace,
        role=Role.ASSISTANT,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost_cny=Decimal("0.01"),
        created_at=timezone.now() - timedelta(days=days_ago),
    )


def test_usage_per_day_of_the_keys_workspace(api, team, owner, other_team):
    _answer(team, owner, prompt=100, completion=20)
    _answer(team, owner, prompt=50, completion=5, days_ago=2)
    _answer(other_team, None, prompt=9999, completion=9999)
    body = api.get("/api/v1/usage?days=3").json()
    assert body["workspace"] == team.slug and body["tokens_today"] == 120
    assert [d["prompt_tokens"] for d in body["days"]] == [50, 0, 100]
    assert body["days"][-1]["date"] == timezone.localdate().isoformat()
    assert body["days"][-1]["cost_cny"] == "0.010000"


def test_usage_bad_input(api):
    for days in (0, 1000):
        response = api.get(f"/api/v1/usage?days={days}")
        assert response.status_code == 422 and response.json()["code"] == "invalid_input"
