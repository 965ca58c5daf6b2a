"""The errcode tables of docs/troubleshooting.md, written from ``errors.py``.

``errors.MEANINGS`` and ``errors.WECOM_MEANINGS`` are the one home of what an errcode
means, which error class it raises and what to do about it; ``WECHAT_SAYS`` and
``WECOM_SAYS`` hold WeChat's own words. ``scripts/errcode-table`` writes the tables
between the page's markers, and tests/test_troubleshooting_page.py fails while the page
differs from what it writes.
"""

from __future__ import annotations

from pathlib import Path

from .errors import (
    MEANINGS,
    WECHAT_SAYS,
    WECOM_MEANINGS,
    WECOM_SAYS,
    InvalidCodeError,
    InvalidCredentialError,
    QuotaExceededError,
    RefreshTokenExpiredError,
    ScopeError,
    SystemBusyError,
    UserNotAuthorizedError,
    WeChatAPIError,
    _Meaning,
)

BEGIN = "<!-- errcode table: written by scripts/errcode-table -->"
END = "<!-- end of the errcode table -->"

# What the library does by itself when an errcode has no advice of its own: then there
# is nothing to fix in the configuration.
_HANDLED: dict[type[WeChatAPIError], str] = {
    SystemBusyError: "nothing: retried with backoff (bounded); pages render without a "
    "signature meanwhile",
    InvalidCredentialError: "nothing: the token is fetched again and the call retried once",
    InvalidCodeError: "nothing: the login fails without a loop (a 400 page whose link "
    "starts a new login, at most 3 times in 10 minutes)",
    RefreshTokenExpiredError: "nothing: the user logs in again",
    QuotaExceededError: "wait: never retried, backed off for a minute",
    ScopeError: "check the account's interface permissions",
    UserNotAuthorizedError: "nothing: the login fails; the user must authorise the app",
}


def _summary(error: type[WeChatAPIError]) -> str:
    """The class docstring's first sentence, without its list of errcodes."""
    text = " ".join((error.__doc__ or "").split())
    codes, colon, rest = text.partition(": ")
    text = rest if colon and codes.replace("/", "").lstrip("-").isdigit() else text
    return text.split(";")[0].rstrip(".").replace("``", "`")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _rows(meanings: dict[int, _Meaning], says: dict[int, str], app_id: str, who: str) -> list[str]:
    rows = [
        f"| errcode | what {who} says (errmsg) | what it means | what to do | raises |",
        "| --- | --- | --- | --- | --- |",
    ]
    for errcode in sorted(meanings, key=lambda code: (code != -1, code)):
        meaning = meanings[errcode]
        said = f"`{says[errcode]}`" if errcode in says else "(not known)"
        plain = meaning.plain or _summary(meaning.error)
        if meaning.advice is not None:
            advice = meaning.advice.format(app_id=app_id, ip="this server's IP")
        else:
            advice = _HANDLED.get(meaning.error, "see the error's message")
        cells = (f"{errcode}", said, plain, advice, f"`{meaning.error.__name__}`")
        rows.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return rows


def markdown_table() -> str:
    """The tables of an Official Account's errcodes and of WeCom's, in markdown."""
    lines = [
        "**Official Account** (`WECHAT_PROVIDER=wechat`, the default):",
        "",
        *_rows(MEANINGS, WECHAT_SAYS, "APPID", "WeChat"),
        "",
        "**WeCom** (`WECHAT_PROVIDER=wecom`; some numbers mean something else there):",
        "",
        *_rows(WECOM_MEANINGS, WECOM_SAYS, "CORPID", "WeCom"),
    ]
    return "\n".join(lines) + "\n"


def write_table(file: Path) -> None:
    """Write the tables between the markers of ``file`` (``scripts/errcode-table``)."""
    head, begin, rest = file.read_text(encoding="utf-8").partition(BEGIN + "\n")
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"{file} has no errcode table markers ({BEGIN} ... {END})")
    file.write_text(head + begin + markdown_table() + end + tail, encoding="utf-8")
