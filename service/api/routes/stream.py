"""WebSocket /stream: live frames in, per-frame faces and emotions out."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from service.api.deps import AnalyzerDep, MetricsDep, SettingsDep, StreamSlotsDep
from service.streaming import StreamSession

router = APIRouter(tags=["stream"])


@router.websocket("/stream")
async def stream_frames(
    websocket: WebSocket, analyzer: AnalyzerDep, metrics: MetricsDep, settings: SettingsDep, slots: StreamSlotsDep
) -> None:
    """Classify faces in binary JPEG/PNG frames; stale frames are dropped so replies stay current.

    Send JSON text such as ``{"smoothing": true}`` to change options. Each processed frame gets
    ``{"frame_id", "faces", "latency_ms", "dropped", "image"}``; an unusable frame gets
    ``{"frame_id", "error", "status"}`` and the stream stays open. The handshake is refused with
    403 for a browser page from another origin and 503 when ``FER_MAX_STREAMS`` streams are open.
    """
    await StreamSession(websocket, analyzer, metrics, settings, slots).run()
