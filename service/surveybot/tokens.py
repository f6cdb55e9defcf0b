"""Signed, expiring, single-purpose download links for results files."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
from dataclasses import dataclass

VERSION = 1
# Mixed into every signature, so a MAC the same secret made for another purpose never verifies here.
PURPOSE = b"surveybot/export-download/v1"
_PAYLOAD = struct.Struct(">BQQQ")  # version, survey id, user id, expiry (unix seconds)
_MAC_SIZE = hashlib.sha256().digest_size
_U64_MAX = 2**64 - 1
# Base64url without padding; anything else (dots, '=', non-ASCII, spaces) is refused up front.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,200}")


class TokenError(Exception):
    """A download token cannot be honoured."""


class TokenInvalid(TokenError):
    """Malformed, forged or of another version: answer 403."""


class TokenExpired(TokenError):
    """Genuine but past its expiry: answer 410."""


@dataclass(frozen=True, slots=True)
class ExportClaim:
    survey_id: int
    user_id: int
    expires_at: int


def sign_export_token(secret: bytes, survey_id: int, user_id: int, expires_at: int) -> str:
    """Return a URL-path-safe token letting user_id download survey_id until expires_at."""
    _check_secret(secret)
    for name, value in (("survey_id", survey_id), ("user_id", user_id), ("expires_at", expires_at)):
        if not 0 <= value <= _U64_MAX:
            raise ValueError(f"{name} out of range: {value}")
    payload = _PAYLOAD.pack(VERSION, survey_id, user_id, expires_at)
    return _b64encode(payload + _mac(secret, payload))


def verify_export_token(secret: bytes, token: str, now: float) -> ExportClaim:
    """Return the claim of a genuine, unexpired token; raise TokenInvalid or TokenExpired."""
    _check_secret(secret)
    blob = _b64decode(token)
    payload, mac = blob[:-_MAC_SIZE], blob[-_MAC_SIZE:]
    if len(blob) <= _MAC_SIZE or not hmac.compare_digest(mac, _mac(secret, payload)):
        raise TokenInvalid("bad signature")
    # Only now, with the signature checked, is any payload field worth reading.
    if len(payload) != _PAYLOAD.size or payload[0] != VERSION:
        raise TokenInvalid("unsupported token version")
    _, survey_id, user_id, expires_at = _PAYLOAD.unpack(payload)
    if now >= expires_at:
        raise TokenExpired("download link expired")
    return ExportClaim(survey_id, user_id, expires_at)


def _mac(secret: bytes, payload: bytes) -> bytes:
    # The NUL ends the purpose (which has none), so purpose and payload cannot be re-split.
    return hmac.new(secret, PURPOSE + b"\0" + payload, hashlib.sha256).digest()


def _check_secret(secret: bytes) -> None:
    # An empty key makes every signature forgeable; that is a deployment bug, not a bad token.
    if not secret:
        raise ValueError("the signing secret must not be empty")


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(token: str) -> bytes:
    if not isinstance(token, str) or not _TOKEN_SHAPE.fullmatch(token):
        raise TokenInvalid("malformed token")
    try:
        data = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise TokenInvalid("malformed token") from exc
    # Refuse non-canonical spellings (stray low bits) so each token has exactly one form.
    if _b64encode(data) != token:
        raise TokenInvalid("malformed token")
    return data
