"""WeChat's protocol facts the library acts on, each defined once.

Limits, names and lifetimes from docs/wechat-protocol.md (the section is given beside
each). Rules that are ours rather than WeChat's live where they are applied, not here.
The fake WeChat in ``testing/`` keeps its own copy of WeChat's rules on purpose: a fact
written wrong here must not be agreed with by the server that tests it.
"""

from __future__ import annotations

import re

# OAuth scopes of web authorisation (section 5.1).
SCOPE_BASE = "snsapi_base"
SCOPE_USERINFO = "snsapi_userinfo"
SCOPES = (SCOPE_BASE, SCOPE_USERINFO)
# A website app's QR login (section 9): its own scope, its own app id and secret.
SCOPE_LOGIN = "snsapi_login"
# WeCom's scopes (wecom-and-qrconnect.md section 1.3): silent, or the member's consent to
# the private fields (avatar, mobile, email...), which needs the app's agentid.
SCOPE_PRIVATEINFO = "snsapi_privateinfo"
WECOM_SCOPES = (SCOPE_BASE, SCOPE_PRIVATEINFO)

# sns/userinfo languages (section 5.5).
LANGS = ("zh_CN", "zh_TW", "en")

# The OAuth state: at most 128 bytes of [a-zA-Z0-9] (section 5.1).
MAX_STATE_LENGTH = 128
STATE_PATTERN = re.compile(rf"[A-Za-z0-9]{{0,{MAX_STATE_LENGTH}}}")

# A callback's code: single-use, 5 minutes; we accept at most this many characters
# (WeCom documents 512 bytes; section 5.2, wecom-and-qrconnect.md section 1.3).
MAX_CODE_LENGTH = 512

# Openids are 28 characters of [A-Za-z0-9_-]; unionids alike. Room, not garbage.
MAX_ID_LENGTH = 128
ID_PATTERN = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_ID_LENGTH}}}")

# WeChat's own limit on the code exchange, sns/oauth2/access_token (section 5.3): the
# default site-wide bound on exchanges, so we refuse only what WeChat would.
OAUTH_EXCHANGES_PER_MINUTE = 50_000

# Lifetimes of a user's OAuth tokens (sections 5.3 and 5.4).
OAUTH_TOKEN_TTL = 7200.0
REFRESH_TOKEN_TTL = 30 * 86400.0

# The parameters of the server check (section 1.1).
SERVER_CHECK_FIELDS = ("signature", "timestamp", "nonce")

# WeChat's in-app browser names itself in the User-Agent (section 7); WeCom's browser
# carries both markers, so ``wxwork`` is tested first.
WECHAT_UA_MARKER = "MicroMessenger"
WECOM_UA_MARKER = "wxwork"

# WeCom's callback check (wecom-and-qrconnect.md section 1.6): the GET check and encrypted
# pushes carry ``msg_signature`` over the ciphertext instead of ``signature``.
ENCRYPTED_CHECK_FIELDS = ("msg_signature", "timestamp", "nonce")
# Official Account safe mode adds ``encrypt_type=aes`` to its pushes (section 1.3).
ENCRYPT_TYPE_AES = "aes"

# WeCom userids (wecom-and-qrconnect.md section 1.3); those of interconnected corps
# look like ``CorpId/userid``. Room, not garbage.
WECOM_ID_PATTERN = re.compile(r"[A-Za-z0-9_@./-]{1,128}")

# WeCom's ticket limits (wecom-and-qrconnect.md section 1.2): jsapi tickets 400 an hour per
# corp and at most 100 an hour per app; we hold each app to 100 of each kind.
WECOM_TICKETS_PER_HOUR = 100
