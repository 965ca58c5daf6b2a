"""The WeChat HTTP API, one method per endpoint, over one pooled ``requests.Session``.

:class:`APIClient` is the plumbing WeChat and WeCom share (their APIs speak the same
JSON with ``errcode``); :class:`WeChatClient` holds an Official Account's endpoints and
:class:`~wechat_middleware.wecom_client.WeComClient` a WeCom app's.

Every call has a connect and a read timeout, turns ``errcode != 0`` into a typed
error, and retries only what is transient (connection failure, timeout, 5xx,
malformed JSON, WeChat's "system busy" -1) a bounded number of times with backoff.
Quota errors are never retried: retrying them only burns more quota.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from . import urls
from .errors import (
    MEANINGS,
    SystemBusyError,
    WeChatError,
    WeChatUnavailableError,
    error_for,
)
from .protocol import LANGS
from .redaction import redact

log = logging.getLogger("wechat_middleware")

JSON = dict[str, Any]


class _RedactFilter(logging.Filter):
    """urllib3 logs each request line at DEBUG, and WeChat takes secrets in the query."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = ()
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_RedactFilter())


def check_lang(lang: str) -> str:
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}")
    return lang


class APIClient:
    """Thread-safe calls to one JSON API host: timeouts, typed errors, bounded retries.

    ``meanings`` is the provider's errcode table (:mod:`wechat_middleware.errors`).
    """

    meanings = MEANINGS
    names_rejected = False  # WeChat itself: a rejected value is not named to it

    def __init__(
        self,
        app_id: str,
        app_secret: str,
        *,
        api_base: str = "https://api.weixin.qq.com",
        open_base: str = "https://open.weixin.qq.com",
        timeout: float = 5.0,
        connect_timeout: float = 3.05,
        retries: int = 2,
        backoff: float = 0.2,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        source_address: str | None = None,
    ) -> None:
        self.app_id = app_id
        self._secret = app_secret
        self.api_base = api_base.rstrip("/")
        self.open_base = open_base.rstrip("/")
        self.timeout = (min(connect_timeout, timeout), timeout)
        self.retries = retries
        self.backoff = backoff
        self._sleep = sleep
        self._session = session or self._new_session(source_address)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(app_id={self.app_id!r}, api_base={self.api_base!r})"

    @staticmethod
    def _new_session(source_address: str | None = None) -> requests.Session:
        session = requests.Session()
        # One pool per host, big enough for a threaded worker; urllib3 reuses sockets.
        adapter = _Adapter(source_address, pool_connections=4, pool_maxsize=32, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers["User-Agent"] = "wechat-middleware"
        return session

    def close(self) -> None:
        self._session.close()

    @property
    def longest_call(self) -> float:
        """Seconds a failing call takes when WeChat takes connections but answers late:
        every attempt cut at the read timeout, plus the pauses between attempts (with
        the defaults 3 x 5 s + 0.2 s + 0.4 s = 15.6 s). The token manager's lock and
        waits are sized by it."""
        pauses = sum(self.backoff * 2.0**attempt for attempt in range(self.retries))
        return (1 + self.retries) * self.timeout[1] + pauses

    # -- plumbing ------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: JSON | None = None,
        require: tuple[str, ...] = (),
        retry: bool = True,
    ) -> JSON:
        attempts = 1 + (self.retries if retry else 0)
        for attempt in range(attempts):
            try:
                return self._once(method, path, params, json, require)
            except (WeChatUnavailableError, SystemBusyError) as exc:
                if attempt + 1 >= attempts:
                    raise
                delay = self.backoff * (2**attempt)
                # The caller logs the last failure: one line, not one per attempt.
                log.debug("WeChat %s failed (%s); retrying in %.2fs", path, exc.errmsg, delay)
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        json: JSON | None,
        require: tuple[str, ...],
    ) -> JSON:
        url = f"{self.api_base}/{path}"
        try:
            response = self._session.request(
                method, url, params=params, json=json, timeout=self.timeout
            )
        except requests.RequestException as exc:
            log.debug("WeChat %s: %s", path, redact(str(exc)))  # urllib3's whole story
            raise WeChatUnavailableError(f"{path}: {redact(_why(exc))}") from None
        if response.status_code >= 500:
            raise WeChatUnavailableError(f"{path}: HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            raise WeChatUnavailableError(
                f"{path}: malformed JSON (HTTP {response.status_code})"
            ) from None
        if not isinstance(data, dict):
            raise WeChatUnavailableError(f"{path}: unexpected JSON {type(data).__name__}")
        errcode = data.get("errcode", 0)
        if errcode not in (0, "0", None):
            try:
                code = int(errcode)
            except (TypeError, ValueError):
                code = -1
            raise error_for(code, str(data.get("errmsg", "")), self.meanings)
        missing = [name for name in require if not data.get(name)]
        if missing:
            raise WeChatUnavailableError(f"{path}: response lacks {', '.join(missing)}")
        return data


