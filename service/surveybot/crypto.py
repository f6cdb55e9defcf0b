"""Encryption at rest (issue 13): AES-GCM for personal data, a keyed blind index for lookups.

The database never sees a key. A sealed value is text, `<key id>:<base64url(nonce | ciphertext)>`,
so it nests in JSON and shows which key to open it with; the row's identity (its table and
natural key, e.g. `users/<user key>`) is the associated data, so a ciphertext copied to another
row or question does not open. Equality lookups (registration by name and number, roster
matching, `관리자지정 <이름>`) use an HMAC of the normalised value under a separate index key:
equal values give equal index entries, and nothing else can be read from them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # 96-bit random nonces, as NIST SP 800-38D recommends for GCM
KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,16}")
SEALED = re.compile(r"([A-Za-z0-9_-]{1,16}):([A-Za-z0-9_-]{38,})")
INDEX_CHECK = "index"  # the keyring table's purpose for the index key
# One encoder and decoder for every value: json.dumps with options builds an encoder per call.
_encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_decode_json = json.JSONDecoder().decode


class CryptoError(Exception):
    """Something sealed cannot be opened, or a key is not right; the message says which."""


class UnknownKey(CryptoError):
    def __init__(self, key_id: str) -> None:
        super().__init__(f"data is sealed with key '{key_id}', which DATA_KEYS does not have")
        self.key_id = key_id


class SealBroken(CryptoError):
    """Wrong key material under a known id, a changed ciphertext, or one moved from another row."""


class KeyError_(CryptoError):  # noqa: N801 - KeyError is a builtin; this one is about our keys
    """A key given in the configuration is malformed."""


def _b64decode(text: str) -> bytes:
    text = text.strip()
    padded = text + "=" * (-len(text) % 4)
    try:
        if "-" in text or "_" in text:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError) as error:
        raise KeyError_("not valid base64") from error


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def new_key() -> str:
    """A fresh 256-bit key, base64 (standard alphabet, as most tools print keys)."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def check_value(key: bytes) -> str:
    """A fingerprint of a key stored beside the data: a wrong key under a known id is told at
    start, before it fails every request. It is an HMAC, so it reveals nothing of the key."""
    return hmac.new(key, b"surveybot key check v1", hashlib.sha256).hexdigest()[:32]


def normalise(value: str) -> str:
    """What the blind index compares: NFC and no outer spaces, as the bot stores input."""
    return unicodedata.normalize("NFC", value).strip()


