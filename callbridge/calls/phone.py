"""Phone numbers as WhatsApp wants them: international format, digits only."""

from __future__ import annotations

import re

from callbridge.errors import InvalidRequest

_SEPARATORS = re.compile(r"[\s().\-]")


def normalize_phone(value: str) -> str:
    digits = _SEPARATORS.sub("", value or "").removeprefix("+")
    if "@" in digits:  # a WaGo JID such as 15551234567@s.whatsapp.net
        digits = digits.split("@", 1)[0].split(":", 1)[0]
    # isdigit() alone would take '²' and other scripts' digits, which WhatsApp does not.
    if not (digits.isascii() and digits.isdigit()) or not 6 <= len(digits) <= 20:
        raise InvalidRequest(
            f"Phone {value!r} is not a phone number: use international format, digits only (e.g. 15551234567)"
        )
    return digits
