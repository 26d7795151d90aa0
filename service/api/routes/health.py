"""GET /healthz (the process answers) and /readyz (the model is loaded and warm)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.errors import error_response
from service.schemas import ErrorResponse, HealthResponse, ReadinessResponse

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthResponse)
async def read_health() -> HealthResponse:
    """Liveness: the server process is up and answering."""
    return HealthResponse(status="ok")


@router.get("/readyz", response_model=ReadinessResponse, responses={503: {"model": ErrorResponse}})
async def read_readiness(request: Request) -> ReadinessResponse | JSONResponse:
    """Readiness: the model is loaded, warmed up and the inference worker is running."""
    state = request.app.state
    analyzer = getattr(state, "analyzer", None)
    if getattr(state, "fatal_error", None):
        return error_response(503, "not ready: the inference worker died; restarting")
    if not getattr(state, "ready", False) or analyzer is None or not analyzer.batcher.running:
        return error_response(503, "not ready: the model is not loaded")
    return ReadinessResponse(status="ready", model=analyzer.model_ref)
