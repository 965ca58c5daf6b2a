"""The example's routes: server-rendered pages, a single-page app, JSON, and pushes."""

from __future__ import annotations

from django.urls import path, re_path
from django.views.static import serve

from . import views
from .settings import STATIC

urlpatterns = [
    path("", views.home),
    path("second", views.second),
    path("spa/", views.spa),
    re_path(r"^spa/(?P<route>.+)$", views.spa),
    path("account", views.account),
    path("api/orders", views.Orders.as_view()),
    path("api/me", views.me),
    path("wechat/verify", views.push),
    # The example serves its own static files; a real deployment lets the web server do it.
    re_path(r"^static/(?P<path>.*)$", serve, {"document_root": STATIC}),
]
