"""GET /v1/models: the card (model.json) of the served model."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import ModelDep
from service.schemas import ModelsResponse

router = APIRouter(prefix="/v1", tags=["models"])


@router.get("/models", response_model=ModelsResponse)
async def list_models(model: ModelDep) -> ModelsResponse:
    """Metadata of the served model: labels, input, preprocessing, dataset, metrics (no host details)."""
    return ModelsResponse(models=[model.public_metadata])
