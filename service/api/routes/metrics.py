"""GET /metrics: Prometheus text exposition of this app's registry."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from service.api.deps import MetricsDep

router = APIRouter(tags=["monitoring"])


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def read_metrics(metrics: MetricsDep) -> Response:
    """Request, inference, queue and stream metrics for Prometheus."""
    return Response(metrics.render(), media_type=metrics.content_type)