def _why(exc: requests.RequestException) -> str:
    """What went wrong, short: ``cannot connect to api.weixin.qq.com:443 (Connection
    refused)`` rather than urllib3's nested pool, retry and connection reprs."""
    url = exc.request.url if exc.request is not None else None
    where = urlsplit(str(url or "")).netloc or "WeChat"
    if isinstance(exc, requests.ConnectTimeout):
        return f"no connection to {where} within the timeout"
    if isinstance(exc, requests.ReadTimeout):
        return f"{where} did not answer within the timeout"
    if isinstance(exc, requests.ConnectionError):
        cause: BaseException | None = exc
        while cause is not None:  # the OS's words: "Connection refused", "Name ... not known"
            if isinstance(cause, OSError) and cause.strerror:
                return f"cannot connect to {where} ({cause.strerror})"
            cause = getattr(cause, "reason", None) or cause.__cause__ or cause.__context__
        return f"cannot connect to {where}"
    return str(exc)


class _Adapter(HTTPAdapter):
    """Connections from ``source_address`` when given (``WECHAT_SOURCE_ADDRESS``): on a
    host with several addresses, WeChat's IP whitelist holds one of them."""

    def __init__(self, source_address: str | None, **options: Any) -> None:
        self._source_address = source_address  # read by init_poolmanager, called below
        super().__init__(**options)

    def init_poolmanager(self, *args: Any, **options: Any) -> None:
        if self._source_address:
            options["source_address"] = (self._source_address, 0)
        super().init_poolmanager(*args, **options)


