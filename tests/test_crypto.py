"""Specification of ``wechat_middleware.crypto`` (docs/wecom-and-qrconnect.md: Callback encryption).

The official vectors come from Tencent's WXBizMsgCrypt sample code (Sample.cs,
Sample.php, sample.go: "使用示例一/二"), token ``QDG6eK``, corp id
``wx5823bf96d3bd56c7``. Rejection cases build their ciphertexts with raw AES here, not
with the module, so a bug in the module's encryption cannot hide one in its decryption.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from wechat_middleware.crypto import (
    DECODE_BASE64_ERROR,
    DECRYPT_AES_ERROR,
    ENCRYPT_AES_ERROR,
    ILLEGAL_BUFFER_ERROR,
    MAX_ENCRYPTED_CHARS,
    MAX_XML_BYTES,
    PARSE_XML_ERROR,
    VALIDATE_RECEIVE_ID_ERROR,
    VALIDATE_SIGNATURE_ERROR,
    CryptoError,
    MessageCrypto,
    msg_signature,
    parse_xml,
)
from wechat_middleware.errors import ConfigError

from .support.vectors import (
    AES_KEY,
    CORP_ID,
    PUSH_BODY,
    PUSH_ENCRYPT,
    PUSH_NONCE,
    PUSH_PLAIN,
    PUSH_SIGNATURE,
    PUSH_TIMESTAMP,
    TOKEN,
    URL_ECHOSTR,
    URL_NONCE,
    URL_PLAIN,
    URL_SIGNATURE,
    URL_TIMESTAMP,
)

KEY = base64.b64decode(AES_KEY + "=")
RANDOM16 = bytes(range(16))


@pytest.fixture
def wecom() -> MessageCrypto:
    return MessageCrypto(TOKEN, AES_KEY, CORP_ID)


def raw_cbc() -> Cipher[modes.CBC]:
    """AES-256-CBC, IV = key[:16] (Callback encryption: key and IV)."""
    return Cipher(algorithms.AES(KEY), modes.CBC(KEY[:16]))


def raw_decrypt(encrypt: str) -> bytes:
    decryptor = raw_cbc().decryptor()
    return decryptor.update(base64.b64decode(encrypt)) + decryptor.finalize()


def seal(padded: bytes) -> str:
    """Encrypt already-padded plaintext (a multiple of 16 bytes) the way WeCom does."""
    encryptor = raw_cbc().encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()


def layout(msg: bytes, receive_id: bytes = CORP_ID.encode(), length: int | None = None) -> bytes:
    """random(16) || uint32-BE length || msg || receive_id, unpadded."""
    size = len(msg) if length is None else length
    return RANDOM16 + struct.pack(">I", size) + msg + receive_id


def pad32(data: bytes) -> bytes:
    pad = 32 - len(data) % 32
    return data + bytes([pad]) * pad


def url_check(crypto: MessageCrypto, echostr: str) -> str:
    """verify_url with a valid signature, so the check under test is the one after it."""
    signature = msg_signature(TOKEN, URL_TIMESTAMP, URL_NONCE, echostr)
    return crypto.verify_url(signature, URL_TIMESTAMP, URL_NONCE, echostr)


def rejects(errcode: int, crypto: MessageCrypto, echostr: str) -> CryptoError:
    with pytest.raises(CryptoError) as caught:
        url_check(crypto, echostr)
    assert caught.value.errcode == errcode, caught.value
    return caught.value


# --- Signature -------------------------------------------------------------------


def test_msg_signature_is_sha1_of_the_four_strings_sorted() -> None:
    # Callback encryption: msg_signature = sha1(sort(token, timestamp, nonce, encrypt)).
    parts = sorted([TOKEN, PUSH_TIMESTAMP, PUSH_NONCE, PUSH_ENCRYPT])
    expected = hashlib.sha1("".join(parts).encode()).hexdigest()
    assert msg_signature(TOKEN, PUSH_TIMESTAMP, PUSH_NONCE, PUSH_ENCRYPT) == expected
    assert expected == PUSH_SIGNATURE


def test_msg_signature_matches_the_official_url_check_vector() -> None:
    # Callback encryption, example 1: the GET signature covers the echostr.
    assert msg_signature(TOKEN, URL_TIMESTAMP, URL_NONCE, URL_ECHOSTR) == URL_SIGNATURE


def test_msg_signature_refuses_text_that_cannot_be_utf8() -> None:
    # Callback encryption: the signature is over UTF-8 bytes; a lone surrogate has none.
    with pytest.raises(CryptoError):
        msg_signature(TOKEN, "1", "\ud800", "x")


# --- Official vectors ------------------------------------------------------------


def test_url_check_decrypts_wecoms_official_echostr(wecom: MessageCrypto) -> None:
    # Callback encryption, example 1: VerifyURL returns 1616140317555161061.
    assert wecom.verify_url(URL_SIGNATURE, URL_TIMESTAMP, URL_NONCE, URL_ECHOSTR) == URL_PLAIN


def test_push_decrypts_wecoms_official_message(wecom: MessageCrypto) -> None:
    # Callback encryption, example 2: DecryptMsg yields the "hello" text message.
    plain = wecom.decrypt(PUSH_SIGNATURE, PUSH_TIMESTAMP, PUSH_NONCE, PUSH_BODY)
    assert plain == PUSH_PLAIN
    assert parse_xml(plain) == {
        "ToUserName": CORP_ID,
        "FromUserName": "mycreate",
        "CreateTime": "1409659813",
        "MsgType": "text",
        "Content": "hello",
        "MsgId": "4561255354251345929",
        "AgentID": "218",
    }


def test_official_push_ciphertext_has_the_documented_layout() -> None:
    # Callback encryption: 352 bytes of ciphertext, pad 30 (to 32 bytes), length 284,
    # then the corp id as receive id.
    assert len(base64.b64decode(PUSH_ENCRYPT)) == 352
    plain = raw_decrypt(PUSH_ENCRYPT)
    assert plain[-1] == 30 and plain[-30:] == bytes([30]) * 30
    (length,) = struct.unpack(">I", plain[16:20])
    assert length == 284 == len(PUSH_PLAIN)
    assert plain[20 : 20 + length] == PUSH_PLAIN
    assert plain[20 + length : -30] == CORP_ID.encode()


# --- Encryption ------------------------------------------------------------------


def test_encrypt_with_fixed_random_is_deterministic_and_round_trips(
    wecom: MessageCrypto,
) -> None:
    # Callback encryption: the passive-reply envelope; only random(16) varies.
    reply = "<xml><Content><![CDATA[你好]]></Content></xml>"
    first = wecom.encrypt(reply, 1409659813, "1372623149", random16=RANDOM16)
    assert first == wecom.encrypt(reply.encode(), "1409659813", "1372623149", RANDOM16)
    fields = parse_xml(first)
    assert list(fields) == ["Encrypt", "MsgSignature", "TimeStamp", "Nonce"]
    assert fields["TimeStamp"] == "1409659813" and fields["Nonce"] == "1372623149"
    assert fields["MsgSignature"] == msg_signature(
        TOKEN, "1409659813", "1372623149", fields["Encrypt"]
    )
    assert raw_decrypt(fields["Encrypt"]) == pad32(layout(reply.encode()))
    body = f"<xml><Encrypt><![CDATA[{fields['Encrypt']}]]></Encrypt></xml>".encode()
    plain = wecom.decrypt(fields["MsgSignature"], "1409659813", "1372623149", body)
    assert plain == reply.encode()


def test_encrypt_envelope_has_tencents_element_order(wecom: MessageCrypto) -> None:
    # Callback encryption: <xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>.
    out = wecom.encrypt(b"<xml/>", "1", "n", RANDOM16)
    assert out.startswith(b"<xml><Encrypt><![CDATA[")
    assert b"]]></Encrypt><MsgSignature><![CDATA[" in out
    assert out.endswith(
        b"]]></MsgSignature><TimeStamp>1</TimeStamp><Nonce><![CDATA[n]]></Nonce></xml>"
    )


@pytest.mark.parametrize("size", range(0, 70))
def test_encrypt_pads_to_whole_32_byte_blocks(wecom: MessageCrypto, size: int) -> None:
    # Callback encryption: PKCS#7 to 32 bytes, pad value 1..32 (32 when aligned).
    encrypt = parse_xml(wecom.encrypt(b"x" * size, "1", "n", RANDOM16))["Encrypt"]
    plain = raw_decrypt(encrypt)
    unpadded = 16 + 4 + size + len(CORP_ID)
    assert len(plain) % 32 == 0
    assert plain[-1] == 32 - unpadded % 32
    assert 1 <= plain[-1] <= 32


def test_encrypt_draws_a_fresh_random_prefix_by_default(wecom: MessageCrypto) -> None:
    # Callback encryption: random(16) is new for every message.
    assert wecom.encrypt(b"same", "1", "n") != wecom.encrypt(b"same", "1", "n")


@pytest.mark.parametrize(
    ("timestamp", "nonce", "random16"),
    [
        ("1<x>", "n", RANDOM16),
        ("", "n", RANDOM16),
        ("1", "]]><evil/>", RANDOM16),
        ("1", "", RANDOM16),
        ("1", "n", b"short"),
        ("1", "n", b""),
    ],
)
def test_encrypt_refuses_values_that_would_break_the_envelope(
    wecom: MessageCrypto, timestamp: str, nonce: str, random16: bytes
) -> None:
    # Callback encryption: timestamp and nonce go into the reply XML verbatim.
    with pytest.raises(CryptoError) as caught:
        wecom.encrypt(b"<xml/>", timestamp, nonce, random16)
    assert caught.value.errcode == ENCRYPT_AES_ERROR


def test_encrypt_refuses_unencodable_and_oversize_replies(wecom: MessageCrypto) -> None:
    # Callback encryption: the reply is UTF-8; input sizes are bounded.
    for reply in ("\udc80", b"x" * (128 * 1024 + 1)):
        with pytest.raises(CryptoError) as caught:
            wecom.encrypt(reply, "1", "n")
        assert caught.value.errcode == ENCRYPT_AES_ERROR


# --- Rejections ------------------------------------------------------------------


def test_forged_signature_is_refused_before_decrypting(wecom: MessageCrypto) -> None:
    # Callback encryption: the signature is checked first (no padding oracle).
    forged = "0" * 40
    with pytest.raises(CryptoError) as caught:
        wecom.verify_url(forged, URL_TIMESTAMP, URL_NONCE, "not base64 at all")
    assert caught.value.errcode == VALIDATE_SIGNATURE_ERROR
    with pytest.raises(CryptoError) as caught:
        wecom.decrypt(forged, PUSH_TIMESTAMP, PUSH_NONCE, PUSH_BODY)
    assert caught.value.errcode == VALIDATE_SIGNATURE_ERROR


@pytest.mark.parametrize("field", ["timestamp", "nonce", "token"])
def test_signature_binds_timestamp_nonce_and_token(field: str) -> None:
    # Callback encryption: all four strings are signed.
    crypto = MessageCrypto("other" if field == "token" else TOKEN, AES_KEY, CORP_ID)
    timestamp = "1409659590" if field == "timestamp" else URL_TIMESTAMP
    nonce = "263014781" if field == "nonce" else URL_NONCE
    with pytest.raises(CryptoError) as caught:
        crypto.verify_url(URL_SIGNATURE, timestamp, nonce, URL_ECHOSTR)
    assert caught.value.errcode == VALIDATE_SIGNATURE_ERROR


def test_signature_comparison_ignores_hex_case(wecom: MessageCrypto) -> None:
    # Callback encryption: the signature is a hex digest; case carries no meaning.
    upper = URL_SIGNATURE.upper()
    assert wecom.verify_url(upper, URL_TIMESTAMP, URL_NONCE, URL_ECHOSTR) == URL_PLAIN


@pytest.mark.parametrize(
    "echostr", ["P9nA!zCz", "abc", "P9nA zCz", "\uff21\uff22\uff23\uff24", "YWJj\n"]
)
def test_bad_base64_is_refused(wecom: MessageCrypto, echostr: str) -> None:
    # Callback encryption: the ciphertext is standard base64; anything else is refused.
    rejects(DECODE_BASE64_ERROR, wecom, echostr)


def test_message_for_another_receive_id_is_refused() -> None:
    # Callback encryption: the plaintext ends with the receive id (corp id / app id).
    other = MessageCrypto(TOKEN, AES_KEY, "wx0000000000000000")
    with pytest.raises(CryptoError) as caught:
        other.decrypt(PUSH_SIGNATURE, PUSH_TIMESTAMP, PUSH_NONCE, PUSH_BODY)
    assert caught.value.errcode == VALIDATE_RECEIVE_ID_ERROR
    rejects(VALIDATE_RECEIVE_ID_ERROR, other, URL_ECHOSTR)


@pytest.mark.parametrize("size", [1, 15, 17, 40])
def test_ciphertext_that_is_not_whole_aes_blocks_is_refused(
    wecom: MessageCrypto, size: int
) -> None:
    # Callback encryption: AES-CBC ciphertext is a multiple of 16 bytes.
    rejects(DECRYPT_AES_ERROR, wecom, base64.b64encode(b"\0" * size).decode())


def test_empty_ciphertext_is_refused(wecom: MessageCrypto) -> None:
    # Callback encryption: a message has at least one block.
    rejects(DECRYPT_AES_ERROR, wecom, "")


def test_truncated_official_ciphertext_is_refused(wecom: MessageCrypto) -> None:
    # Callback encryption: dropping the last block leaves no valid padding.
    truncated = base64.b64encode(base64.b64decode(PUSH_ENCRYPT)[:-16]).decode()
    rejects(DECRYPT_AES_ERROR, wecom, truncated)


@pytest.mark.parametrize(
    "tail",
    [
        b"\x00" * 32,  # pad value 0
        b"\x21" * 32,  # pad value 33 > 32
        b"\x05" * 27 + b"\x05\x05\x04\x05\x05",  # inconsistent pad bytes
        b"\x03" * 31 + b"\x20",  # claims 32 bytes of padding, 31 of which disagree
    ],
    ids=["pad-0", "pad-33", "inconsistent", "short-run"],
)
def test_bad_padding_is_refused(wecom: MessageCrypto, tail: bytes) -> None:
    # Callback encryption: PKCS#7 to 32 bytes; pad value 1..32, all pad bytes equal.
    body = layout(b"<xml/>")
    padded = body + b"x" * (-len(body) % 32) + tail
    rejects(DECRYPT_AES_ERROR, wecom, seal(padded))


def test_pad_larger_than_a_one_block_plaintext_is_refused(wecom: MessageCrypto) -> None:
    # Callback encryption: the pad cannot be longer than the plaintext it pads.
    rejects(DECRYPT_AES_ERROR, wecom, seal(b"\x20" * 16))


def test_length_field_beyond_the_data_is_refused(wecom: MessageCrypto) -> None:
    # Callback encryption: uint32-BE length must fit inside the plaintext.
    rejects(ILLEGAL_BUFFER_ERROR, wecom, seal(pad32(layout(b"<xml/>", length=6 + 19))))
    rejects(ILLEGAL_BUFFER_ERROR, wecom, seal(pad32(layout(b"", length=0xFFFFFFFF))))


def test_plaintext_shorter_than_its_header_is_refused(wecom: MessageCrypto) -> None:
    # Callback encryption: random(16) and the 4-byte length come first.
    rejects(ILLEGAL_BUFFER_ERROR, wecom, seal(pad32(b"0123456789")))


def test_echostr_that_is_not_utf8_is_refused(wecom: MessageCrypto) -> None:
    # Callback encryption: the URL check echoes text back.
    rejects(ILLEGAL_BUFFER_ERROR, wecom, seal(pad32(layout(b"\xff\xfe"))))


def test_oversize_ciphertext_is_refused_without_decoding(wecom: MessageCrypto) -> None:
    # Callback encryption: input sizes are bounded (a few hundred KB).
    rejects(ILLEGAL_BUFFER_ERROR, wecom, "A" * (MAX_ENCRYPTED_CHARS + 4))


@pytest.mark.parametrize(
    "body",
    [
        b"<xml><ToUserName>x</ToUserName></xml>",
        b"not xml",
        b"",
        b"<xml><Encrypt>" + b"A" * MAX_XML_BYTES + b"</Encrypt></xml>",
    ],
    ids=["no-encrypt", "not-xml", "empty", "oversize"],
)
def test_push_body_without_a_readable_encrypt_is_refused(wecom: MessageCrypto, body: bytes) -> None:
    # Callback encryption: the POST body is <xml> with an <Encrypt> element.
    with pytest.raises(CryptoError) as caught:
        wecom.decrypt(PUSH_SIGNATURE, PUSH_TIMESTAMP, PUSH_NONCE, body)
    assert caught.value.errcode == PARSE_XML_ERROR


def test_plain_encrypt_element_without_cdata_is_accepted(wecom: MessageCrypto) -> None:
    # Callback encryption: Official Account safe mode may send Encrypt as plain text.
    body = f"<xml><Encrypt>{PUSH_ENCRYPT}</Encrypt></xml>".encode()
    assert wecom.decrypt(PUSH_SIGNATURE, PUSH_TIMESTAMP, PUSH_NONCE, body) == PUSH_PLAIN


# --- Configuration ---------------------------------------------------------------


@pytest.mark.parametrize(
    "aes_key",
    [AES_KEY[:-1], AES_KEY + "A", AES_KEY[:-1] + "=", AES_KEY[:-1] + "-", "", "é" * 43],
    ids=["42-chars", "44-chars", "padding", "url-safe", "empty", "non-ascii"],
)
def test_malformed_encoding_aes_key_is_a_config_error(aes_key: str) -> None:
    # Callback encryption: EncodingAESKey is 43 base64 characters (32 bytes).
    with pytest.raises(ConfigError, match="EncodingAESKey"):
        MessageCrypto(TOKEN, aes_key, CORP_ID)


def test_empty_token_is_a_config_error() -> None:
    # Callback encryption: the token keys every signature.
    with pytest.raises(ConfigError, match="Token"):
        MessageCrypto("", AES_KEY, CORP_ID)


def test_repr_hides_the_token_and_key(wecom: MessageCrypto) -> None:
    # SECURITY.md: secrets never reach logs.
    assert TOKEN not in repr(wecom) and AES_KEY not in repr(wecom)
    assert CORP_ID in repr(wecom)


def test_missing_cryptography_fails_on_construction_not_import() -> None:
    # Callback encryption: the cipher needs the optional 'crypto' extra.
    script = (
        "import sys\n"
        "sys.modules['cryptography'] = None\n"
        "import wechat_middleware, wechat_middleware.crypto as c\n"
        "try:\n"
        f"    c.MessageCrypto({TOKEN!r}, {AES_KEY!r}, {CORP_ID!r})\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert "pip install 'cryptography>=41'" in result.stdout


# --- parse_xml -------------------------------------------------------------------


def test_parse_xml_reads_cdata_text_and_references() -> None:
    # Callback encryption: messages are flat XML, text in CDATA or escaped.
    xml = (
        '<?xml version="1.0" encoding="utf-8"?>\n<xml>'
        "<Content><![CDATA[<b>&amp; ]] <!DOCTYPE x>]]></Content>"
        "<Title>a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos; &#20320;&#x597D;</Title>"
        "<Empty/><Blank></Blank></xml>"
    )
    assert parse_xml(xml.encode()) == {
        "Content": "<b>&amp; ]] <!DOCTYPE x>",
        "Title": "a <b> & \"c\" 'd' 你好",
        "Empty": "",
        "Blank": "",
    }


def test_parse_xml_flattens_nested_leaves_and_keeps_the_first_duplicate() -> None:
    # Callback encryption: event XML nests a few fields (ScanCodeInfo/ScanResult).
    xml = (
        b"<xml><MsgType>event</MsgType><ScanCodeInfo><ScanType>qrcode</ScanType>"
        b"<ScanResult>1</ScanResult></ScanCodeInfo><MsgType>forged</MsgType></xml>"
    )
    assert parse_xml(xml) == {"MsgType": "event", "ScanType": "qrcode", "ScanResult": "1"}


@pytest.mark.parametrize(
    "xml",
    [
        b'<!DOCTYPE xml [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><xml><C>&b;</C></xml>',
        b'<xml><!ENTITY a "x"><C>1</C></xml>',
        b"<xml><!-- hi --><C>1</C></xml>",
        b"<xml><?pi x?><C>1</C></xml>",
        b'<xml><C a="1">1</C></xml>',
        b"<xml><C>&foo;</C></xml>",
        b"<xml><C>a & b</C></xml>",
        b"<xml><C>&#0;</C></xml>",
        b"<xml><C>&#xD800;</C></xml>",
        b"<xml><C>&#x110000;</C></xml>",
        b"<xml><C>1</D></xml>",
        b"<xml><C>1</C>",
        b"<xml><C><![CDATA[1</C></xml>",
        b"<root><C>1</C></root>",
        b"<xml></xml><xml></xml>",
        b"<xml></xml>trailing",
        b"</xml>",
        b"<xml><C>\xff</C></xml>",
        b"",
        b"<xml>" + b" " * MAX_XML_BYTES + b"</xml>",
    ],
)
def test_parse_xml_refuses_dtds_and_anything_but_flat_elements(xml: bytes) -> None:
    # Callback encryption: no DTD, no entities beyond XML's five, bounded size.
    with pytest.raises(CryptoError) as caught:
        parse_xml(xml)
    assert caught.value.errcode == PARSE_XML_ERROR


# --- Fuzzing ---------------------------------------------------------------------


@given(signature=st.text(), timestamp=st.text(), nonce=st.text(), echostr=st.text())
def test_url_check_only_ever_raises_crypto_error(
    signature: str, timestamp: str, nonce: str, echostr: str
) -> None:
    # Callback encryption: every malformed request is one typed rejection.
    crypto = MessageCrypto(TOKEN, AES_KEY, CORP_ID)
    with pytest.raises(CryptoError):
        crypto.verify_url(signature, timestamp, nonce, echostr)


@given(echostr=st.text() | st.binary().map(lambda b: base64.b64encode(b).decode()))
def test_signed_garbage_only_ever_raises_crypto_error(echostr: str) -> None:
    # Callback encryption: past a valid signature, every decoding step still only
    # rejects with CryptoError (base64, blocks, padding, length, receive id).
    crypto = MessageCrypto(TOKEN, AES_KEY, CORP_ID)
    try:
        signature = msg_signature(TOKEN, URL_TIMESTAMP, URL_NONCE, echostr)
    except CryptoError:
        return
    with pytest.raises(CryptoError):
        crypto.verify_url(signature, URL_TIMESTAMP, URL_NONCE, echostr)


@given(
    blocks=st.integers(min_value=1, max_value=12).flatmap(
        lambda n: st.binary(min_size=16 * n, max_size=16 * n)
    )
)
def test_signed_random_blocks_only_ever_raise_crypto_error(blocks: bytes) -> None:
    # Callback encryption: whole AES blocks reach the padding and layout checks.
    crypto = MessageCrypto(TOKEN, AES_KEY, CORP_ID)
    with pytest.raises(CryptoError):
        url_check(crypto, base64.b64encode(blocks).decode())


@given(body=st.binary(max_size=2048) | st.text(max_size=2048).map(str.encode))
def test_push_decrypt_only_ever_raises_crypto_error(body: bytes) -> None:
    # Callback encryption: arbitrary POST bodies are rejected with one type.
    crypto = MessageCrypto(TOKEN, AES_KEY, CORP_ID)
    with pytest.raises(CryptoError):
        crypto.decrypt(PUSH_SIGNATURE, PUSH_TIMESTAMP, PUSH_NONCE, body)


@given(data=st.binary(max_size=4096) | st.text(max_size=4096))
def test_parse_xml_returns_a_dict_or_raises_crypto_error(data: bytes | str) -> None:
    # Callback encryption: the XML reader either parses or rejects with one type.
    try:
        result = parse_xml(data)
    except CryptoError:
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in result.items())


@given(
    leaves=st.dictionaries(
        st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True).filter(lambda s: s != "xml"),
        st.text().filter(lambda s: "]]>" not in s),
        max_size=8,
    )
)
def test_parse_xml_reads_back_any_flat_cdata_message(leaves: dict[str, str]) -> None:
    # Callback encryption: WeChat wraps every text field in CDATA.
    xml = "<xml>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in leaves.items()) + "</xml>"
    try:
        encoded = xml.encode()
    except UnicodeEncodeError:
        return
    assert parse_xml(encoded) == leaves


@settings(max_examples=50)
@given(reply=st.binary(max_size=2000), random16=st.binary(min_size=16, max_size=16))
def test_encrypt_then_decrypt_returns_the_reply(reply: bytes, random16: bytes) -> None:
    # Callback encryption: encryption and decryption are inverse for any message.
    crypto = MessageCrypto(TOKEN, AES_KEY, CORP_ID)
    fields = parse_xml(crypto.encrypt(reply, "1700000000", "abc", random16))
    body = f"<xml><Encrypt>{fields['Encrypt']}</Encrypt></xml>".encode()
    assert crypto.decrypt(fields["MsgSignature"], "1700000000", "abc", body) == reply


def test_huge_inputs_are_refused_quickly(wecom: MessageCrypto) -> None:
    # Callback encryption: input sizes are bounded, so a hostile request costs little.
    huge = "A" * (10 * 1024 * 1024)
    for call in (
        lambda: url_check(wecom, huge),
        lambda: wecom.decrypt(PUSH_SIGNATURE, PUSH_TIMESTAMP, PUSH_NONCE, huge.encode()),
        lambda: parse_xml(huge),
    ):
        with pytest.raises(CryptoError):
            call()
