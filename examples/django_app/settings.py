"""Django example settings: WeChat JS-SDK and OAuth through one middleware line.

WeChat's settings come from the ``WECHAT_*`` environment here (``WECHAT = {}``); put
them in the dict instead (``{"APP_ID": "wx...", "PROTECT": "marked"}``) if you prefer.
No database: sessions are signed cookies, to show that Django's session and CSRF
middleware sit happily beside ours.

Run:  WECHAT_APP_ID=... WECHAT_APP_SECRET=... WECHAT_SECRET_KEY=... \\
      gunicorn -w 4 -b 127.0.0.1:8000 examples.django_app.wsgi:application
  or  uvicorn --workers 2 examples.django_app.asgi:application
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

HERE = Path(__file__).resolve().parent
STATIC = HERE.parent / "static"

# A fresh key per start unless one is given: the example keeps nothing in Django's session.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50)
DEBUG = False
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")

INSTALLED_APPS = ["django.contrib.sessions"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "wechat_middleware.integrations.django.WeChatMiddleware",
]
ROOT_URLCONF = "examples.django_app.urls"
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
DATABASES: dict[str, dict[str, str]] = {}
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [HERE / "templates", HERE.parent / "templates"],  # + the shared cards
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "wechat_middleware.integrations.django.context_processor",
            ],
            "libraries": {"wechat": "wechat_middleware.integrations.django_tags"},
        },
    }
]
USE_TZ = True
TIME_ZONE = "UTC"  # Django's default (America/Chicago) would also set the process's TZ

WECHAT: dict[str, object] = {}  # everything from the WECHAT_* environment
