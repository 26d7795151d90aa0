"""JSON shapes of ``POST /predict/video`` (the CSV answer has the same rows, flattened)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from service.schemas import EXAMPLE_PROBABILITIES, BoxOut, ModelRef
from service.video.timeline import TimelineRow, TrackSummary, VideoTimeline


class VideoInfoOut(BaseModel):
    width: int = Field(examples=[640])
    height: int = Field(examples=[480])
    fps: float = Field(description="frames per second the container declares (0 if unknown)", examples=[30.0])
    duration_s: float = Field(description="declared length in seconds (0 if unknown)", examples=[12.4])
    frames: int = Field(description="frames decoded", examples=[372])
    every: int = Field(description="every N-th frame was analysed", examples=[3])
    sampled_frames: int = Field(description="frames analysed", examples=[124])


class TimelineRowOut(BaseModel):
    """One face in one sampled frame."""

    frame: int = Field(description="index of the frame in the video, from 0", examples=[42])
    time_s: float = Field(description="the frame's timestamp in seconds", examples=[1.4])
    track_id: int = Field(description="the same id follows the same person across frames, from 1", examples=[1])
    box: BoxOut
    emotion: str = Field(description="the most probable label", examples=["happy"])
    confidence: float = Field(examples=[0.87])
    probabilities: dict[str, float] = Field(description="all labels, summing to 1", examples=[EXAMPLE_PROBABILITIES])

    @classmethod
    def of(cls, row: TimelineRow) -> TimelineRowOut:
        face = row.face
        box = BoxOut(**face.box.as_dict())
        return cls(
            frame=row.frame,
            time_s=row.time_s,
            track_id=row.track_id,
            box=box,
            emotion=face.emotion,
            confidence=face.confidence,
            probabilities=face.probabilities,
        )


class TrackOut(BaseModel):
    """One person over the whole video."""

    track_id: int = Field(examples=[1])
    first_s: float = Field(description="first time the face was seen", examples=[0.0])
    last_s: float = Field(description="last time the face was seen", examples=[12.3])
    frames: int = Field(description="sampled frames with this face", examples=[124])
    emotion: str = Field(description="the label with the highest mean probability", examples=["happy"])
    probabilities: dict[str, float] = Field(description="mean over the track's rows", examples=[EXAMPLE_PROBABILITIES])

    @classmethod
    def of(cls, track: TrackSummary) -> TrackOut:
        return cls(
            track_id=track.track_id,
            first_s=track.first_s,
            last_s=track.last_s,
            frames=track.frames,
            emotion=track.emotion,
            probabilities=track.probabilities,
        )


class VideoResponse(BaseModel):
    model: ModelRef
    video: VideoInfoOut
    tracks: list[TrackOut] = Field(description="one summary per face track, in order of appearance")
    rows: list[TimelineRowOut] = Field(description="one row per face and sampled frame, in time order")

    @classmethod
    def of(cls, timeline: VideoTimeline, model: ModelRef) -> VideoResponse:
        info = timeline.info
        video = VideoInfoOut(
            width=info.width,
            height=info.height,
            fps=round(info.fps, 3),
            duration_s=round(info.duration_s, 3),
            frames=timeline.decoded_frames,
            every=timeline.every,
            sampled_frames=timeline.sampled_frames,
        )
        tracks = [TrackOut.of(track) for track in timeline.tracks()]
        return cls(model=model, video=video, tracks=tracks, rows=[TimelineRowOut.of(row) for row in timeline.rows])
