"""WebSocket stream sessions: latest-frame-wins processing with optional smoothing.

A receiver task reads messages as fast as they come and keeps only the newest unprocessed
frame; a processor task analyses that frame and replies. A client sending faster than the
service keeps up therefore loses stale frames instead of building a backlog, so the delay
between a frame and its reply stays about one processing time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import anyio
from fastapi import WebSocket
from fastapi.responses import JSONResponse

from service.analysis import ImageAnalyzer
from service.batching import QueueFullError, WorkerStoppedError
from service.decoding import ImageError
from service.faces.following import FaceFollower
from service.faces.tracking import FaceTracker
from service.inference import DetectOptions
from service.limits import Limiter
from service.metrics import Metrics
from service.schemas import ImageSize, StreamFaceOut, StreamFrameResult
from service.settings import Settings
from service.smoothing import FaceSmoother
from service.stream_control import ControlMessageError, parse_control

logger = logging.getLogger(__name__)
# Application close codes are 4000-4999; 4408 reads as HTTP's 408 Request Timeout.
IDLE_CLOSE_CODE = 4408


@dataclass(frozen=True)
class Frame:
    frame_id: int
    data: bytes
    received_at: float


class LatestFrame:
    """A one-slot mailbox: putting a frame replaces (drops) the one still waiting."""

    def __init__(self) -> None:
        self._frame: Frame | None = None
        self._ready = asyncio.Event()
        self.received = 0
        self.dropped = 0

    def put(self, data: bytes) -> bool:
        """Store a frame; True when it replaced an unprocessed one."""
        self.received += 1  # frame ids start at 1, like the demo page's counter
        replaced = self._frame is not None
        self.dropped += replaced
        self._frame = Frame(self.received, data, time.perf_counter())
        self._ready.set()
        return replaced

    async def take(self) -> Frame:
        await self._ready.wait()
        self._ready.clear()
        frame, self._frame = self._frame, None
        assert frame is not None
        return frame


def open_streams_limit(capacity: int, metrics: Metrics) -> Limiter:
    """The open streams (``FER_MAX_STREAMS``), counted in the ``fer_open_streams`` gauge.

    Every open stream costs CPU every frame: one more is refused rather than slowing every stream.
    """
    return Limiter(capacity, "streams are open already", metrics.open_streams.set)


def origin_allowed(origin: str | None, host: str | None, allowed: list[str], allowed_hosts: list[str]) -> bool:
    """Same origin on an allowed host name, a configured origin, or no Origin header at all.

    Browsers always send Origin on WebSocket handshakes and let any page open one, so this is
    what stops another site's page from streaming a visitor's webcam here (cross-site WebSocket
    hijacking). Host alone is not trusted: a DNS-rebinding page (its name pointed at this
    server's address) has Host and Origin agree on the attacker's name, hence ``allowed_hosts``.
    Clients that are not browsers send no Origin and are not affected.
    """
    if origin is None:
        return True
    if origin in allowed or "*" in allowed:
        return True
    if host is None or urlsplit(origin).netloc.lower() != host.lower():
        return False
    return (urlsplit(f"//{host}").hostname or "") in {name.lower().strip("[]") for name in allowed_hosts}


class StreamSession:
    """One WebSocket connection on /stream."""

    def __init__(
        self, websocket: WebSocket, analyzer: ImageAnalyzer, metrics: Metrics, settings: Settings, slots: Limiter
    ) -> None:
        self.websocket = websocket
        self.analyzer = analyzer
        self.metrics = metrics
        self.settings = settings
        self.slots = slots
        self.max_frame_bytes = settings.max_body_bytes
        self.slot = LatestFrame()
        self.smoother = FaceSmoother(settings.stream_smoothing_alpha)
        self.tracker = FaceTracker()  # track ids let the demo page chart each face over time
        self.smoothing = False
        self.follower = (
            FaceFollower(settings.stream_full_detect_every, settings.stream_follow_margin)
            if settings.stream_follow_faces
            else None
        )
        self.options = DetectOptions(follower=self.follower)
        self._send_lock = asyncio.Lock()  # replies and error messages come from two tasks

    async def run(self) -> None:
        """Serve until the client disconnects; refuse the handshake (403, 503) when not allowed."""
        headers, settings = self.websocket.headers, self.settings
        origin, host = headers.get("origin"), headers.get("host")
        if not origin_allowed(origin, host, settings.ws_allowed_origins, settings.ws_allowed_hosts):
            # The origin is the client's text: it is not repeated (FER_WS_ALLOWED_HOSTS too: the same-origin case).
            await self._deny(403, "this page's origin is not allowed (FER_WS_ALLOWED_ORIGINS, FER_WS_ALLOWED_HOSTS)")
            return
        try:
            slot = self.slots.acquire()
        except QueueFullError as exc:
            await self._deny(503, f"{exc} (FER_MAX_STREAMS); retry later")
            return
        try:
            await self.websocket.accept()
            # anyio rather than bare asyncio tasks: Starlette's test client cancels through anyio scopes.
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._process_frames, tasks.cancel_scope)
                await self._receive_frames()
                tasks.cancel_scope.cancel()
        finally:
            slot.drop()

    async def _deny(self, status: int, detail: str) -> None:
        headers = {"Retry-After": str(self.settings.retry_after_s)} if status == 503 else None
        await self.websocket.send_denial_response(JSONResponse({"detail": detail}, status, headers=headers))

    async def _receive_frames(self) -> None:
        idle_s = self.settings.stream_idle_timeout_s
        while True:
            # An open stream holds one of FER_MAX_STREAMS slots: one that sends nothing gives it back.
            with anyio.move_on_after(idle_s) as idle:
                message = await self.websocket.receive()
            if idle.cancelled_caught:
                await self.websocket.close(IDLE_CLOSE_CODE, f"no message for {idle_s:g} s (FER_STREAM_IDLE_TIMEOUT_S)")
                return
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is not None:
                self.metrics.stream_frames.inc()
                if self.slot.put(message["bytes"]):
                    self.metrics.stream_frames_dropped.inc()
            elif message.get("text") is not None:
                await self._apply_control(message["text"])

    async def _apply_control(self, text: str) -> None:
        settings = self.settings
        try:
            control = parse_control(text, settings.stream_control_max_bytes, settings.stream_control_max_keys)
        except ControlMessageError as exc:
            await self._send({"error": f"invalid control message: {exc.detail}", "status": exc.status})
            return
        if control.smoothing is not None:
            self.smoothing = control.smoothing
            self.smoother.reset()
        if control.alpha is not None:
            self.smoother.alpha = control.alpha
        fields = control.model_fields_set & {"max_faces", "min_face_size", "detector"}
        if fields:
            updates = {name: getattr(control, name) for name in fields}
            self.options = replace(self.options, **updates)
            if self.follower is not None:  # followed boxes may be too many, too small or another detector's
                self.follower.reset()

    async def _process_frames(self, session_scope: anyio.CancelScope) -> None:
        while True:
            frame = await self.slot.take()
            reply = await self._analyse(frame)
            try:
                await self._send(reply)
            except Exception as exc:  # the client is gone: stop receiving too
                logger.debug("stream closed while replying: %r", exc)
                session_scope.cancel()
                return

    async def _analyse(self, frame: Frame) -> dict[str, Any]:
        if len(frame.data) > self.max_frame_bytes:
            return _error(frame, 413, f"frame is larger than the {self.max_frame_bytes} bytes allowed")
        try:
            analysis = await self.analyzer.analyse(frame.data, None, self.options)
        except ImageError as exc:
            return _error(frame, exc.status_code, exc.detail)
        except QueueFullError as exc:
            return _error(frame, 503, f"server busy: {exc}")
        except WorkerStoppedError as exc:
            return _error(frame, 503, f"service unavailable: {exc}")
        except Exception:  # a bug must not end the stream silently; the client sees a 500 for this frame
            logger.exception("stream frame %d failed", frame.frame_id)
            return _error(frame, 500, "internal server error")
        faces = self.smoother.update(analysis.faces) if self.smoothing else analysis.faces
        track_ids = self.tracker.update([face.box for face in faces], frame.received_at)
        return StreamFrameResult(
            frame_id=frame.frame_id,
            faces=[StreamFaceOut.tracked(face, track_id) for face, track_id in zip(faces, track_ids, strict=True)],
            latency_ms=round(1000 * (time.perf_counter() - frame.received_at), 3),
            dropped=self.slot.dropped,
            image=ImageSize(width=analysis.width, height=analysis.height),
        ).model_dump()

    async def _send(self, message: dict[str, Any]) -> None:
        async with self._send_lock:
            await self.websocket.send_text(json.dumps(message))


def _error(frame: Frame, status: int, detail: str) -> dict[str, Any]:
    return {"frame_id": frame.frame_id, "error": detail, "status": status}
