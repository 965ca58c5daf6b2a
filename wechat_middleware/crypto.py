"""The callback cipher shared by WeCom callbacks and Official Account safe mode.

Tencent's WXBizMsgCrypt scheme: the plaintext ``random(16) || uint32-BE length ||
message || receive_id`` is padded PKCS#7-style to 32 bytes, encrypted with AES-256-CBC
(key = the decoded EncodingAESKey, IV = its first 16 bytes) and base64-encoded; a
SHA-1 over the sorted token, timestamp, nonce and ciphertext authenticates it.

Pure by design: no I/O, the caller passes timestamps and nonces, randomness can be
injected, so every byte is reproducible in tests. The signature is always checked
before anything is decrypted: CBC without a MAC would otherwise be a padding oracle.
The AES itself comes from ``cryptography``, imported only when a cipher is built so
the package works without the ``crypto`` extra.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import ConfigError, CryptoError
from .signing import server_signature

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers import Cipher, modes

__all__ = ["CryptoError", "MessageCrypto", "msg_signature", "parse_xml"]

# WXBizMsgCrypt's error codes (WeCom "加解密方案说明"); -40004 (bad key) is a ConfigError.
VALIDATE_SIGNATURE_ERROR = -40001
PARSE_XML_ERROR = -40002
COMPUTE_SIGNATURE_ERROR = -40003
VALIDATE_RECEIVE_ID_ERROR = -40005
ENCRYPT_AES_ERROR = -40006
DECRYPT_AES_ERROR = -40007
ILLEGAL_BUFFER_ERROR = -40008
DECODE_BASE64_ERROR = -40010

# Bounds on untrusted input, far above anything WeChat sends (a few KB), so a hostile
# request costs little work and memory before it is refused.
MAX_ENCRYPTED_CHARS = 256 * 1024
MAX_XML_BYTES = 512 * 1024
MAX_REPLY_BYTES = 128 * 1024
BLOCK = 32  # WXBizMsgCrypt pads to 32 bytes, not AES's 16

_AES_KEY = re.compile(r"[A-Za-z0-9+/]{43}")
_TIMESTAMP = re.compile(r"[0-9]{1,20}")
_NONCE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def msg_signature(token: str, timestamp: str | int, nonce: str, encrypt: str) -> str:
    """The server check's signature with the ciphertext as a fourth string."""
    try:
        return server_signature(token, str(timestamp), nonce, encrypt)
    except UnicodeEncodeError as exc:  # a lone surrogate: no signature exists for it
        raise CryptoError(COMPUTE_SIGNATURE_ERROR, "cannot sign text that is not UTF-8") from exc


def _cbc(key: bytes) -> Cipher[modes.CBC]:
    """AES-256-CBC with WXBizMsgCrypt's IV (the key's first 16 bytes), or a clear ImportError."""
    try:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    except ImportError as exc:
        raise ImportError(
            "AES callback encryption needs 'cryptography' (the [crypto] extra): "
            "pip install 'cryptography>=41'"
        ) from exc
    return Cipher(algorithms.AES(key), modes.CBC(key[:16]))


