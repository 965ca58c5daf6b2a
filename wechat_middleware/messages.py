"""``request.wechat.message``: a pushed message, decrypted, and the reply to it.

WeCom always encrypts its callbacks; an Official Account does in safe mode
(``encrypt_type=aes``). The middleware checks the signature and decrypts before the app
runs, so the app reads the same plain XML either way, and :meth:`Message.reply` seals
the answer the way the push came (docs/wecom-and-qrconnect.md section 1.6).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .crypto import parse_xml
from .errors import CryptoError

if TYPE_CHECKING:
    from .crypto import MessageCrypto

#: At most this much of a push is read: WeChat's messages are a few KB, and a larger
#: encrypted body is refused before it is decoded.
MAX_MESSAGE_BYTES = 256 * 1024
REPLY_CONTENT_TYPE = "application/xml; charset=utf-8"


@dataclass(frozen=True)
class Message:
    """One pushed message: ``raw`` is its XML as bytes (decrypted if it came
    encrypted), ``fields`` its top-level elements (``message["MsgType"]``)."""

    raw: bytes
    fields: Mapping[str, str]
    encrypted: bool = False
    crypto: MessageCrypto | None = field(default=None, repr=False, compare=False)

    @classmethod
    def read(cls, raw: bytes, crypto: MessageCrypto | None = None) -> Message:
        """The message of ``raw`` XML; ``fields`` is empty if it is not WeChat's flat XML
        (the app still has ``raw``)."""
        try:
            fields = parse_xml(raw)
        except CryptoError:
            fields = {}
        return cls(raw, fields, crypto is not None, crypto)

    def __getitem__(self, name: str) -> str:
        return self.fields[name]

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.fields.get(name, default)

    def reply(
        self, xml: str | bytes, *, timestamp: int | None = None, nonce: str | None = None
    ) -> bytes:
        """The body of a passive reply to this message: ``xml`` sealed in the encrypted
        envelope when the push was encrypted, else ``xml`` as UTF-8. Send it with
        ``Content-Type: application/xml`` (:data:`REPLY_CONTENT_TYPE`)."""
        if self.crypto is None:
            return xml.encode("utf-8") if isinstance(xml, str) else bytes(xml)
        stamp = int(time.time()) if timestamp is None else timestamp
        return self.crypto.encrypt(xml, stamp, nonce or str(secrets.randbelow(10**10)))
