"""Django template tags: ``{% load wechat %}`` once the library is registered.

Django templates cannot call a method with arguments, so what takes a list of APIs is a
tag. Register the library in ``TEMPLATES[...]["OPTIONS"]``::

    "libraries": {"wechat": "wechat_middleware.integrations.django_tags"},

then ``{% wechat_jssdk_tags "updateAppMessageShareData" "chooseImage" %}`` gives the page
a working ``wx`` (the browser helper and its ``ready`` call), and
``{% wechat_config_json "chooseImage" %}`` the argument of ``wx.config``. Both need the
request's context, from ``wechat_middleware.integrations.django.context_processor``.
"""

from __future__ import annotations

from typing import Any

from django import template

from ..context import WeChatContext
from ..render import HTML

register = template.Library()


def _context_of(context: Any) -> WeChatContext:
    wechat = context.get("wechat")
    if not isinstance(wechat, WeChatContext):
        raise template.TemplateSyntaxError(
            "the wechat tags need the wechat_middleware.integrations.django.context_processor "
            "context processor and WeChatMiddleware"
        )
    return wechat


@register.simple_tag(takes_context=True)
def wechat_jssdk_tags(
    context: Any, *js_api_list: str, open_tags: str = "", debug: bool = False
) -> HTML:
    """The script tags of the browser helper; ``open_tags`` is comma-separated."""
    tags = [tag for tag in open_tags.split(",") if tag]
    return _context_of(context).jssdk_tags(list(js_api_list), tags, debug)


@register.simple_tag(takes_context=True)
def wechat_config_json(context: Any, *js_api_list: str, debug: bool = False) -> HTML:
    """``wx.config(...)``'s argument, safe inside a ``<script>``."""
    return HTML(_context_of(context).config_json(list(js_api_list), debug))
