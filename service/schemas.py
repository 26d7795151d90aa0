"""JSON shapes of the API (also what /docs shows, with examples)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from service.inference import FacePrediction

EXAMPLE_PROBABILITIES = {
    "angry": 0.02,
    "disgust": 0.0,
    "fear": 0.03,
    "happy": 0.87,
    "sad": 0.02,
    "surprise": 0.01,
    "neutral": 0.05,
}


class ModelRef(BaseModel):
    name: str = Field(examples=["fer_cnn"])
    version: str = Field(examples=["1.0.0"])


class ImageSize(BaseModel):
    width: int = Field(examples=[512])
    height: int = Field(examples=[512])


class BoxOut(BaseModel):
    """Face rectangle in original-image pixels (after EXIF rotation)."""

    x: int = Field(examples=[177])
    y: int = Field(examples=[66])
    w: int = Field(examples=[95])
    h: int = Field(examples=[95])


class PointOut(BaseModel):
    """A keypoint in original-image pixels."""

    x: float = Field(examples=[203.4])
    y: float = Field(examples=[98.1])


EXAMPLE_LANDMARKS = {"right_eye": {"x": 203.4, "y": 98.1}, "left_eye": {"x": 247.0, "y": 101.6}}


class FaceOut(BaseModel):
    box: BoxOut
    landmarks: dict[str, PointOut] | None = Field(
        default=None,
        description="keypoints by name (right_eye, left_eye, nose_tip, mouth, right_ear, left_ear: the person's "
        "right and left) when the detector finds them (blazeface); null for haar",
        examples=[EXAMPLE_LANDMARKS],
    )
    emotion: str = Field(description="the most probable label", examples=["happy"])
    confidence: float = Field(description="probability of that label", examples=[0.87])
    probabilities: dict[str, float] = Field(description="all labels, summing to 1", examples=[EXAMPLE_PROBABILITIES])

    @classmethod
    def of(cls, face: FacePrediction) -> FaceOut:
        return cls(
            box=BoxOut(**face.box.as_dict()),
            landmarks={p.name: PointOut(x=round(p.x, 1), y=round(p.y, 1)) for p in face.box.landmarks} or None,
            emotion=face.emotion,
            confidence=face.confidence,
            probabilities=face.probabilities,
        )


class Timings(BaseModel):
    """Milliseconds per stage; ``infer`` includes the wait for a shared batch."""

    decode: float = Field(examples=[3.1])
    detect: float = Field(examples=[18.4])
    infer: float = Field(examples=[6.2])
    total: float = Field(examples=[28.0])


class PredictResponse(BaseModel):
    model: ModelRef
    image: ImageSize
    faces: list[FaceOut] = Field(description="largest face first; empty when no face is found")
    timings_ms: Timings


class BatchItem(PredictResponse):
    filename: str = Field(examples=["photo.jpg"])


class ErrorInfo(BaseModel):
    status: int = Field(examples=[415])
    detail: str = Field(examples=["unsupported image type GIF: send JPEG, PNG, WebP or BMP"])


class BatchItemError(BaseModel):
    filename: str = Field(examples=["animation.gif"])
    error: ErrorInfo


class BatchResponse(BaseModel):
    results: list[BatchItem | BatchItemError] = Field(description="one entry per uploaded file, in order")


class ErrorResponse(BaseModel):
    detail: str = Field(examples=["not a recognised image: the file is corrupt or not an image"])
    request_id: str | None = Field(
        default=None,
        description="the X-Request-ID of the request (also in the response header and the server's log lines)",
        examples=["3f2b9c0e5d1a4c7b8e6f0a1b2c3d4e5f"],
    )


class HealthResponse(BaseModel):
    status: str = Field(examples=["ok"])


class ReadinessResponse(BaseModel):
    status: str = Field(examples=["ready"])
    model: ModelRef


class ModelsResponse(BaseModel):
    """The model cards (model.json) of the served models."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"models": [{"name": "fer_cnn", "version": "1.0.0"}]}]})

    models: list[dict[str, Any]]


class StreamFaceOut(FaceOut):
    track_id: int = Field(description="the same id follows the same face across this stream's frames", examples=[1])

    @classmethod
    def tracked(cls, face: FacePrediction, track_id: int) -> StreamFaceOut:
        return cls(**FaceOut.of(face).model_dump(), track_id=track_id)


class StreamFrameResult(BaseModel):
    """One WebSocket reply per processed frame (documented here; sent as JSON text)."""

    frame_id: int = Field(description="index of the frame on this connection, counting dropped ones")
    faces: list[StreamFaceOut]
    latency_ms: float = Field(description="from receiving the frame to sending this reply")
    dropped: int = Field(description="frames skipped so far because a newer frame arrived")
    image: ImageSize
