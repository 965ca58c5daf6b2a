"""The in-process test apps on Django: ``flask_app``'s routes (tests/support/apps.py) and
the marked routes of tests/test_login.py, behind our middleware, over Django's own WSGI
or ASGI handler.

Django's settings belong to the process: one module for every test, the example's
(``DJANGO_SETTINGS_MODULE``, set in tests/conftest.py). A test app differs only in what
its handler loads: the middleware chain, read when the handler is built (so built under
``override_settings``), and its routes, which the head of that chain picks per request
(``request.urlconf``: ``ROOT_URLCONF`` is read per request). Its WeChat is the test's
(``set_wechat``), bound by our middleware as the handler is built.
"""

from __future__ import annotations

import json
from typing import Any

import django
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import override_settings
from django.urls import path, re_path
from django.utils.deprecation import MiddlewareMixin
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from wechat_middleware import WeChat
from wechat_middleware.integrations.django import (
    WeChatLoginRequiredMixin,
    set_wechat,
    wechat_login_required,
)
from wechat_middleware.testing.browser import WeChatBrowser

from ..test_login import who
from .apps import page_state


def in_process(
    browser: WeChatBrowser, kind: str, wechat: WeChat, *, marked: bool = False, **options: Any
) -> WeChatBrowser:
    """A browser on :func:`django_app`, in-process over its handler's protocol;
    ``options`` are the browser's (``userid=``, ``user_agent=``, ...)."""
    handler = django_app(kind, wechat, marked=marked)
    if isinstance(handler, WSGIHandler):
        return browser.wsgi(handler, **options)
    return browser.asgi(handler, **options)  # type: ignore[arg-type]


def django_app(kind: str, wechat: WeChat, *, marked: bool = False) -> WSGIHandler | ASGIHandler:
    """Django's WSGI (``django-wsgi``) or ASGI (``django-asgi``) handler with our
    middleware on ``wechat`` after Django's session and CSRF middleware, as a project
    lists them; ``flask_app``'s routes, or ``marked`` the routes that need a login."""
    django.setup()  # once per process: the settings module is the environment's
    chain = [
        f"{__name__}.{'MarkedRoutes' if marked else 'CatchAllRoutes'}",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "wechat_middleware.integrations.django.WeChatMiddleware",
    ]
    set_wechat(wechat)
    try:
        with override_settings(MIDDLEWARE=chain):
            return WSGIHandler() if kind == "django-wsgi" else ASGIHandler()
    finally:
        set_wechat(None)  # the handler holds its WeChat; the process's is the settings' again


# -- flask_app's routes ----------------------------------------------------------------------


@csrf_exempt  # a view that receives pushes: WeChat posts without a token
@require_http_methods(["GET", "POST", "HEAD"])
def page(request: HttpRequest, path: str) -> HttpResponse:
    if request.method == "POST":
        return HttpResponse("posted")
    return HttpResponse(json.dumps(page_state(request.wechat)))  # type: ignore[attr-defined]


def me(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"openid": request.wechat.openid})  # type: ignore[attr-defined]


def sign(request: HttpRequest) -> JsonResponse:
    """The README's JSON sign endpoint: sign the URL the page reports."""
    try:
        signature = request.wechat.sign(request.GET.get("url", ""))  # type: ignore[attr-defined]
    except ValueError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse(signature)


def own_signature(request: HttpRequest) -> JsonResponse:
    return JsonResponse(request.wechat.signature, safe=False)  # type: ignore[attr-defined]


class CatchAll:
    """A URLconf: Django takes any object with ``urlpatterns``."""

    urlpatterns = (
        path("api/me", me),
        path("api/sign", sign),
        path("api/signature", own_signature),
        re_path(r"^(?P<path>.*)$", page),
    )


# -- the marked routes of tests/test_login.py (WECHAT_PROTECT=marked) --------------------------


def public(request: HttpRequest) -> JsonResponse:
    return JsonResponse(who(request.wechat.user))  # type: ignore[attr-defined]


class Base(WeChatLoginRequiredMixin, View):
    def get(self, request: HttpRequest) -> JsonResponse:
        return public(request)


class Members(WeChatLoginRequiredMixin, View):
    wechat_members_only = True  # a WeCom app's members only

    def get(self, request: HttpRequest) -> JsonResponse:
        return public(request)


class Marked:
    urlpatterns = (
        path("public", public),
        path("base", Base.as_view()),
        path("profile", wechat_login_required(public, scope="snsapi_userinfo")),
        path("api/data", wechat_login_required(public)),
        path("members", wechat_login_required(public, members_only=True)),
        path("members-view", Members.as_view()),
    )


# -- the head of the chain: which routes -------------------------------------------------------


class CatchAllRoutes(MiddlewareMixin):
    def process_request(self, request: HttpRequest) -> None:
        request.urlconf = CatchAll  # type: ignore[attr-defined]


class MarkedRoutes(MiddlewareMixin):
    def process_request(self, request: HttpRequest) -> None:
        request.urlconf = Marked  # type: ignore[attr-defined]
