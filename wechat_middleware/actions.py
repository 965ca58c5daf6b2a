"""What the decision returns: plain, immutable data, like h11's events.

``flow.decide`` answers every request with one of these. :class:`Respond` and
:class:`PassThrough` are final: answer, or call the app. The others are I/O steps
(:data:`IO_STEPS`) that :class:`~wechat_middleware.steps.Steps` carries out with the
store and WeChat, answering with a final action in turn. Nothing here does I/O or
holds behaviour, so a test of the decision compares values.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar, NamedTuple

from .answers import Respond
from .messages import MAX_MESSAGE_BYTES, Message
from .session import PendingLogin, Session
from .spa import MAX_REPORT_BYTES, ConfigRequest
from .urls import Page
from .user import User


@dataclass(frozen=True, slots=True)
class CompleteLogin:
    """A valid OAuth callback: claim ``state`` once and exchange ``code`` (I/O)."""

    code: str
    state: str
    next_url: str
    session: Session  # the browser's, without the login it completes
    secure: bool
    client: str  # the peer's address, for the per-client login limit
    pending: PendingLogin  # the login this callback completes
    # A target's callback: ``code`` is a relay ticket, redeemed at the relay for this
    # origin (docs/several-domains.md).
    relay_target: str = ""
    max_body: ClassVar[int] = 0  # bytes of the request body the step needs read


class PassThrough(NamedTuple):
    """Call the app; ``request.wechat`` is built from this plain data.

    ``wants_signature``: the request is a page (a GET asking for HTML), which will most
    likely read the JS-SDK signature, so an adapter that must not block may get the
    ticket ready off its event loop first.

    A named tuple rather than a frozen dataclass like the steps: it is made for every
    request the decision passes on (every logged-in page), and is as immutable at a
    third of the cost (``python -m bench --only overhead``, the logged-in rows).
    """

    user: User | None
    is_wechat: bool
    page: Page
    wants_signature: bool
    logins_paused: bool = False  # just logged out (or declined): no silent login now
    message: Message | None = None  # a push to the verify path, decrypted


@dataclass(frozen=True, slots=True)
class ClaimServerCheck:
    """A correctly signed server check: claim its ``timestamp``+``nonce`` once in the
    store (I/O), then carry out ``then``; a replay gets 403."""

    key: str
    then: Respond | PassThrough
    max_body: ClassVar[int] = 0


@dataclass(frozen=True, slots=True)
class SignConfig:
    """``GET {jssdk_path}/config``: sign ``request.url`` (I/O: the ticket) and answer the
    argument of ``wx.config`` as JSON."""

    request: ConfigRequest
    max_body: ClassVar[int] = 0


@dataclass(frozen=True, slots=True)
class ReceiveReport:
    """``POST {jssdk_path}/report``: the adapter reads at most ``max_body`` bytes of the
    body into ``body``, then the report is diagnosed, logged and acted on (I/O)."""

    site: str | None
    max_body: int = MAX_REPORT_BYTES
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class OpenMessage:
    """A push to the verify path whose query is correctly signed: the adapter reads at
    most ``max_body`` bytes of the body into ``body``; then an encrypted message (its
    ``msg_signature`` covers the ciphertext in the body) is checked and decrypted, the
    ``timestamp``+``nonce`` claimed once (I/O), and the app called with the message (the
    adapter hands the body it read on to the app)."""

    key: str
    page: Page
    msg_signature: str | None  # None: a plain message (an Official Account's)
    timestamp: str
    nonce: str
    max_body: int = MAX_MESSAGE_BYTES
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class RedeemTicket:
    """``POST {relay_path}/redeem`` with the relay key: the adapter reads at most
    ``max_body`` bytes of the JSON body into ``body``; the ticket it names is taken
    from the store once and the user answered (I/O)."""

    max_body: int = 1024
    body: bytes = b""


IOStep = CompleteLogin | ClaimServerCheck | SignConfig | ReceiveReport | OpenMessage | RedeemTicket
#: The I/O steps, for ``isinstance``: what an adapter hands to ``Steps.perform``.
IO_STEPS = (
    CompleteLogin,
    ClaimServerCheck,
    SignConfig,
    ReceiveReport,
    OpenMessage,
    RedeemTicket,
)
Action = Respond | PassThrough | IOStep


def with_body(step: IOStep, body: bytes) -> IOStep:
    """``step`` with the request body it asked for read in: at most ``max_body`` bytes and
    one more, which tells the step the body was too large."""
    if not isinstance(step, ReceiveReport | OpenMessage | RedeemTicket):
        return step
    return replace(step, body=body[: step.max_body + 1])
