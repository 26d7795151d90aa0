"""``python -m service.client PATH [PATH...] [--url URL] [--json]``: classify image files or folders.

Prints one line per image and one indented line per face, e.g.::

    photos/astronaut.png: 1 face (21.3 ms)
      happy 0.87  x=133 y=50 w=71 h=71

Exits 1 when any image could not be classified.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
DEFAULT_URL = "http://127.0.0.1:8000"


def iter_images(paths: Sequence[Path]) -> Iterator[Path]:
    """Files as given; folders expanded (recursively, sorted) to their image files."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            yield path


def format_result(path: Path, result: dict[str, Any]) -> str:
    faces = result["faces"]
    plural = "" if len(faces) == 1 else "s"
    lines = [f"{path}: {len(faces)} face{plural} ({result['timings_ms']['total']:.1f} ms)"]
    for face in faces:
        box = face["box"]
        where = f"x={box['x']} y={box['y']} w={box['w']} h={box['h']}"
        lines.append(f"  {face['emotion']:<8} {face['confidence']:.2f}  {where}")
    return "\n".join(lines)


def classify(client: httpx.Client, path: Path) -> tuple[bool, str, dict[str, Any] | None]:
    """(ok, printable line(s), JSON result) for one file."""
    try:
        with path.open("rb") as handle:
            response = client.post("/predict", files={"file": (path.name, handle)})
    except OSError as exc:
        return False, f"{path}: cannot read ({exc.strerror or exc})", None
    except httpx.HTTPError as exc:
        return False, f"{path}: request failed ({exc})", None
    if response.status_code != 200:
        detail = _error_detail(response)
        return False, f"{path}: error {response.status_code}: {detail}", None
    result = response.json()
    return True, format_result(path, result), result


def _error_detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except ValueError:
        return response.text.strip() or response.reason_phrase


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", type=Path, help="image files or folders")
    parser.add_argument("--url", default=DEFAULT_URL, help=f"service base URL (default {DEFAULT_URL})")
    parser.add_argument("--json", action="store_true", help="print the raw JSON results, one per line")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    args = parser.parse_args(argv)
    all_ok = True
    with httpx.Client(base_url=args.url, timeout=args.timeout) as client:
        for path in iter_images(args.paths):
            ok, text, result = classify(client, path)
            all_ok &= ok
            if args.json and result is not None:
                print(json.dumps({"path": str(path), **result}))
            else:
                print(text, file=sys.stdout if ok else sys.stderr)
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
