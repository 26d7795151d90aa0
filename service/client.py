"""``python -m service.client PATH [PATH...] [--url URL] [--detector NAME] [--recursive] [--json]``.

Sends image files, or the images in folders, to a running service's ``/predict`` and prints one
line per image and one indented line per face, e.g.::

    photos/astronaut.png: 1 face (21.3 ms)
      happy    0.82  x=133 y=51 w=71 h=70

The URL defaults to ``FER_URL``, else ``http://127.0.0.1:$FER_PORT`` (port 8000 without it), so
a client started beside ``make serve`` finds it. Folders are read one level deep unless
``--recursive``. Exits 1 when any image could not be classified. To analyse files without a
server, use ``fer analyze`` (:mod:`service.cli`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from service.files import iter_images


def default_url(environ: Mapping[str, str] = os.environ) -> str:
    """``FER_URL``, else the local service on ``FER_PORT`` (8000 without it)."""
    return environ.get("FER_URL") or f"http://127.0.0.1:{environ.get('FER_PORT', '8000')}"


def format_result(path: Path, result: dict[str, Any]) -> str:
    faces = result["faces"]
    plural = "" if len(faces) == 1 else "s"
    lines = [f"{path}: {len(faces)} face{plural} ({result['timings_ms']['total']:.1f} ms)"]
    for face in faces:
        box = face["box"]
        where = f"x={box['x']} y={box['y']} w={box['w']} h={box['h']}"
        lines.append(f"  {face['emotion']:<8} {face['confidence']:.2f}  {where}")
    return "\n".join(lines)


def classify(
    client: httpx.Client, path: Path, params: Mapping[str, str] | None = None
) -> tuple[bool, str, dict[str, Any] | None]:
    """(ok, printable line(s), JSON result) for one file."""
    try:
        with path.open("rb") as handle:
            response = client.post("/predict", files={"file": (path.name, handle)}, params=params)
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


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m service.client", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", nargs="+", type=Path, help="image files or folders")
    url = default_url()
    parser.add_argument("--url", default=url, help=f"service base URL (default: FER_URL or FER_PORT, now {url})")
    parser.add_argument("--detector", choices=["haar", "blazeface"], help="face detector (default: the server's)")
    parser.add_argument("-r", "--recursive", action="store_true", help="also send the images in subfolders")
    parser.add_argument("--json", action="store_true", help="print the raw JSON results, one per line")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    params = {"detector": args.detector} if args.detector else None
    all_ok = True
    with httpx.Client(base_url=args.url, timeout=args.timeout) as client:
        for path in iter_images(args.paths, args.recursive):
            ok, text, result = classify(client, path, params)
            all_ok &= ok
            if args.json and result is not None:
                print(json.dumps({"path": str(path), **result}))
            else:
                print(text, file=sys.stdout if ok else sys.stderr)
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
