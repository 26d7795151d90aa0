"""GET /: the browser demo (service/static/index.html) when it is installed."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"
INDEX_FILE = STATIC_DIR / "index.html"
FALLBACK_PAGE = (
    "<!doctype html><title>FER service</title><h1>FER service</h1>"
    '<p>No demo page is installed. See the <a href="/docs">API documentation</a>.</p>'
)

router = APIRouter(tags=["pages"])


@router.get("/", include_in_schema=False)
async def read_index() -> Response:
    """The demo page, or a pointer to /docs when service/static/index.html is absent."""
    if INDEX_FILE.is_file():
        return FileResponse(INDEX_FILE, media_type="text/html")
    return HTMLResponse(FALLBACK_PAGE)
