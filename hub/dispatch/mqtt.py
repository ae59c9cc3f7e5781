"""The hub's own broker session: every node's status and events in, offers out.

It keeps a persistent session under a fixed client id, so node events published while the
hub restarts wait in the broker (see cofab_mqtt for the session rules).
"""

from __future__ import annotations

from collections.abc import Callable

from cofab_mqtt import SessionClient
from cofab_wire import Topics

MessageHandler = Callable[[str, bytes], None]


class HubMqtt(SessionClient):
    def __init__(self, *, host: str, port: int, username: str, password: str | None, topics: Topics,
                 on_message: MessageHandler, client_id: str = "cofab-hub", session_expiry_s: int = 86400) -> None:
        super().__init__(client_id=client_id, username=username, password=password, host=host, port=port,
                         subscriptions=[(topics.all_status, 1), (topics.all_events, 1)],
                         on_message=lambda message: on_message(message.topic, message.payload),
                         session_expiry_s=session_expiry_s, who="hub")
        self.client.max_inflight_messages_set(50)
