"""WeCom calling the app: the callback URL check and encrypted pushes, with the fake's own
WXBizMsgCrypt envelope (docs/wecom-and-qrconnect.md sections 1.6 and 1.7).

The cipher is written here again, apart from the library's ``crypto`` module, on purpose:
a wrong fact in the library must not be agreed with by the fake that tests it. Tencent's
scheme: key = base64decode(EncodingAESKey + "="), AES-256-CBC with IV = key[:16],
plaintext ``random(16) || uint32-BE length || message || receiveid`` padded PKCS#7 to
32-byte blocks, base64; ``msg_signature`` = sha1 of token, timestamp, nonce and the
ciphertext, sorted and joined. ``tests/test_fake_wecom.py`` checks it against Tencent's
vectors.

AES comes from ``cryptography`` (the ``crypto`` extra), imported only when a message is
sealed or opened, so the testing kit imports without it.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import struct
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import requests

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers import Cipher, modes

__all__ = ["CallbackResult", "Envelope", "callback_signature", "open_message", "seal_message"]

BLOCK = 32  # WXBizMsgCrypt pads to 32 bytes, not AES's 16
CALLBACK_TIMEOUT = 5.0  # WeCom wants the URL check answered within 1 s: see .elapsed
CRYPTO_MISSING = (
    "FakeWeCom needs the 'cryptography' package to encrypt callbacks: "
    "pip install 'cryptography>=41' (the [crypto] extra)"
)
_ELEMENT = r"<{0}>\s*(?:<!\[CDATA\[(.*?)\]\]>|([^<]*))\s*</{0}>"


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte key behind a 43-character EncodingAESKey."""
    if not re.fullmatch(r"[A-Za-z0-9+/]{43}", encoding_aes_key):
        raise ValueError("an EncodingAESKey is 43 characters of [A-Za-z0-9+/]")
    return base64.b64decode(encoding_aes_key + "=")


def callback_signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    joined = "".join(sorted([token, timestamp, nonce, encrypt]))
    return hashlib.sha1(joined.encode("utf-8")).hexdigest()  # noqa: S324 - Tencent's algorithm


def _cipher(key: bytes) -> Cipher[modes.CBC]:
    try:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    except ImportError as missing:
        raise ImportError(CRYPTO_MISSING) from missing
    return Cipher(algorithms.AES(key), modes.CBC(key[:16]))


def seal_message(key: bytes, message: bytes, receive_id: str, random16: bytes | None = None) -> str:
    """The base64 ``Encrypt`` text of ``message`` for ``receive_id``."""
    plain = (random16 or secrets.token_bytes(16)) + struct.pack(">I", len(message))
    plain += message + receive_id.encode("utf-8")
    pad = BLOCK - len(plain) % BLOCK
    encryptor = _cipher(key).encryptor()
    return base64.b64encode(
        encryptor.update(plain + bytes([pad]) * pad) + encryptor.finalize()
    ).decode()


def open_message(key: bytes, encrypt: str) -> tuple[bytes, bytes, str]:
    """``(random16, message, receive_id)`` from an ``Encrypt`` text; AssertionError if malformed."""
    try:
        raw = base64.b64decode(encrypt, validate=True)
    except ValueError as error:
        raise AssertionError(f"Encrypt is not base64: {error}") from None
    _require(bool(raw) and len(raw) % 16 == 0, f"Encrypt is {len(raw)} bytes, not AES blocks")
    decryptor = _cipher(key).decryptor()
    plain = decryptor.update(raw) + decryptor.finalize()
    pad = plain[-1]
    _require(1 <= pad <= BLOCK and plain.endswith(bytes([pad]) * pad), "bad PKCS#7 padding")
    plain = plain[:-pad]
    _require(len(plain) >= 20, "the plaintext is too short for random(16) and a length")
    (length,) = struct.unpack(">I", plain[16:20])
    _require(20 + length <= len(plain), f"the length field ({length}) runs past the plaintext")
    message, trailer = plain[20 : 20 + length], plain[20 + length :]
    return plain[:16], message, trailer.decode("utf-8", errors="replace")


def element(xml: str, tag: str) -> str | None:
    """The text of ``<tag>`` (plain or CDATA) in a small flat XML document."""
    found = re.search(_ELEMENT.format(tag), xml, re.DOTALL)
    if found is None:
        return None
    return found.group(1) if found.group(1) is not None else found.group(2)