@dataclass(frozen=True)
class Keyring:
    """The data keys (the first seals, every one opens) and the blind-index key."""

    data_keys: tuple[tuple[str, bytes], ...]
    index_key: bytes

    def __post_init__(self) -> None:
        if not self.data_keys:
            raise KeyError_("DATA_KEYS needs at least one key")
        ids = [key_id for key_id, _ in self.data_keys]
        if len(set(ids)) != len(ids):
            raise KeyError_("DATA_KEYS has the same key id twice")
        for key_id, key in self.data_keys:
            if not KEY_ID.fullmatch(key_id):
                raise KeyError_(f"key id '{key_id}' must be 1-16 of A-Z a-z 0-9 _ -")
            if len(key) != KEY_BYTES:
                raise KeyError_(f"key '{key_id}' must be {KEY_BYTES} bytes, not {len(key)}")
        if len(self.index_key) != KEY_BYTES:
            raise KeyError_(f"INDEX_KEY must be {KEY_BYTES} bytes, not {len(self.index_key)}")
        if any(hmac.compare_digest(self.index_key, key) for _, key in self.data_keys):
            raise KeyError_("INDEX_KEY must differ from every data key")
        ciphers = {key_id: AESGCM(key) for key_id, key in self.data_keys}
        object.__setattr__(self, "_ciphers", ciphers)

    @property
    def primary(self) -> str:
        return self.data_keys[0][0]

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(key_id for key_id, _ in self.data_keys)

    def checks(self) -> dict[str, str]:
        """key id -> check value of every data key."""
        return {key_id: check_value(key) for key_id, key in self.data_keys}

    def index_check(self) -> str:
        return check_value(self.index_key)

    # --- sealing --------------------------------------------------------------------------------
    def seal(self, value: Any, aad: str) -> str:
        """JSON-encode `value` and seal it under the primary key, bound to `aad`."""
        plain = _encode_json(value).encode()
        nonce = os.urandom(NONCE_BYTES)
        cipher: AESGCM = self._ciphers[self.primary]  # type: ignore[attr-defined]
        return f"{self.primary}:{_b64encode(nonce + cipher.encrypt(nonce, plain, aad.encode()))}"

    def open(self, sealed: str, aad: str) -> Any:
        """The value sealed for `aad`; CryptoError when it cannot be (never a wrong value).

        Kept lean (an export opens a few values per row): no regex; a malformed body simply
        fails authentication like any other changed ciphertext.
        """
        key_id, sep, body = sealed.partition(":") if isinstance(sealed, str) else ("", "", "")
        cipher = self._ciphers.get(key_id)  # type: ignore[attr-defined]
        if cipher is None:
            if sep and KEY_ID.fullmatch(key_id):
                raise UnknownKey(key_id)
            raise SealBroken("a stored value is not a sealed value")
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            plain = cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad.encode())
        except (InvalidTag, binascii.Error, ValueError) as error:
            raise SealBroken(
                f"a value sealed with key '{key_id}' does not open for {aad.split('/')[0]}: "
                "the key is not the one it was sealed with, or it was changed or moved"
            ) from error
        return _decode_json(plain.decode())

    # --- blind index ----------------------------------------------------------------------------
    def index(self, kind: str, *parts: str | None) -> str:
        """HMAC of the normalised parts (None = ''), per kind so equal names and numbers differ."""
        message = "\x00".join([kind, *(normalise(p or "") for p in parts)]).encode()
        return _b64encode(hmac.new(self.index_key, message, hashlib.sha256).digest()[:16])


def split_sealed(sealed: str) -> tuple[str, str]:
    found = SEALED.fullmatch(sealed) if isinstance(sealed, str) else None
    if found is None:
        raise SealBroken("a stored value is not a sealed value")
    return found[1], found[2]


def key_id_of(sealed: str) -> str:
    return split_sealed(sealed)[0]


# --- configuration ------------------------------------------------------------------------------
def parse_data_keys(text: str) -> tuple[tuple[str, bytes], ...]:
    """`id:base64[,id:base64...]`, the first one sealing; raise KeyError_ naming what is wrong."""
    keys = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key_id, sep, encoded = item.partition(":")
        if not sep:
            raise KeyError_("DATA_KEYS entries are id:base64key, separated by commas")
        try:
            keys.append((key_id.strip(), _b64decode(encoded)))
        except KeyError_ as error:
            raise KeyError_(f"key '{key_id.strip()}' is not valid base64") from error
    return tuple(keys)


def format_data_keys(keys: Iterable[tuple[str, bytes]]) -> str:
    return ",".join(f"{key_id}:{base64.b64encode(key).decode()}" for key_id, key in keys)


def keyring_from_text(data_keys: str, index_key: str) -> Keyring:
    return Keyring(parse_data_keys(data_keys), _b64decode(index_key))


def load_key_file(path: Path) -> Keyring:
    """The development key file, made on first use (mode 0600) beside the development data.

    Written aside and linked into place, so workers starting together agree on one file.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {"data_keys": format_data_keys([("dev1", secrets.token_bytes(KEY_BYTES))]),
                "index_key": new_key()}  # fmt: skip
        aside = path.with_name(f".{path.name}.{os.getpid()}")
        descriptor = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            json.dump(body, out, indent=1)
            out.write("\n")
        try:
            os.link(aside, path)
        except FileExistsError:
            pass  # another process was first: use its keys
        finally:
            aside.unlink()
    data: Mapping[str, str] = json.loads(path.read_text())
    return keyring_from_text(data["data_keys"], data["index_key"])
