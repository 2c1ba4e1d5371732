"""The rotating check-in code: derived, never stored.

code = HMAC-SHA256(secret, "checkin:<session id>:<time step>"), truncated to six digits the way
TOTP does it. The projector shows the current step's code; the current and the previous step
are accepted, so a code typed as it turns still works, and a photo of an old code stops
working within a minute.
"""

import hashlib
import hmac
import re
import unicodedata
from datetime import datetime

DIGITS = 6
DEFAULT_STEP = 30


def step_at(at: datetime, step: int = DEFAULT_STEP) -> int:
    return int(at.timestamp()) // step


def code_for(secret: str | bytes, session_id: int, step_number: int) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(key, f"checkin:{session_id}:{step_number}".encode(), hashlib.sha256).digest()
    offset = digest[-1] & 0x0F
    number = int.from_bytes(digest[offset : offset + 4], "big") & 0x7FFFFFFF
    return str(number % 10**DIGITS).zfill(DIGITS)


def current_code(secret, session_id: int, at: datetime, step: int = DEFAULT_STEP) -> str:
    return code_for(secret, session_id, step_at(at, step))


def seconds_left(at: datetime, step: int = DEFAULT_STEP) -> int:
    """Until the code on the screen changes."""
    return step - int(at.timestamp()) % step


def normalise(text: str | None) -> str | None:
    """'123 456', '123-456' → '123456'; None when it is not six digits."""
    # NFKC: a phone keyboard's full-width digits are digits too.
    cleaned = re.sub(r"[\s\-.]", "", unicodedata.normalize("NFKC", text or ""))
    return cleaned if re.fullmatch(rf"[0-9]{{{DIGITS}}}", cleaned) else None


def is_valid(secret, session_id: int, code: str, at: datetime, step: int = DEFAULT_STEP) -> bool:
    now = step_at(at, step)
    return any(hmac.compare_digest(code, code_for(secret, session_id, s)) for s in (now, now - 1))