def _require(condition: bool, problem: str) -> None:
    """AssertionError, as a test expects, even under ``python -O`` (which drops asserts)."""
    if not condition:
        raise AssertionError(problem)


@dataclass(frozen=True)
class CallbackResult:
    """What the app answered WeCom: ``ok`` is HTTP 200 and, for the URL check, a body
    that is exactly the decrypted ``echostr`` (no quotes, BOM or newline). ``elapsed``
    (seconds) is there to hold against WeCom's 1-second limit."""

    status: int
    body: bytes
    elapsed: float
    expected: bytes | None = None  # what the body must be, if anything

    @property
    def ok(self) -> bool:
        return self.status == 200 and (self.expected is None or self.body == self.expected)


class Envelope:
    """WeCom's side of the callbacks: signs with the callback Token, encrypts for the corp."""

    def __init__(self, token: str, encoding_aes_key: str, corp_id: str) -> None:
        self.token = token
        self.key = aes_key(encoding_aes_key)
        self.corp_id = corp_id

    def seal(
        self, xml: str, timestamp: str, nonce: str, agent_id: str, receive_id: str | None = None
    ) -> tuple[dict[str, str], bytes]:
        """The query parameters and the body of a push of ``xml``."""
        encrypt = seal_message(self.key, xml.encode("utf-8"), receive_id or self.corp_id)
        params = {
            "msg_signature": callback_signature(self.token, timestamp, nonce, encrypt),
            "timestamp": timestamp,
            "nonce": nonce,
        }
        body = (
            f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypt}]]></Encrypt>"
            f"<AgentID><![CDATA[{agent_id}]]></AgentID></xml>"
        )
        return params, body.encode("utf-8")

    def check_url(self, url: str, timestamp: str) -> CallbackResult:
        """WeCom saving the callback URL: GET with an encrypted ``echostr``."""
        echo = str(secrets.randbelow(10**19 - 10**18) + 10**18)  # digits, as WeCom sends
        nonce = str(secrets.randbelow(10**9))
        encrypt = seal_message(self.key, echo.encode(), self.corp_id)
        params = {
            "msg_signature": callback_signature(self.token, timestamp, nonce, encrypt),
            "timestamp": timestamp,
            "nonce": nonce,
            "echostr": encrypt,
        }
        return self._send("GET", url, params, None, expected=echo.encode())

    def push(self, url: str, params: dict[str, str], body: bytes) -> CallbackResult:
        return self._send("POST", url, params, body)

    def open_reply(self, body: bytes, timestamp: str | None, nonce: str | None) -> str:
        """An encrypted passive reply's message, once its signature and receiver check out."""
        xml = body.decode("utf-8", errors="replace")
        fields = {
            tag: element(xml, tag) for tag in ("Encrypt", "MsgSignature", "TimeStamp", "Nonce")
        }
        missing = [tag for tag, value in fields.items() if not value]
        sent = f"(the push had timestamp {timestamp!r}, nonce {nonce!r})"
        _require(not missing, f"the reply lacks {', '.join(missing)} {sent}: {xml[:200]!r}")
        encrypt, signature, stamp, once = (str(v) for v in fields.values())
        expected = callback_signature(self.token, stamp, once, encrypt)
        _require(
            signature == expected,
            f"MsgSignature {signature} is not sha1(sorted(token, {stamp!r}, {once!r}, Encrypt))"
            f" = {expected} {sent}",
        )
        _, message, receive_id = open_message(self.key, encrypt)
        _require(receive_id == self.corp_id, f"encrypted for {receive_id!r}, not {self.corp_id!r}")
        return message.decode("utf-8")

    @staticmethod
    def _send(
        method: str,
        url: str,
        params: dict[str, str],
        body: bytes | None,
        expected: bytes | None = None,
    ) -> CallbackResult:
        started = time.monotonic()
        headers = {"Content-Type": "text/xml"} if body is not None else {}
        response = requests.request(
            method,
            url,
            params=params,
            data=body,
            headers=headers,
            timeout=CALLBACK_TIMEOUT,
            allow_redirects=False,
        )
        elapsed = time.monotonic() - started
        return CallbackResult(response.status_code, response.content, elapsed, expected)