@dataclass(frozen=True)
class MessageCrypto:
    """One app's callback cipher: verify, decrypt and encrypt WXBizMsgCrypt messages.

    ``receive_id`` is the corp id for WeCom self-built apps, the suite id for WeCom
    third-party events, and the app id for Official Account safe mode; a message
    sealed for any other receiver is refused.
    """

    token: str = field(repr=False)
    encoding_aes_key: str = field(repr=False)
    receive_id: str
    _key: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Validate the settings now, so a typo fails at startup, not on the first push."""
        if not self.token:
            raise ConfigError("the callback Token must not be empty")
        if not _AES_KEY.fullmatch(self.encoding_aes_key):
            raise ConfigError("the EncodingAESKey must be 43 characters of A-Z, a-z, 0-9, + and /")
        key = base64.b64decode(self.encoding_aes_key + "=")
        _cbc(key)  # fail here, not mid-request, when the extra is missing
        object.__setattr__(self, "_key", key)

    def verify_url(self, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """WeCom's GET URL check: the decrypted ``echostr``, to be echoed back verbatim."""
        self._check_signature(msg_signature, timestamp, nonce, echostr)
        try:
            return self._open(echostr).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CryptoError(ILLEGAL_BUFFER_ERROR, "the echostr is not UTF-8 text") from exc

    def decrypt(self, msg_signature: str, timestamp: str, nonce: str, xml_body: bytes) -> bytes:
        """The plaintext XML of a POSTed callback; the signature covers its ``<Encrypt>``."""
        encrypt = parse_xml(xml_body).get("Encrypt")
        if encrypt is None:
            raise CryptoError(PARSE_XML_ERROR, "the callback body has no <Encrypt> element")
        self._check_signature(msg_signature, timestamp, nonce, encrypt)
        return self._open(encrypt)

    def encrypt(
        self,
        reply_xml: bytes | str,
        timestamp: str | int,
        nonce: str,
        random16: bytes | None = None,
    ) -> bytes:
        """The encrypted, signed envelope of a passive reply.

        ``random16`` defaults to fresh CSPRNG bytes; tests pass their own to get
        reproducible output. Timestamp and nonce go into the XML unescaped, so they are
        held to digits and ``[A-Za-z0-9_-]``.
        """
        ts = str(timestamp)
        if not _TIMESTAMP.fullmatch(ts) or not _NONCE.fullmatch(nonce):
            raise CryptoError(ENCRYPT_AES_ERROR, "timestamp must be digits, nonce [A-Za-z0-9_-]")
        prefix = secrets.token_bytes(16) if random16 is None else random16
        if len(prefix) != 16:
            raise CryptoError(ENCRYPT_AES_ERROR, "random16 must be exactly 16 bytes")
        try:
            msg = reply_xml.encode("utf-8") if isinstance(reply_xml, str) else bytes(reply_xml)
        except UnicodeEncodeError as exc:
            raise CryptoError(ENCRYPT_AES_ERROR, "the reply is not UTF-8 text") from exc
        if len(msg) > MAX_REPLY_BYTES:
            raise CryptoError(ENCRYPT_AES_ERROR, f"the reply exceeds {MAX_REPLY_BYTES} bytes")
        plain = prefix + struct.pack(">I", len(msg)) + msg + self.receive_id.encode("utf-8")
        pad = BLOCK - len(plain) % BLOCK  # 1..32: a full block when already aligned
        encryptor = _cbc(self._key).encryptor()
        sealed = encryptor.update(plain + bytes([pad]) * pad) + encryptor.finalize()
        encrypt = base64.b64encode(sealed).decode("ascii")
        signature = msg_signature(self.token, ts, nonce, encrypt)
        return (
            f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt>"
            f"<MsgSignature><![CDATA[{signature}]]></MsgSignature>"
            f"<TimeStamp>{ts}</TimeStamp><Nonce><![CDATA[{nonce}]]></Nonce></xml>"
        ).encode("ascii")

    def _check_signature(self, given: str, timestamp: str, nonce: str, encrypt: str) -> None:
        """Constant-time check that WeChat, holding our token, signed ``encrypt``."""
        try:
            expected = msg_signature(self.token, timestamp, nonce, encrypt).encode("ascii")
            matches = hmac.compare_digest(expected, given.lower().encode("utf-8"))
        except (CryptoError, UnicodeEncodeError):
            matches = False
        if not matches:
            raise CryptoError(VALIDATE_SIGNATURE_ERROR, "msg_signature does not match")

    def _open(self, encrypt: str) -> bytes:
        """Decrypt an authenticated ciphertext and return its message, checking every field."""
        if len(encrypt) > MAX_ENCRYPTED_CHARS:
            raise CryptoError(ILLEGAL_BUFFER_ERROR, "the ciphertext is too large")
        try:
            sealed = base64.b64decode(encrypt, validate=True)
        except ValueError as exc:  # binascii.Error, or non-ASCII text
            raise CryptoError(DECODE_BASE64_ERROR, "the ciphertext is not valid base64") from exc
        if not sealed or len(sealed) % 16:
            raise CryptoError(DECRYPT_AES_ERROR, "the ciphertext is not whole AES blocks")
        decryptor = _cbc(self._key).decryptor()
        plain = decryptor.update(sealed) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= min(BLOCK, len(plain)) or plain[-pad:] != bytes([pad]) * pad:
            raise CryptoError(DECRYPT_AES_ERROR, "the padding is invalid")
        content = plain[:-pad]
        if len(content) < 20:
            raise CryptoError(ILLEGAL_BUFFER_ERROR, "the plaintext is shorter than its header")
        (length,) = struct.unpack_from(">I", content, 16)
        if length > len(content) - 20:
            raise CryptoError(ILLEGAL_BUFFER_ERROR, "the length field runs past the data")
        received_by = content[20 + length :]
        if not hmac.compare_digest(received_by, self.receive_id.encode("utf-8")):
            raise CryptoError(VALIDATE_RECEIVE_ID_ERROR, "the message is for another receive id")
        return content[20 : 20 + length]


