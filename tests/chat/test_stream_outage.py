"""Redis (the admission controller) stopped while a question is asked: the stream ends with a
clear error event, the answer is saved as failed with the question kept, and the next question
after Redis is back is answered."""

from __future__ import annotations

from apps.chat import services
from apps.chat.models import Message, Role, Status
from tests.test_redis_outage import BUSY

from .conftest import ready_document, stream
from .test_stream import FACT, ask_url


def test_a_stream_ends_with_an_error_event_while_redis_is_down(
    online, app_server, team, owner, settings, throwaway_redis
):
    ready_document(team, "maintenance.txt", FACT, owner)
    conversation = services.create_conversation(workspace=team, user=owner)
    settings.REDIS_URL = throwaway_redis.url  # the admission controller's Redis
    throwaway_redis.stop()
    with app_server.client(owner) as client:
        log = stream(client, ask_url(conversation), {"question": "Valve test interval?"})
    assert log.status == 200
    assert [e.name for e in log.events if e.name != "waiting"] == ["meta", "error"]
    assert log.first("error").data == {"message": BUSY, "retryable": True}
    answer = Message.objects.get(conversation=conversation, role=Role.ASSISTANT)
    assert answer.status == Status.FAILED and answer.error_message == BUSY
    assert Message.objects.get(conversation=conversation, role=Role.USER).content == (
        "Valve test interval?"
    )

    throwaway_redis.start()
    with app_server.client(owner) as client:
        log = stream(client, ask_url(conversation), {"question": "How often is it tested?"})
    assert log.named("done") and "every 90 days" in log.text
