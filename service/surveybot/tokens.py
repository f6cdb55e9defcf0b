"""Signed, expiring, single-purpose links: results files, the results page, chart images.

Each kind of link has its own purpose mixed into the MAC, so a token made for one (a chart, which
Kakao fetches with no session) never opens another (the page or the file with names).
"""

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
RESULTS_PURPOSE = b"surveybot/results-page/v1"
CHART_PURPOSE = b"surveybot/chart-image/v1"
# version, survey id, a second field (the user id; a chart's counts fingerprint), expiry (unix s)
_PAYLOAD = struct.Struct(">BQQQ")
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


@dataclass(frozen=True, slots=True)
class ResultsClaim:
    survey_id: int
    user_id: int
    expires_at: int


@dataclass(frozen=True, slots=True)
class ChartClaim:
    survey_id: int
    fingerprint: int  # of the counts the chart was offered for (charts.fingerprint)
    expires_at: int


def sign_export_token(secret: bytes, survey_id: int, user_id: int, expires_at: int) -> str:
    """Return a URL-path-safe token letting user_id download survey_id until expires_at."""
    return _sign(secret, PURPOSE, survey_id, user_id, expires_at)


def verify_export_token(secret: bytes, token: str, now: float) -> ExportClaim:
    """Return the claim of a genuine, unexpired token; raise TokenInvalid or TokenExpired."""
    return ExportClaim(*_verify(secret, PURPOSE, token, now))


def sign_results_token(secret: bytes, survey_id: int, user_id: int, expires_at: int) -> str:
    """Return a token letting user_id open the results page of survey_id until expires_at."""
    return _sign(secret, RESULTS_PURPOSE, survey_id, user_id, expires_at)


def verify_results_token(secret: bytes, token: str, now: float) -> ResultsClaim:
    """Return the claim of a genuine, unexpired results-page token (TokenInvalid, TokenExpired)."""
    return ResultsClaim(*_verify(secret, RESULTS_PURPOSE, token, now))


def sign_chart_token(secret: bytes, survey_id: int, fingerprint: int, expires_at: int) -> str:
    """Return a token for the chart of survey_id; a new fingerprint makes a new URL."""
    return _sign(secret, CHART_PURPOSE, survey_id, fingerprint, expires_at)


def verify_chart_token(secret: bytes, token: str, now: float) -> ChartClaim:
    """Return the claim of a genuine, unexpired chart token (TokenInvalid, TokenExpired)."""
    return ChartClaim(*_verify(secret, CHART_PURPOSE, token, now))


def _sign(secret: bytes, purpose: bytes, survey_id: int, second: int, expires_at: int) -> str:
    _check_secret(secret)
    for name, value in (("survey_id", survey_id), ("second", second), ("expires_at", expires_at)):
        if not 0 <= value <= _U64_MAX:
            raise ValueError(f"{name} out of range: {value}")
    payload = _PAYLOAD.pack(VERSION, survey_id, second, expires_at)
    return _b64encode(payload + _mac(secret, purpose, payload))


def _verify(secret: bytes, purpose: bytes, token: str, now: float) -> tuple[int, int, int]:
    _check_secret(secret)
    blob = _b64decode(token)
    payload, mac = blob[:-_MAC_SIZE], blob[-_MAC_SIZE:]
    if len(blob) <= _MAC_SIZE or not hmac.compare_digest(mac, _mac(secret, purpose, payload)):
        raise TokenInvalid("bad signature")
    # Only now, with the signature checked, is any payload field worth reading.
    if len(payload) != _PAYLOAD.size or payload[0] != VERSION:
        raise TokenInvalid("unsupported token version")
    _, survey_id, second, expires_at = _PAYLOAD.unpack(payload)
    if now >= expires_at:
        raise TokenExpired("link expired")
    return survey_id, second, expires_at


def _mac(secret: bytes, purpose: bytes, payload: bytes) -> bytes:
    # The NUL ends the purpose (which has none), so purpose and payload cannot be re-split.
    return hmac.new(secret, purpose + b"\0" + payload, hashlib.sha256).digest()


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
