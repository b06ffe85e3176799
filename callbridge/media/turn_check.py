"""Is the TURN server there, and does it accept our credentials? aiortc alone would just gather no relay
candidate (a wrong secret fails silently), so the gateway asks the server itself and says what it found."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from aioice import stun
from aioice.turn import create_turn_endpoint
from aiortc.rtcicetransport import parse_stun_turn_uri

from callbridge.media.ice import IceSettings, is_turn

log = logging.getLogger(__name__)
CHECK_TIMEOUT = 5.0  # seconds for the whole allocation


@dataclass
class TurnStatus:
    status: str = "disabled"  # disabled | ok | failed
    detail: str = "no TURN server configured"
    checked_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "detail": self.detail, "checkedAt": self.checked_at}


async def check_turn(ice: IceSettings) -> TurnStatus:
    """Allocate a relay on the first TURN URL (the one aiortc uses) with the credentials a leg would get."""
    servers = [(url, server) for server in ice.servers_for("callbridge-check") for url in server.urls if is_turn(url)]
    if not servers:
        return TurnStatus()
    url, server = servers[0]
    parsed = parse_stun_turn_uri(url)
    transport = parsed.get("transport") or "udp"
    try:
        turn, _ = await asyncio.wait_for(
            create_turn_endpoint(
                asyncio.DatagramProtocol,
                server_addr=(parsed["host"], parsed["port"]),
                username=server.username,
                password=server.credential,
                ssl=parsed["scheme"] == "turns",
                transport=transport,
            ),
            CHECK_TIMEOUT,
        )
    except stun.TransactionError as exc:
        code = exc.response.attributes.get("ERROR-CODE") if exc.response is not None else None
        if code and code[0] == 401:
            why = "check CALLBRIDGE_TURN_SECRET" if ice.turn_secret else "check the username and credential"
            return _failed(f"{url} refused the credentials (401 Unauthorized): {why}")
        return _failed(f"{url} answered with an error: {code or exc}")
    except (TimeoutError, OSError, ConnectionError) as exc:
        return _failed(f"{url} is unreachable: {exc or type(exc).__name__}")
    relayed = turn.get_extra_info("sockname")
    turn.close()
    return TurnStatus("ok", f"{url} allocated a relay at {relayed[0]}:{relayed[1]}", time.time())


def _failed(detail: str) -> TurnStatus:
    log.error("TURN check failed: %s", detail)
    return TurnStatus("failed", detail, time.time())