class WeChatClient(APIClient):
    """An Official Account's endpoints: the JS-SDK's token and ticket, and web OAuth."""

    # -- the token manager's interface (tokens.CredentialSource) -------------

    def fetch_access_token(
        self, endpoint: str, force_refresh: bool, rejected: str | None = None
    ) -> JSON:
        """The access token from the ``stable`` (default) or ``classic`` endpoint."""
        if endpoint == "classic":
            return self.get_access_token()
        return self.get_stable_access_token(force_refresh=force_refresh)

    def fetch_ticket(self, kind: str, access_token: str, rejected: str | None = None) -> JSON:
        """The ``jsapi_ticket``; an Official Account has no other kind."""
        if kind != "jsapi_ticket":
            raise ValueError(f"an Official Account has no {kind}")
        return self.get_jsapi_ticket(access_token)

    # -- global credentials ------------------------------------------------

    def get_access_token(self) -> JSON:
        """Classic ``cgi-bin/token``: every call issues a new token (old one lives ~5 min)."""
        return self._call(
            "GET",
            "cgi-bin/token",
            params={
                "grant_type": "client_credential",
                "appid": self.app_id,
                "secret": self._secret,
            },
            require=("access_token", "expires_in"),
        )

    def get_stable_access_token(self, force_refresh: bool = False) -> JSON:
        """``cgi-bin/stable_token``: the current token; isolated from other deployments."""
        return self._call(
            "POST",
            "cgi-bin/stable_token",
            json={
                "grant_type": "client_credential",
                "appid": self.app_id,
                "secret": self._secret,
                "force_refresh": force_refresh,
            },
            require=("access_token", "expires_in"),
        )

    def get_jsapi_ticket(self, access_token: str) -> JSON:
        """``cgi-bin/ticket/getticket?type=jsapi``: strictly rate-limited, cache it."""
        return self._call(
            "GET",
            "cgi-bin/ticket/getticket",
            params={"access_token": access_token, "type": "jsapi"},
            require=("ticket", "expires_in"),
        )

    # -- web OAuth -----------------------------------------------------------

    def authorize_url(
        self, redirect_uri: str, scope: str, state: str, *, force_popup: bool = False
    ) -> str:
        return urls.authorize_url(
            self.open_base, self.app_id, redirect_uri, scope, state, force_popup=force_popup
        )

    def oauth_access_token(self, code: str) -> JSON:
        """Exchange a single-use ``code`` (valid 5 minutes) for the user's OAuth token."""
        return self._call(
            "GET",
            "sns/oauth2/access_token",
            params={
                "appid": self.app_id,
                "secret": self._secret,
                "code": code,
                "grant_type": "authorization_code",
            },
            require=("access_token", "openid"),
            retry=False,  # a code is single-use: a retried exchange would answer 40163
        )

    def oauth_refresh_token(self, refresh_token: str) -> JSON:
        return self._call(
            "GET",
            "sns/oauth2/refresh_token",
            params={
                "appid": self.app_id,
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
            },
            require=("access_token", "openid"),
        )

    def userinfo(self, access_token: str, openid: str, lang: str = "zh_CN") -> JSON:
        """The profile; needs ``snsapi_userinfo``. Fields other than openid may be empty."""
        return self._about_user("sns/userinfo", access_token, openid, lang, ("openid",))

    def follower_info(self, access_token: str, openid: str, lang: str = "zh_CN") -> JSON:
        """``cgi-bin/user/info`` with the global token: ``subscribe`` 1 for a follower,
        with the ``unionid`` when the account is bound to an Open Platform account."""
        require = ("subscribe", "openid")
        return self._about_user("cgi-bin/user/info", access_token, openid, lang, require)

    def _about_user(
        self, path: str, access_token: str, openid: str, lang: str, require: tuple[str, ...]
    ) -> JSON:
        params = {"access_token": access_token, "openid": openid, "lang": check_lang(lang)}
        return self._call("GET", path, params=params, require=require)

    def oauth_token_valid(self, access_token: str, openid: str) -> bool:
        """``sns/auth``: whether a user's OAuth token is still valid."""
        try:
            self._call("GET", "sns/auth", params={"access_token": access_token, "openid": openid})
        except WeChatError as exc:
            if isinstance(exc, WeChatUnavailableError | SystemBusyError):
                raise
            return False
        return True


class HubClient(APIClient):
    """A token hub (:mod:`wechat_middleware.hub`) as a follower host asks it: WeChat's
    (or WeCom's) own token and ticket endpoints, with the follower's client key given as
    the secret. Never WeChat's: a follower is off WeChat's IP whitelist, and every
    system on the AppID shares the hub's one token.

    A value WeChat rejected is named (``rejected=``): the hub fetches anew only when it
    still holds that value, once for any number of followers asking.
    """

    names_rejected = True

    def __init__(
        self, app_id: str, hub_key: str, *, wecom: bool, meanings: Any, **options: Any
    ) -> None:
        super().__init__(app_id, hub_key, **options)
        self.wecom = wecom
        self.meanings = meanings

    def fetch_access_token(
        self, endpoint: str, force_refresh: bool, rejected: str | None = None
    ) -> JSON:
        """The hub's token; ``endpoint`` and ``force_refresh`` are the hub's business."""
        if self.wecom:
            path, params = "cgi-bin/gettoken", {"corpid": self.app_id, "corpsecret": self._secret}
        else:
            path = "cgi-bin/token"
            params = {"grant_type": "client_credential", "appid": self.app_id}
            params["secret"] = self._secret
        return self._call(
            "GET", path, params=_naming(params, rejected), require=("access_token", "expires_in")
        )

    def fetch_ticket(self, kind: str, access_token: str, rejected: str | None = None) -> JSON:
        params = {"access_token": access_token}
        if not self.wecom:
            path = "cgi-bin/ticket/getticket"
            params["type"] = "jsapi"
        elif kind == "agent_ticket":
            path = "cgi-bin/ticket/get"
            params["type"] = "agent_config"
        else:
            path = "cgi-bin/get_jsapi_ticket"
        return self._call(
            "GET", path, params=_naming(params, rejected), require=("ticket", "expires_in")
        )


def _naming(params: dict[str, str], rejected: str | None) -> dict[str, str]:
    return {**params, "rejected": rejected} if rejected else params