# parse_xml: a tokenizer for WeChat's flat message XML. No DTD support at all, so
# entity-expansion and external-entity attacks have nothing to work with.
_PROLOG = re.compile(r"\ufeff?\s*(?:<\?xml[^<>?]*\?>)?")
_TOKEN = re.compile(
    r"<!\[CDATA\[(?P<cdata>.*?)\]\]>"
    r"|<(?P<close>/?)(?P<name>[A-Za-z_][\w.-]*)\s*(?P<empty>/?)>"
    r"|(?P<text>[^<]+)",
    re.DOTALL,
)
_REF = re.compile(r"&(?:#([0-9]{1,7})|#x([0-9A-Fa-f]{1,6})|(lt|gt|amp|quot|apos));|&")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}


def _unescape(match: re.Match[str]) -> str:
    """One XML reference: the five predefined entities and character references only."""
    decimal, hexadecimal, named = match.groups()
    if named:
        return _NAMED[named]
    if decimal is None and hexadecimal is None:
        raise CryptoError(PARSE_XML_ERROR, "a bare '&' or an undefined entity in the XML")
    code = int(decimal) if decimal is not None else int(hexadecimal, 16)
    if not 0 < code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        raise CryptoError(PARSE_XML_ERROR, "a character reference to an invalid code point")
    return chr(code)


def parse_xml(data: bytes | str) -> dict[str, str]:
    """The leaf elements of a ``<xml>`` message as ``{name: text}``.

    Nested leaves (``ScanCodeInfo/ScanResult``) are flattened; when a name repeats the
    first wins, so the top-level fields WeChat puts first cannot be overridden later.
    DOCTYPE, ENTITY, comments, processing instructions and attributes are refused.
    """
    if len(data) > MAX_XML_BYTES:
        raise CryptoError(PARSE_XML_ERROR, f"the XML exceeds {MAX_XML_BYTES} bytes")
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise CryptoError(PARSE_XML_ERROR, "the XML is not UTF-8") from exc
    prolog = _PROLOG.match(text)
    pos = prolog.end() if prolog else 0
    values: dict[str, str] = {}
    stack: list[str] = []
    chunks: list[str] = []
    leaf = seen_root = False
    while pos < len(text):
        token = _TOKEN.match(text, pos)
        if token is None:
            raise CryptoError(PARSE_XML_ERROR, f"unsupported markup at offset {pos}")
        pos = token.end()
        name = token["name"]
        if name is not None and not token["close"]:
            if not stack and (seen_root or name != "xml"):
                raise CryptoError(PARSE_XML_ERROR, "the document must be one <xml> element")
            seen_root = True
            if token["empty"]:
                if stack:
                    values.setdefault(name, "")
                leaf = False
            else:
                stack.append(name)
                chunks, leaf = [], True
        elif name is not None:
            if token["empty"] or not stack or stack.pop() != name:
                raise CryptoError(PARSE_XML_ERROR, f"mismatched closing tag </{name}>")
            if leaf and stack:
                values.setdefault(name, "".join(chunks))
            chunks, leaf = [], False
        elif not stack:
            if token["cdata"] is not None or not token["text"].isspace():
                raise CryptoError(PARSE_XML_ERROR, "content outside the <xml> element")
        elif token["cdata"] is not None:
            chunks.append(token["cdata"])
        else:
            chunks.append(_REF.sub(_unescape, token["text"]))
    if stack or not seen_root:
        raise CryptoError(PARSE_XML_ERROR, "the XML ends before its <xml> element closes")
    return values
