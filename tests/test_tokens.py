"""Tests of the signed download tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from surveybot.tokens import (
    PURPOSE,
    ChartClaim,
    ExportClaim,
    ResultsClaim,
    TokenError,
    TokenExpired,
    TokenInvalid,
    sign_chart_token,
    sign_export_token,
    sign_results_token,
    verify_chart_token,
    verify_export_token,
    verify_results_token,
)

SECRET = b"0123456789abcdef0123456789abcdef"
EXPIRES = 1_800_000_000


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def forge(payload: bytes, secret: bytes = SECRET, purpose: bytes = PURPOSE) -> str:
    mac = hmac.new(secret, purpose + b"\0" + payload, hashlib.sha256).digest()
    return b64(payload + mac)


def test_round_trip() -> None:
    token = sign_export_token(SECRET, 3, 42, EXPIRES)
    assert verify_export_token(SECRET, token, EXPIRES - 1) == ExportClaim(3, 42, EXPIRES)


def test_token_is_compact_and_path_safe() -> None:
    token = sign_export_token(SECRET, 2**63, 2**63, 2**40)
    assert quote(token, safe="") == token
    assert "/" not in token and "=" not in token and "." not in token
    assert len(token) <= 80


def test_expired_is_410_not_403() -> None:
    token = sign_export_token(SECRET, 3, 42, EXPIRES)
    with pytest.raises(TokenExpired):
        verify_export_token(SECRET, token, EXPIRES)
    with pytest.raises(TokenExpired):
        verify_export_token(SECRET, token, EXPIRES + 3600.5)


def test_tampered_expired_token_is_invalid_not_expired() -> None:
    blob = bytearray(unb64(sign_export_token(SECRET, 3, 42, EXPIRES)))
    blob[5] ^= 0x01  # flip a bit of the survey id
    with pytest.raises(TokenInvalid):
        verify_export_token(SECRET, b64(bytes(blob)), EXPIRES + 10)


def test_extending_expiry_breaks_the_signature() -> None:
    blob = bytearray(unb64(sign_export_token(SECRET, 3, 42, EXPIRES)))
    blob[17:25] = struct.pack(">Q", EXPIRES * 2)
    with pytest.raises(TokenInvalid):
        verify_export_token(SECRET, b64(bytes(blob)), EXPIRES + 10)


@pytest.mark.parametrize("index", [0, 1, 9, 24, 25, 40, 56])
def test_any_flipped_byte_is_invalid(index: int) -> None:
    blob = bytearray(unb64(sign_export_token(SECRET, 3, 42, EXPIRES)))
    blob[index] ^= 0x80
    with pytest.raises(TokenInvalid):
        verify_export_token(SECRET, b64(bytes(blob)), 0)


def test_tampered_signature_characters() -> None:
    token = sign_export_token(SECRET, 3, 42, EXPIRES)
    last = "A" if token[-2] != "A" else "B"
    with pytest.raises(TokenInvalid):
        verify_export_token(SECRET, token[:-2] + last + token[-1], 0)


@pytest.mark.parametrize("keep", [1, 10, 34, 43, 75])
def test_truncated(keep: int) -> None:
    token = sign_export_token(SECRET, 3, 42, EXPIRES)
    with pytest.raises(TokenInvalid):
        verify_export_token(SECRET, token[:keep], 0)


def test_appended_characters() -> None:
    token = sign_export_token(SECRET, 3, 42, EXPIRES)
    with pytest.raises(TokenInvalid):
        verify_export_token(SECRET, token + "AAAA", 0)


def test_other_secret() -> None:
    token = sign_export_token(SECRET, 3, 42, EXPIRES)
    with pytest.raises(TokenInvalid):
        verify_export_token(b"another secret of enough length!", token, 0)


def test_same_secret_other_purpose_is_not_an_export_token() -> None:
    payload = struct.pack(">BQQQ", 1, 3, 42, EXPIRES)
    assert verify_export_token(SECRET, forge(payload), 0).survey_id == 3  # the forge is faithful
    with pytest.raises(TokenInvalid):
        verify_export_token(SECRET, forge(payload, purpose=b"surveybot/session"), 0)
    plain_mac = hmac.new(SECRET, payload, hashlib.sha256).digest()
    with pytest.raises(TokenInvalid):
        verify_export_token(SECRET, b64(payload + plain_mac), 0)


def test_signed_unknown_version_is_invalid() -> None:
    with pytest.raises(TokenInvalid):
        verify_export_token(SECRET, forge(struct.pack(">BQQQ", 2, 3, 42, EXPIRES)), 0)
    with pytest.raises(TokenInvalid):
        verify_export_token(SECRET, forge(struct.pack(">BQQ", 1, 3, 42)), 0)


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "a",
        "....",
        "not a token",
        "abc=",
        "a/b+c",
        "설문토큰",
        "ＡＢＣＤ",
        "\x00" * 10,
        "A" * 76,
        "A" * 5000,
        "é" * 40,
    ],
)
def test_garbage(garbage: str) -> None:
    with pytest.raises(TokenInvalid):
        verify_export_token(SECRET, garbage, 0)


def test_errors_share_a_base() -> None:
    assert issubclass(TokenInvalid, TokenError) and issubclass(TokenExpired, TokenError)
    assert not issubclass(TokenExpired, TokenInvalid)


def test_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        sign_export_token(b"", 1, 1, EXPIRES)
    with pytest.raises(ValueError):
        verify_export_token(b"", "AAAA", 0)


@pytest.mark.parametrize("args", [(-1, 1, 1), (1, 2**64, 1), (1, 1, -5)])
def test_out_of_range_fields_are_refused(args: tuple[int, int, int]) -> None:
    with pytest.raises(ValueError):
        sign_export_token(SECRET, *args)


# --- the purposes of issue 11: results page and chart links ----------------------------------
SIGNERS = {
    "export": (sign_export_token, verify_export_token),
    "results": (sign_results_token, verify_results_token),
    "chart": (sign_chart_token, verify_chart_token),
}
U64 = st.integers(min_value=0, max_value=2**64 - 1)


def test_results_and_chart_round_trips() -> None:
    results = sign_results_token(SECRET, 3, 42, EXPIRES)
    assert verify_results_token(SECRET, results, EXPIRES - 1) == ResultsClaim(3, 42, EXPIRES)
    chart = sign_chart_token(SECRET, 3, 2**64 - 1, EXPIRES)
    assert verify_chart_token(SECRET, chart, EXPIRES - 1) == ChartClaim(3, 2**64 - 1, EXPIRES)
    with pytest.raises(TokenExpired):
        verify_chart_token(SECRET, chart, EXPIRES)


@given(
    st.sampled_from(sorted(SIGNERS)), st.sampled_from(sorted(SIGNERS)), U64, U64,
    st.integers(min_value=1, max_value=2**40),
)  # fmt: skip
def test_a_token_opens_only_what_it_was_made_for(
    made: str, used: str, survey: int, second: int, expires: int
) -> None:
    sign, _ = SIGNERS[made]
    _, verify = SIGNERS[used]
    token = sign(SECRET, survey, second, expires)
    if made == used:
        assert verify(SECRET, token, expires - 1).survey_id == survey
    else:
        with pytest.raises(TokenInvalid):
            verify(SECRET, token, expires - 1)


@given(st.sampled_from(sorted(SIGNERS)), st.data())
def test_any_changed_character_is_invalid(kind: str, data: st.DataObject) -> None:
    sign, verify = SIGNERS[kind]
    token = sign(SECRET, 7, 9, EXPIRES)
    index = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    char = data.draw(st.sampled_from(alphabet).filter(lambda c: c != token[index]))
    with pytest.raises(TokenInvalid):
        verify(SECRET, token[:index] + char + token[index + 1 :], EXPIRES - 1)
