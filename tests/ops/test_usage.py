"""Chat usage on the dashboard: tokens and cost per day, model and workspace, cached apart.

The figures come from the chat app's Message rows.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.chat import limits
from apps.chat.models import Conversation, Message
from apps.ops import selectors
from tests.test_workspace_access import login

from .seed import seed_site

pytestmark = pytest.mark.django_db


@pytest.fixture
def messages(team):
    site = seed_site(team)
    now = timezone.now()

    def add(workspace, model: str, prompt: int, cached: int, completion: int, cost: str, **kw):
        conversation = Conversation.objects.create(workspace=workspace)
        Message.objects.create(
            conversation=conversation,
            workspace=workspace,
            role="assistant",
            model=model,
            prompt_tokens=prompt,
            cached_tokens=cached,
            completion_tokens=completion,
            cost_cny=Decimal(cost),
            **kw,
        )

    add(site.team, "moonshot-v1-8k", 1000, 0, 200, "0.004")
    add(site.team, "kimi-k2-0905-preview", 3000, 2000, 500, "0.014")
    add(site.secret, "moonshot-v1-8k", 500, 0, 100, "0.002", created_at=now - timedelta(days=2))
    add(site.team, "moonshot-v1-8k", 9999, 0, 9999, "1", created_at=now - timedelta(days=45))
    return site


def test_usage_per_day_model_and_workspace_with_cached_tokens_apart(messages):
    report = selectors.chat_usage(days=30)
    assert len(report.by_day) == 30
    today, two_days_ago = report.by_day[-1], report.by_day[-3]
    assert (today.prompt, today.cached, today.fresh, today.completion) == (4000, 2000, 2000, 700)
    assert today.cost == Decimal("0.018") and today.messages == 2
    assert (two_days_ago.prompt, two_days_ago.completion) == (500, 100)
    by_model = {row.label: row for row in report.by_model}
    assert by_model["kimi-k2-0905-preview"].cached == 2000
    assert by_model["moonshot-v1-8k"].prompt == 1500  # the 45-day-old message is outside
    by_workspace = {row.label: (row.total, row.cost) for row in report.by_workspace}
    assert by_workspace == {
        "Research Team": (4700, Decimal("0.018")),
        "Secret Lab Seven": (600, Decimal("0.002")),
    }
    assert report.totals.cost == Decimal("0.020") and report.totals.cached == 2000


def test_dashboard_shows_chat_usage(messages):
    body = login(messages.staff).get("/ops/").content.decode()
    assert "Cached input tokens" in body
    assert "2,000" in body and "¥0.02" in body and "kimi-k2-0905-preview" in body


def test_workspace_usage_counts_todays_tokens(messages):
    assert limits.tokens_today(messages.team) == 4700
    rows, _total = selectors.workspace_rows()
    assert {r.workspace.name: r.tokens_today for r in rows}["Research Team"] == 4700
