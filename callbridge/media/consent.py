"""ICE consent freshness (RFC 7675) that a slow answer does not break.

aioice sends each consent check once and gives up on it after 0.5 s; six such failures in a row (30 s) close the
connection. So a peer whose answers take longer than half a second (a congested mobile link, a busy event loop at
either end) loses its leg although it answers every check. Here each check is a normal STUN transaction, with
its retransmissions (answers within 3.5 s count), and consent expires after 30 s without any answer, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from typing import Any

import aioice.ice
from aioice import stun

log = logging.getLogger(__name__)

RETRANSMISSIONS = 2  # the check is sent again after 0.5 s and 1.5 s, and given up at 3.5 s: within one interval


async def query_consent(self: aioice.ice.Connection) -> None:
    assert self.remote_password is not None  # consent checks start once connect() has it
    key = self.remote_password.encode("utf8")
    window = aioice.ice.CONSENT_FAILURES * aioice.ice.CONSENT_INTERVAL  # 30 s, as in RFC 7675
    answered = time.monotonic()
    while True:
        await asyncio.sleep(aioice.ice.CONSENT_INTERVAL * (0.8 + 0.4 * random.random()))
        for pair in list(self._nominated.values()):
            with contextlib.suppress(stun.TransactionError):
                request = self.build_request(pair, nominate=False)
                await pair.protocol.request(
                    request, pair.remote_addr, integrity_key=key, retransmissions=RETRANSMISSIONS
                )
                answered = time.monotonic()
        if time.monotonic() - answered > window:
            log.info("ICE consent expired: no answer for %gs", window)
            self._query_consent_task = None
            await self.close()
            return


def install() -> None:
    connection: Any = aioice.ice.Connection  # patched at run time, as aiortc makes its own connections
    connection.query_consent = query_consent
