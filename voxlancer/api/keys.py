"""Typed keys for what the app and each request carry."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg
from aiohttp import web

from voxlancer.config import Settings
from voxlancer.tts.service import TextToSpeech

if TYPE_CHECKING:
    from voxlancer.auth import Principal

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
# Every route of the app, for the OpenAPI document.
ROUTES = web.AppKey("routes", list)
TTS = web.AppKey("tts", TextToSpeech)
# Present only when VOXLANCER_AUTH_CACHE_SECONDS > 0.
PRINCIPAL_CACHE = web.AppKey("principal_cache", "PrincipalCache")
# Per request (request[...]).
PRINCIPAL_KEY = web.RequestKey("principal", "Principal")
REQUEST_ID_KEY = web.RequestKey("request_id", str)


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL_KEY]
