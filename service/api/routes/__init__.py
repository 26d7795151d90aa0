"""The API routers, combined into :data:`api_router`."""

from fastapi import APIRouter

from service.api.routes import health, metrics, models, pages, predict, stream, video

api_router = APIRouter()
for module in (pages, health, models, predict, video, stream, metrics):
    api_router.include_router(module.router)
