"""Settings, each declared once with everything known about it.

A setting of :class:`~wechat_middleware.config.WeChatConfig` is one statement of its class
body, ``timeout: float = setting("WECHAT_TIMEOUT", 5.0, "seconds per WeChat call",
SECONDS)``: its type, environment name, default, what it is for, and its :class:`Kind`
(how text becomes a value, the check of a value, whether it is a secret). Everything
that reads or lists settings comes from those statements (:func:`settings_of`): the
dataclass field (a secret is left out of ``repr``), the environment reader, Django's
``settings.WECHAT``, the settings ``doctor`` lists and the table of docs/settings.md, which
``scripts/settings-table`` writes (a test keeps it current). A new setting is one new
statement; nothing else needs to learn its name.

A check takes the name a message should use (the environment name the app reads) and
the value, and returns the value as the config keeps it, or raises :class:`ConfigError`;
a secret's value never appears in a message.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import MISSING, dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError

Check = Callable[[str, Any], Any]


@dataclass(frozen=True)
class Kind:
    """What sort of value a setting holds: how its text is parsed, what valid text
    looks like (said when ``parse`` refuses it), how a value is checked, and whether it
    is a secret (kept out of ``repr``, error messages and listings)."""

    parse: Callable[[str], Any] = str
    expected: str = ""
    check: Check | None = None
    secret: bool = False


@dataclass(frozen=True)
class Setting:
    """One setting: what its statement in the config's class body declares."""

    attr: str  # the config's attribute (filled in from the field by settings_of)
    default: Any  # MISSING: required
    env: str | None  # None: set in code only
    doc: str  # one line for the settings table (docs/settings.md)
    kind: Kind
    wecom_env: str | None = None  # the name a WeCom app reads instead (WECHAT_CORP_ID)

    def name(self, wecom: bool = False) -> str:
        """What messages call it: the environment name the app reads, else the attribute."""
        return (wecom and self.wecom_env) or self.env or self.attr

    @property
    def wecom_keyword(self) -> str | None:
        """The keyword that sets it for WeCom in code (``corp_id``), after its name."""
        return self.wecom_env and self.wecom_env.removeprefix("WECHAT_").lower()

    @property
    def names(self) -> tuple[str, ...]:
        """Every environment name it is read from."""
        return tuple(name for name in (self.env, self.wecom_env) if name)

    def shown(self, value: Any) -> str:
        """The value as text a person may read: a secret's is hidden."""
        return "(hidden)" if self.kind.secret and value else as_text(value)


