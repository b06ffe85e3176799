"""One rule for every request the kit makes: an answer outside 2xx is a failure, with the body to say why."""

from __future__ import annotations

import httpx


class RequestRefused(AssertionError):
    """The gateway or the emulator answered one of the kit's requests with an error status.

    An AssertionError, so that test runners report it as a failed expectation, not as a crash."""


def expect_ok(response: httpx.Response) -> httpx.Response:
    """Return ``response`` if it is 2xx; otherwise raise :class:`RequestRefused` with its status and body."""
    if not response.is_success:
        request = response.request
        raise RequestRefused(f"{request.method} {request.url.path} answered {response.status_code}: {response.text}")
    return response
