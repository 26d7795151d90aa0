"""Service settings: one class, read from ``FER_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["critical", "error", "warning", "info", "debug", "trace"]
LogFormat = Literal["text", "json"]
DetectorName = Literal["haar", "blazeface"]
ModelVariant = Literal["int8", "float"]
# Pillow refuses to open images over twice its MAX_IMAGE_PIXELS (89,478,485) as decompression
# bombs before their size can be checked; the pixel limit stays below that.
PILLOW_REFUSED_PIXELS = 2 * 89_478_485
# libjpeg's largest side: every accepted image can be drawn on and sent back as a JPEG (annotate=true).
JPEG_MAX_SIDE = 65_500


class Settings(BaseSettings):
    """Everything the service can be configured with; ``FER_<FIELD>`` overrides each field."""

    # "model_" fields would clash with pydantic's protected namespace without this.
    model_config = SettingsConfigDict(env_prefix="FER_", extra="ignore", protected_namespaces=())

    # Model
    model_store: Path = Field(default=Path("model_store"), description="folder holding <name>/<version>/model.json")
    # The served default's rule (results/served-default.md) picked fer_cnn_snap 1.0.0-int8: 1.20 points more
    # accurate on PublicTest than fer_cnn 1.2.0-int8 at the same CPU per face (one bench run, 2026-12-05).
    model_name: str = Field(default="fer_cnn_snap", min_length=1)
    model_version: str = Field(default="latest", description='a version folder name, or "latest" for the highest one')
    # fer_cnn_snap 1.0.0's int8 variant lost 0.22 points on PublicTest and classifies 904.1 faces/s at batch 32
    # against the float model's 243.5 (README, model table), so "latest" serves it unless told "float".
    model_variant: ModelVariant = Field(
        default="int8", description='with "latest": serve the highest release\'s <version>-int8 folder if it has one'
    )

    # Server
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, description="uvicorn worker processes, each with its own model copy")
    log_level: LogLevel = "info"
    log_format: LogFormat = Field(
        default="text", description="text: one readable line per record; json: one JSON object per line"
    )
    # Kubernetes sends SIGTERM, then SIGKILL after terminationGracePeriodSeconds: finish requests
    # and close streams before that (deploy/k8s keeps the grace period above this plus preStop).
    graceful_shutdown_s: int = Field(
        default=20, ge=1, description="after SIGTERM, how long requests and streams in flight may take to finish"
    )

    # ONNX Runtime (0 lets ONNX Runtime choose)
    ort_intra_op_threads: int = Field(default=0, ge=0)
    ort_inter_op_threads: int = Field(default=0, ge=0)

    # Micro-batching
    max_batch_size: int = Field(default=32, ge=1, description="faces per ONNX Runtime call")
    max_wait_ms: float = Field(default=5.0, ge=0, description="how long the first queued face waits for company")
    max_queue: int = Field(default=256, ge=1, description="pending inference jobs before requests get 503")
    retry_after_s: int = Field(default=1, ge=0, description="Retry-After sent with 503 when the queue is full")
    # Decoding and detection, not inference, are the bottleneck, so the inference queue alone
    # would never fill: without this bound an overload piles up in the worker threads' queue.
    max_in_flight: int = Field(
        default=64, ge=1, description="images being decoded, detected or classified at once before requests get 503"
    )

    # Input limits: every one a hostile client could push against (docs/configuration.md, "Hardening").
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1, description="request body (and stream frame) limit")
    # 25 MP covers 6000x4000 camera photos; a decoded 25 MP RGBA PNG alone takes ~170 MB.
    max_pixels: int = Field(
        default=25_000_000, ge=1, le=PILLOW_REFUSED_PIXELS, description="width x height limit, from the image header"
    )
    # Decoding costs per row too: a 1x25,000,000 PNG took ~2 CPU-s against 0.3 s for a square
    # 25 MP one. Bounding the side bounds the rows, so the pixel limit bounds the cost.
    max_image_side: int = Field(
        default=16_384, ge=64, le=JPEG_MAX_SIDE, description="longest image or video-frame side (px), from the header"
    )
    max_batch_files: int = Field(default=32, ge=1, description="files accepted by one /predict/batch request")
    max_form_fields: int = Field(
        default=8, ge=0, description="non-file fields read from a multipart form (the API takes none)"
    )
    max_faces: int = Field(
        default=32, ge=1, description="faces classified per image (the largest); one inference batch"
    )
    # Small files can decode to hundreds of MB (a 68 kB PNG to 72 MB): decoding waits for room.
    decode_budget_mb: int = Field(default=512, ge=16, description="memory for decoded pixels, all images together")
    decode_wait_s: float = Field(default=10.0, gt=0, description="wait for decode memory before answering 503")
    max_connections: int = Field(default=512, ge=1, description="open HTTP connections and tasks before 503")
    header_timeout_s: float = Field(default=10.0, gt=0, description="time to send the request line and headers")
    # uvicorn's httptools parser has no limit of its own: 1.5 GB of headers were once accepted (issue 27).
    max_header_bytes: int = Field(
        default=32 * 1024, ge=1024, description="request line and headers, in bytes, before 431"
    )
    max_headers: int = Field(default=100, ge=8, description="header fields per request before 431")
    body_timeout_s: float = Field(default=60.0, gt=0, description="time to send a request body")
    max_streams: int = Field(default=16, ge=1, description="open /stream connections before new ones get 503")
    ws_allowed_origins: list[str] = Field(
        default_factory=list, description="browser origins allowed on /stream besides the page's own (JSON list)"
    )
    # A page's own origin is only trusted on these names: a DNS-rebinding page has Host and Origin
    # agree on its foreign name (JSON list; hostnames, without ports).
    ws_allowed_hosts: list[str] = Field(
        default_factory=lambda: ["localhost", "127.0.0.1", "::1"],
        description="Host names on which /stream accepts a browser page of the same origin (JSON list)",
    )
    stream_idle_timeout_s: float = Field(
        default=60.0, gt=0, description="a /stream without any message for this long is closed (code 4408)"
    )
    stream_control_max_bytes: int = Field(
        default=4096, ge=64, description="largest /stream JSON control message (UTF-8 bytes)"
    )
    stream_control_max_keys: int = Field(default=16, ge=5, description="most JSON keys in one control message")

    # Face detection (OpenCV Haar cascade). The alt2 cascade searching a copy of at most 288 px at
    # scale step 1.2 detects a 640x480 frame in ~9 ms with the recall the default cascade has at
    # 320 px (~10.5 ms; `make bench` compares them; 256 px is faster but lost the demo's 71 px
    # webcam face). Faces under 24 px on that copy (53 px on 640x480) are missed. Big photos are
    # shrunk at most 4x, so a 12 MP photo keeps faces of 96 px and more.
    detect_cascade: str = Field(
        default="haarcascade_frontalface_alt2.xml", description="an OpenCV bundled cascade's file name, or a path"
    )
    detect_scale_factor: float = Field(default=1.2, gt=1.0)
    detect_min_neighbors: int = Field(default=5, ge=0)
    detect_min_face: int = Field(default=40, ge=1, description="smallest face side in original-image pixels")
    detect_max_side: int = Field(default=288, ge=64, description="larger images are detected on a downscaled copy")
    detect_max_downscale: int = Field(
        default=4, ge=1, description="the copy keeps at least 1/N of the original side, so big photos keep their faces"
    )

    # Which detector finds the faces (docs/detectors.md, "When to choose which"). Haar stays the default;
    # BlazeFace finds tilted, partly covered and small faces with less CPU and gives landmarks.
    detector: DetectorName = Field(default="haar", description="haar (OpenCV cascade) or blazeface (ONNX)")
    detector_store: Path | None = Field(
        default=None,
        description="folder of the detector cards and BlazeFace ONNX files (default: <model_store>/face_detectors)",
    )
    # Short range with 2x2 tiles found more planted faces than full range, at less CPU (docs/detectors.md).
    blazeface_range: Literal["short", "full"] = Field(
        default="short", description="short: 128 px input, faces near the camera; full: 192 px input"
    )
    # MediaPipe keeps 0.5; on the planted scenes 0.6 cut false detections from 46 to 4 per 200
    # scenes for 7 % fewer faces found (docs/detectors.md, "When to choose which").
    blazeface_min_score: float = Field(default=0.6, gt=0.0, lt=1.0, description="lowest face score kept")
    blazeface_nms_iou: float = Field(default=0.3, gt=0.0, le=1.0, description="overlap above which boxes merge")
    blazeface_threads: int = Field(default=1, ge=1, description="ONNX Runtime threads of one BlazeFace run")
    blazeface_tile_grid: int = Field(
        default=2, ge=0, le=4, description="also search N x N overlapping tiles of large images (0: whole image only)"
    )
    align_faces: bool = Field(
        default=True, description="rotate faces so the eyes are level (detectors with eye landmarks)"
    )
    frame_crops: bool = Field(default=True, description="reframe each box like a FER-2013 face (measured per detector)")

    # Video uploads (POST /predict/video). A video costs the CPU every frame it decodes and every
    # frame it analyses (~50 ms for a two-face frame on the project's shared 2-core machine), so
    # each limit bounds what one upload can take (docs/configuration.md, "Hardening").
    max_video_bytes: int = Field(default=50 * 1024 * 1024, ge=1, description="video upload limit (bytes)")
    max_video_duration_s: float = Field(default=120.0, gt=0, description="longest video accepted (seconds)")
    max_video_frames: int = Field(default=7200, ge=1, description="most frames decoded per video, sampled or not")
    max_video_faces: int = Field(default=8, ge=1, description="most faces analysed per video frame (the largest)")
    max_video_jobs: int = Field(default=2, ge=1, description="videos analysed at once before uploads get 503")

    # Supervision: if the inference worker dies, /readyz answers 503 and, with this on, the process
    # exits non-zero so that its supervisor (systemd, Kubernetes, uvicorn's worker manager) restarts it.
    exit_on_worker_death: bool = True

    # Streaming
    stream_smoothing_alpha: float = Field(
        default=0.5, gt=0.0, le=1.0, description="weight of the newest frame in the EMA"
    )
    # Following faces (service.faces.following): between full-frame searches each face is re-detected
    # in a region around its last box, a fraction of the CPU of a whole-frame search (docs/detectors.md).
    stream_follow_faces: bool = Field(default=True, description="re-detect stream faces near their last boxes")
    stream_full_detect_every: int = Field(
        default=15, ge=1, description="search the whole frame every N frames (and whenever a face is lost)"
    )
    stream_follow_margin: float = Field(
        default=0.4, gt=0.0, le=2.0, description="the search region: the last box grown by this x its side per side"
    )

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lowercase(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @property
    def max_wait_s(self) -> float:
        return self.max_wait_ms / 1000.0

    @property
    def decode_budget_bytes(self) -> int:
        return self.decode_budget_mb * 1024 * 1024
