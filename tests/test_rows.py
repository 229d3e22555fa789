"""apps/core/rows: model instances from a written-out SELECT equal the ORM's."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.forms.models import model_to_dict

from apps.chat.models import Conversation, Message
from apps.core import rows

pytestmark = pytest.mark.django_db


def test_instances_carry_every_field_through_its_converters(team, owner):
    conversation = Conversation.objects.create(workspace=team, created_by=owner, title="T")
    saved = Message.objects.create(
        conversation=conversation,
        workspace=team,
        role="assistant",
        content="答案",
        sources=[{"id": 1, "name": "a.txt", "narrowed": False}],  # a JSONField
        cost_cny=Decimal("0.012345"),
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {rows.columns(Message, 'm')}, {rows.columns(Conversation, 'c')}"  # noqa: S608
            ' FROM "chat_message" m JOIN "chat_conversation" c ON c."id" = m."conversation_id"'
            ' WHERE m."id" = %s',
            [saved.pk],
        )
        row = cursor.fetchone()
    message, end = rows.instance(Message, row)
    conv, end = rows.instance(Conversation, row, end)
    assert end == len(row)
    expected = Message.objects.get(pk=saved.pk)
    assert model_to_dict(message) == model_to_dict(expected)
    assert message.sources == [{"id": 1, "name": "a.txt", "narrowed": False}]
    assert message.cost_cny == Decimal("0.012345") and message.created_at == expected.created_at
    assert model_to_dict(conv) == model_to_dict(conversation) and not message._state.adding
