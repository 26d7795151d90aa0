"""``/stream`` control messages: the one place a JSON text message becomes a :class:`StreamControl`.

A control message is the only input on a stream that is parsed rather than decoded as an image,
so each of its costs is bounded before it is paid: its size before it is parsed, its keys while
it is parsed, its nesting by Python's recursion limit. Every failure (Python refuses integers of
more than 4,300 digits with a ValueError, for one) becomes a :class:`ControlMessageError`, and
no error text repeats what the client sent: a reply echoing 820,000 unknown keys was 32 MB.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from service.settings import JPEG_MAX_SIDE, DetectorName

MAX_FACES_ASKED = 1000  # the query option's own limit (service.api.deps)


class StreamControl(BaseModel):
    """A JSON text message changing this stream's options; absent keys keep their value."""

    model_config = ConfigDict(extra="forbid")

    smoothing: bool | None = None
    alpha: float | None = Field(default=None, gt=0.0, le=1.0)
    max_faces: int | None = Field(default=None, ge=1, le=MAX_FACES_ASKED)
    min_face_size: int | None = Field(default=None, ge=1, le=JPEG_MAX_SIDE)
    detector: DetectorName | None = None


class ControlMessageError(ValueError):
    """A control message that was refused; ``detail`` never contains the message's own text."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def parse_control(text: str, max_bytes: int, max_keys: int) -> StreamControl:
    """The options of a control message, or ControlMessageError (413 too large, 400 anything else)."""
    # len(text) first: a character is at least one byte, and a huge message is then never encoded.
    if len(text) > max_bytes or len(text.encode()) > max_bytes:
        raise ControlMessageError(413, f"a control message may have at most {max_bytes} bytes")
    try:
        value = json.loads(text, object_pairs_hook=_KeyCounter(max_keys))
    except RecursionError:
        raise ControlMessageError(400, "nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise ControlMessageError(400, f"not JSON ({exc.msg})") from None
    except ValueError:  # an integer over Python's digit limit, or too many keys (below)
        raise ControlMessageError(400, f"not a usable JSON object of at most {max_keys} keys") from None
    try:
        return StreamControl.model_validate(value)
    except ValidationError as exc:
        raise ControlMessageError(400, _describe(exc)) from None


class _KeyCounter:
    """json's ``object_pairs_hook``: builds each object, refusing the message past ``limit`` keys in all."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.keys = 0

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        self.keys += len(pairs)
        if self.keys > self.limit:
            raise ValueError("too many keys")
        return dict(pairs)


def _describe(exc: ValidationError) -> str:
    """The known fields' errors; unknown keys only counted, since their names are the client's text."""
    known = [e for e in exc.errors() if e["type"] != "extra_forbidden"]
    parts = [f"{'.'.join(str(p) for p in e['loc']) or 'message'}: {e['msg']}" for e in known]
    unknown = exc.error_count() - len(known)
    if unknown:
        allowed = ", ".join(StreamControl.model_fields)
        parts.append(f"{unknown} unknown key{'s' if unknown > 1 else ''} (allowed: {allowed})")
    return "; ".join(parts)
