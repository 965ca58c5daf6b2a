"""Griffe extension for the API reference: the package's docstrings are reStructuredText,
which mkdocstrings renders as Markdown. Sphinx roles (``:class:`~a.B```) become links to
the object when the site documents it (code text otherwise), a paragraph's closing ``::``
(a literal block follows) becomes ``:``, and an attribute's ``#:`` comment lines become
its docstring, as Sphinx's autodoc reads them."""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|meth|func|attr|mod|data|exc|obj|const):`(?P<target>[^`]+)`")
LITERAL_BLOCK = re.compile(r"(?m)(\S)?( ?)::$")


class RstRoles(griffe.Extension):
    """Rewrite the package's docstrings once it is all loaded, when names resolve."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        _rewrite(pkg)


def _rewrite(obj: griffe.Object) -> None:
    if obj.docstring is None and obj.is_attribute:
        _doc_comment(obj)
    if obj.docstring is not None:
        text = ROLE.sub(lambda match: _link(obj, match), obj.docstring.value)
        obj.docstring.value = LITERAL_BLOCK.sub(_colon, text)
    for member in obj.members.values():
        if not member.is_alias:
            _rewrite(member)  # type: ignore[arg-type]


def _doc_comment(attribute: griffe.Object) -> None:
    """Sphinx's ``#:`` comment lines just above an attribute, as its docstring."""
    if attribute.lineno is None or attribute.parent is None:
        return
    module_lines = attribute.module.lines
    comment: list[str] = []
    index = attribute.lineno - 2
    while index >= 0 and module_lines[index].lstrip().startswith("#:"):
        comment.insert(0, module_lines[index].lstrip()[2:].removeprefix(" "))
        index -= 1
    if comment:
        attribute.docstring = griffe.Docstring(
            "\n".join(comment), lineno=index + 2, parent=attribute
        )


def _colon(match: re.Match[str]) -> str:
    # "text::" -> "text:"; a lone " ::" (the block's introduction is the sentence) -> "".
    return f"{match[1]}:" if match[1] and not match[2] else (match[1] or "")


def _link(obj: griffe.Object, match: re.Match[str]) -> str:
    target = match["target"].strip()
    if "<" in target and target.endswith(">"):  # an explicit title: "title <target>"
        title, _, target = target[:-1].rpartition("<")
        title = title.strip()
    else:
        title = ""
    short = target.startswith("~")
    target = target.lstrip("~")
    path = _resolve(obj, target)
    shown = title or (target.rsplit(".", 1)[-1] if short else target.lstrip("."))
    return (
        f'<autoref identifier="{html.escape(path)}" optional>'
        f"<code>{html.escape(shown)}</code></autoref>"
    )


def _resolve(obj: griffe.Object, target: str) -> str:
    """The full path of ``target`` as written in ``obj``'s docstring (its best guess)."""
    if target.startswith("."):  # relative to the module's package, as Sphinx reads it
        module = obj.module
        package = module.path if module.is_init_module else module.path.rpartition(".")[0]
        return f"{package}.{target.lstrip('.')}"
    first, _, rest = target.partition(".")
    try:
        resolved = obj.resolve(first)
    except griffe.NameResolutionError:  # not a name in scope: the text is the best path
        return target
    return f"{resolved}.{rest}" if rest else resolved