def as_text(value: Any) -> str:
    """A value as its environment variable would spell it (``unset`` for none)."""
    if value is None or value == "":
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple | list):
        return ",".join(str(item) for item in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def setting(
    env: str | None,
    default: Any = MISSING,
    doc: str = "",
    kind: Kind = Kind(),
    *,
    wecom_env: str | None = None,
) -> Any:
    """A dataclass field that carries its :class:`Setting` (typed ``Any`` so it can stand
    as the default of a field of any type)."""
    spec = Setting("", default, env, doc, kind, wecom_env)
    return dataclasses.field(default=default, repr=not kind.secret, metadata={"setting": spec})


def settings_of(cls: type[Any]) -> tuple[Setting, ...]:
    """The settings of a config class (a subclass's added ones too), in field order."""
    return tuple(
        dataclasses.replace(field.metadata["setting"], attr=field.name)
        for field in dataclasses.fields(cls)
        if "setting" in field.metadata
    )


# -------------------------------------------------------------------------- reading


def read(table: Iterable[Setting], given: Mapping[str, Any]) -> dict[str, Any]:
    """The settings ``given`` sets, by environment name. Text (the environment's) is
    parsed and blank text is unset; any other value (Django's settings: a boolean, a
    list, a number) is taken as it is, to be checked with the rest."""
    found = {}
    for spec in table:
        for name in spec.names:
            value = given.get(name)
            if isinstance(value, str):
                value = _parse(spec, name, value) if value.strip() else None
            if value is not None:
                found[name] = value
    return found


#: ``WECHAT_*`` names of this repository that are no setting: the scripts' virtualenv.
NOT_SETTINGS = frozenset({"WECHAT_VENV"})


def unknown_names(table: Iterable[Setting], given: Iterable[str]) -> Iterator[str]:
    """A sentence for each ``WECHAT_*`` name of ``given`` that no setting reads, with the
    closest one that does: a misspelt name is otherwise ignored without a word. Other
    tools may use the prefix too (a ``WECHAT_ENV``), so this is said, never refused."""
    known = {name for spec in table for name in spec.names}
    stems = {name.removeprefix("WECHAT_"): name for name in known}
    known |= NOT_SETTINGS
    for name in sorted(given):
        if name.startswith("WECHAT_") and name not in known:
            close = difflib.get_close_matches(name.removeprefix("WECHAT_"), stems, 1, 0.7)
            guess = f": did you mean {stems[close[0]]}?" if close else " (another tool's?)"
            yield f"{name} is not a setting of wechat_middleware and is ignored{guess}"


def _parse(spec: Setting, name: str, text: str) -> Any:
    try:
        return spec.kind.parse(text.strip())
    except ValueError:
        shown = "(value hidden)" if spec.kind.secret else repr(text[:80])
        raise ConfigError(f"{name} is malformed: {shown}; expected {spec.kind.expected}") from None


def boolean(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def comma_list(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


# -------------------------------------------------------------------------- kinds


def check_text(max_len: int, *, secret: bool = False) -> Check:
    """A non-empty string of printable characters without spaces (ids and secrets)."""

    def check(name: str, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{name} must be a non-empty string")
        if len(value) > max_len or not value.isprintable() or any(c.isspace() for c in value):
            shown = "(value hidden)" if secret else repr(value)
            raise ConfigError(
                f"{name} must be at most {max_len} printable characters without spaces: {shown}"
            )
        return value

    return check


def text(max_len: int, *, secret: bool = False) -> Kind:
    return Kind(check=check_text(max_len, secret=secret), secret=secret)


def one_of(*choices: str) -> Kind:
    def check(name: str, value: Any) -> str:
        if value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        return str(value)

    return Kind(check=check)


def seconds(expected: str, *, zero: bool = False) -> Kind:
    """A number of seconds up to an hour; above 0 unless ``zero`` (no wait at all)."""
    lower = "at least 0" if zero else "above 0"

    def check(name: str, value: Any) -> float:
        number = value if isinstance(value, int | float) and not isinstance(value, bool) else -1
        if not ((number >= 0 if zero else number > 0) and number <= 3600):  # NaN fails too
            raise ConfigError(
                f"{name} must be a number of seconds {lower} and at most 3600, got {value!r}"
            )
        return number

    return Kind(float, expected, check)


def count(least: int, meaning: str, expected: str = "", most: int = 10**9) -> Kind:
    """A whole number from ``least`` to ``most``; ``meaning`` says what it counts."""

    def check(name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most:
            raise ConfigError(f"{name} must be {meaning}, got {value!r}")
        return value

    return Kind(int, expected, check)


def _path(name: str, value: Any) -> str:
    if (
        not isinstance(value, str)
        or not value.startswith("/")
        or value.startswith("//")
        or "?" in value
        or "#" in value
    ):
        raise ConfigError(f"{name} must be a path starting with '/', got {value!r}")
    return value


def _path_prefixes(name: str, value: Any) -> tuple[str, ...]:
    prefixes = comma_list(value) if isinstance(value, str) else tuple(value)
    for prefix in prefixes:
        if not str(prefix).startswith("/"):
            raise ConfigError(
                f"{name} entries are path prefixes starting with '/', got {prefix!r} "
                f"(write /{str(prefix).lstrip('/')})"
            )
    return prefixes


FLAG = Kind(boolean, "true or false (also 1/0, yes/no)")
PATH = Kind(check=_path)  # a path of this site the middleware answers on
PATH_PREFIXES = Kind(comma_list, check=_path_prefixes)  # comma-separated text or a list
SECRET = Kind(secret=True)


# ----------------------------------------------------------------------- the docs page

BEGIN = "<!-- settings table: written by scripts/settings-table -->"
END = "<!-- end of the settings table -->"


def markdown_table(table: Iterable[Setting]) -> str:
    """The settings table of docs/settings.md: one row a setting."""
    rows = ["| setting | environment | default | what it is |", "| --- | --- | --- | --- |"]
    for spec in table:
        env = " / ".join(f"`{name}`" for name in spec.names) or "(code only)"
        if spec.default is MISSING:
            default = "required"
        elif spec.default in (None, ""):
            default = "unset"
        else:
            default = f"`{as_text(spec.default)}`"
        rows.append(f"| `{spec.attr}` | {env} | {default} | {spec.doc} |")
    return "\n".join(rows) + "\n"


def write_table(file: Path, table: Iterable[Setting]) -> None:
    """Write the table between the markers of ``file`` (``scripts/settings-table``)."""
    head, begin, rest = file.read_text(encoding="utf-8").partition(BEGIN + "\n")
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"{file} has no settings table markers ({BEGIN} ... {END})")
    file.write_text(head + begin + markdown_table(table) + end + tail, encoding="utf-8")
