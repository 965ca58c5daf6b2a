"""Django example views: the same pages as the Flask and Starlette examples.

``/`` and ``/second`` are rendered on the server, ``/spa/`` is a small single-page app;
each gets a working ``wx`` from one template tag. ``/account`` needs the profile
(one consent screen), ``/api/orders`` a login (a ``fetch`` without one gets 401 JSON).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any, TypeVar

from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render as render_template
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from examples.messages import echo_reply
from wechat_middleware.integrations.django import (
    WeChatLoginRequiredMixin,
    project_wechat,
    wechat_login_required,
    wechat_user_logged_in,
)
from wechat_middleware.messages import REPLY_CONTENT_TYPE
from wechat_middleware.user import User

_View = TypeVar("_View", bound=Callable[..., HttpResponse])


def render(request: HttpRequest, title: str, page: str) -> HttpResponse:
    """templates/page.html, the same page as the Flask example's."""
    wechat = project_wechat()
    context = {
        "title": title,
        "page": page,
        "spa": page == "spa",
        # Whether a browser outside WeChat can log in (a website app's QR login, WeCom's).
        "qr_login": wechat.rules.desktop_login,
        "framework": "Django",
        "api_base": wechat.config.api_base,
    }
    return render_template(request, "page.html", context)


def page(view: _View) -> _View:
    """A page: GET and HEAD only, anything else 405 as in the other examples. A view
    that accepts no POST has nothing for Django's CSRF check to protect, which would
    otherwise answer a POST 403 before the view could say 405."""
    return csrf_exempt(require_safe(view))


@page
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "WeChat middleware · Django", "home")


@page
def second(request: HttpRequest) -> HttpResponse:
    return render(request, "Second page · Django", "second")


@page
def spa(request: HttpRequest, route: str = "") -> HttpResponse:
    """One HTML shell for every route of the single-page app."""
    return render(request, "Single-page app · Django", "spa")


@page
@wechat_login_required(scope="snsapi_userinfo")  # one consent screen, then the profile
def account(request: HttpRequest) -> HttpResponse:
    return render(request, "Your account · Django", "account")


class Orders(WeChatLoginRequiredMixin, View):
    """A fetch without a login gets 401 JSON with a login_url."""

    def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse({"openid": request.wechat.openid, "orders": []})  # type: ignore[attr-defined]


def me(request: HttpRequest) -> JsonResponse:
    """JSON endpoint: never redirected to OAuth, reports the user if any."""
    context = request.wechat  # type: ignore[attr-defined]
    return JsonResponse({"openid": context.openid, "is_wechat": context.is_wechat_browser})


@csrf_exempt  # WeChat posts without a CSRF token; the middleware checked the signature
@require_POST
def push(request: HttpRequest) -> HttpResponse:
    """Messages pushed to the verify path, checked (and decrypted) by the middleware."""
    message = request.wechat.message  # type: ignore[attr-defined]
    body = echo_reply(message) if message is not None else b""
    return HttpResponse(body, content_type=REPLY_CONTENT_TYPE)


@receiver(wechat_user_logged_in)
def remember(sender: Any, user: User, is_new: bool, **kwargs: Any) -> None:
    """Once per login: where an app upserts its own user row. Here: a line in the file
    EXAMPLE_USERS_FILE names, when set."""
    path = os.environ.get("EXAMPLE_USERS_FILE")
    if path:
        with open(path, "a", encoding="utf-8") as users:
            users.write(json.dumps({"user": user.key, "new": is_new}) + "\n")
