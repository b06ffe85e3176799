"""The Cloud API connector: Graph API signalling plus an aiortc leg per call, with Meta's SDP rules."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NoReturn, TypeVar

import httpx

from callbridge.connectors.base import Connector, PlacedCall
from callbridge.connectors.cloud import intake
from callbridge.connectors.cloud.graph import CloudAccount, GraphClient, GraphError
from callbridge.connectors.cloud.sdp import for_meta
from callbridge.connectors.events import ConnectorEvent
from callbridge.errors import Conflict, Forbidden, GatewayError, InvalidRequest, TooManyRequests, UpstreamError
from callbridge.media.ice import IceSettings
from callbridge.media.whatsapp_leg import WhatsAppLeg
from callbridge.store.models import SessionRow

log = logging.getLogger(__name__)
T = TypeVar("T")

NO_PERMISSION = 138006
INVALID_PARAMETER = 100

# Meta's calling error codes ("Troubleshoot WhatsApp Calling Errors") by what the app can do about them.
ADVICE: dict[int, tuple[type[GatewayError], str]] = {
    138000: (Conflict, 'calling is not enabled for this number: POST /call/settings {"Status": "ENABLED"}'),
    138003: (Conflict, "a call with this user is already going on"),
    138009: (TooManyRequests, "too many call permission requests to this user for now: wait before asking again"),
    138012: (TooManyRequests, "too many calls to this user for now: wait before calling again"),
    138017: (Conflict, "this user has already granted a permanent call permission"),
    131055: (Conflict, "this number takes calls over SIP: the Graph API's calling is turned off for it"),
}
RATE_LIMITS = (4, 613, 80007)  # Graph API's own throttling codes


def translate(exc: GraphError, action: str, phone: str | None = None, passed_through: bool = False) -> NoReturn:
    """Meta's error, as something an app developer can act on. ``passed_through``: the request carried the app's
    own values as they were given (calling settings), so Meta's "invalid parameter" is the app's to fix (400)."""
    if exc.code == NO_PERMISSION:
        who = f" from {phone}" if phone else ""
        raise Forbidden(
            f"no call permission{who}: ask for it with POST /call/permission and call once it is granted "
            f"(WhatsApp error {exc.code})"
        ) from exc
    if exc.code in ADVICE:
        kind, advice = ADVICE[exc.code]
        raise kind(f"{advice} (WhatsApp error {exc.code}: {exc})") from exc
    if exc.http_status == 429 or exc.code in RATE_LIMITS:
        raise TooManyRequests(f"WhatsApp rate limit while trying to {action}: {exc}") from exc
    if passed_through and exc.code == INVALID_PARAMETER and exc.http_status == 400:
        raise InvalidRequest(f"WhatsApp found the request to {action} invalid: {exc}") from exc
    if exc.unreachable:
        raise UpstreamError(f"could not reach WhatsApp to {action}: {exc}") from exc
    raise UpstreamError(f"WhatsApp refused to {action}: {exc}") from exc


class CloudConnector(Connector):
    def __init__(self, graph: GraphClient, ice: IceSettings) -> None:
        super().__init__()
        self.graph = graph
        self.ice = ice

    @classmethod
    def for_session(cls, session: SessionRow, http: httpx.AsyncClient, ice: IceSettings) -> CloudConnector:
        assert session.cloud is not None, "the registry makes Cloud connectors for Cloud sessions only"
        return cls(GraphClient(CloudAccount.from_dict(session.cloud), http), ice)

    async def identity(self) -> str:
        try:
            profile = await self.graph.phone_number()
        except GraphError as exc:
            if exc.unreachable or exc.http_status >= 500:
                raise UpstreamError(str(exc)) from exc
            raise InvalidRequest(f"WhatsApp rejected the session's Cloud credentials: {exc}") from exc
        number = profile.display_phone_number or self.graph.account.phone_number_id
        return "".join(ch for ch in number if ch.isdigit()) + "@s.whatsapp.net"

    def verify(self, body: bytes, headers: Mapping[str, str]) -> bool:
        return intake.signature_valid(self.graph.account.app_secret, body, headers)

    def parse(self, payload: Any) -> list[ConnectorEvent]:
        return intake.parse(payload, self.graph.account.phone_number_id)

    async def _graph(
        self, action: str, call: Callable[[], Awaitable[T]], phone: str | None = None, passed_through: bool = False
    ) -> T:
        try:
            return await call()
        except GraphError as exc:
            translate(exc, action, phone, passed_through)

    async def place_call(self, phone: str, callback_data: str | None = None) -> PlacedCall:
        leg = WhatsAppLeg(self.ice)
        try:
            offer = for_meta(await leg.create_offer(), answer=False)
            call_id = await self._graph(f"call {phone}", lambda: self.graph.connect(phone, offer, callback_data), phone)
        except BaseException:
            await leg.close()
            raise
        return PlacedCall(call_id, leg, self.deliveries.announce(call_id))

    async def answer_call(self, call_id: str, offer_sdp: str, callback_data: str | None = None) -> WhatsAppLeg:
        leg = WhatsAppLeg(self.ice)
        try:
            answer = for_meta(await leg.answer(offer_sdp), answer=True)
            # pre_accept lets ICE and DTLS finish before the user is told, so the first words are not clipped;
            # accept follows with the same answer.
            await self._graph("pre-accept the call", lambda: self.graph.call_action(call_id, "pre_accept", answer))
            await self._graph(
                "accept the call", lambda: self.graph.call_action(call_id, "accept", answer, callback_data)
            )
        except BaseException:
            await leg.close()
            raise
        return leg

    async def reject_call(self, call_id: str) -> None:
        await self._graph("reject the call", lambda: self.graph.call_action(call_id, "reject"))

    async def terminate_call(self, call_id: str) -> None:
        await self._graph("end the call", lambda: self.graph.call_action(call_id, "terminate"))

    async def request_permission(self, phone: str, body: str) -> str | None:
        return await self._graph(
            "send the call permission request", lambda: self.graph.request_call_permission(phone, body), phone
        )

    async def calling_settings(self) -> dict[str, Any]:
        return await self._graph("read the calling settings", self.graph.calling_settings)

    async def update_calling_settings(self, calling: dict[str, Any]) -> dict[str, Any]:
        await self._graph(
            "change the calling settings", lambda: self.graph.update_calling_settings(calling), passed_through=True
        )
        return await self.calling_settings()

    async def permission(self, phone: str) -> dict[str, Any]:
        answer = await self._graph("read the call permission", lambda: self.graph.call_permissions(phone), phone)
        with contextlib.suppress(KeyError):
            del answer["messaging_product"]
        return answer
