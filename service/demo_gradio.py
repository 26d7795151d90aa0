"""Gradio demo (optional extra, ``pip install .[demo]``): webcam, confidence bars, batch upload.

It runs the service's own pipeline in-process, not over HTTP: the same model store, Haar
detector, :class:`~service.inference.EmotionRecognizer`, image decoding, smoothing and
annotation as the API, so what it shows is what ``/predict`` would answer.

    make demo                          # http://127.0.0.1:7860
    python -m service.demo_gradio --port 7861 --share
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from service.annotate import annotate
from service.decoding import ImageError, decode_image
from service.inference import EmotionRecognizer, FacePrediction
from service.loading import load_model
from service.settings import Settings
from service.smoothing import FaceSmoother

# Gradio phones home for analytics by default; a local demo should not.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

WEBCAM_INTERVAL_S = 0.2  # how often the browser sends a webcam frame
NO_FACE = "No face found: face the camera (or photo) in good, even light."


def load_recognizer(settings: Settings) -> EmotionRecognizer:
    """The recognizer the service builds from the same settings (``service.loading.load_model``)."""
    loaded = load_model(settings)
    recognizer = loaded.recognizer()
    recognizer.warm_up()
    return recognizer


def _rgb(bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _summary(faces: Sequence[FacePrediction]) -> str:
    if not faces:
        return NO_FACE
    parts = [f"#{i + 1} {face.emotion} ({face.confidence:.0%})" for i, face in enumerate(faces)]
    return f"{len(faces)} face(s): " + ", ".join(parts)


class DemoPipeline:
    """What the Gradio callbacks call; free of Gradio so it can be tested on its own."""

    def __init__(self, recognizer: EmotionRecognizer, settings: Settings) -> None:
        self.recognizer = recognizer
        self.settings = settings

    def analyse_frame(
        self, rgb: np.ndarray | None, smoothing: bool = True, smoother: FaceSmoother | None = None
    ) -> tuple[np.ndarray | None, dict[str, float] | None, str, FaceSmoother]:
        """One webcam frame -> (annotated frame, bars of the largest face, summary, smoother state)."""
        smoother = smoother or FaceSmoother(self.settings.stream_smoothing_alpha)
        if rgb is None:
            return None, None, "Waiting for the webcam…", smoother
        rgb = np.ascontiguousarray(rgb[..., :3]) if rgb.ndim == 3 else rgb
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb
        faces = self.recognizer.predict(gray)
        if smoothing:
            faces = smoother.update(faces)
        else:
            smoother.reset()
        bars = faces[0].probabilities if faces else None
        return _rgb(annotate(rgb, faces)), bars, _summary(faces), smoother

    def analyse_file(self, path: str | Path) -> tuple[np.ndarray | None, list[FacePrediction], str]:
        """One uploaded file through the API's decoder -> (annotated image, faces, caption)."""
        name = Path(path).name
        try:
            image = decode_image(Path(path).read_bytes(), self.settings.max_pixels)
        except ImageError as exc:
            return None, [], f"{name}: {exc.detail}"
        faces = self.recognizer.predict(image.gray)
        return _rgb(annotate(image.pixels, faces)), faces, f"{name}: {_summary(faces)}"

    def analyse_files(self, paths: Sequence[str | Path] | None) -> tuple[list[Any], list[list[Any]], str]:
        """Several files -> (gallery items, one table row per face, status line)."""
        gallery: list[tuple[np.ndarray, str]] = []
        rows: list[list[Any]] = []
        problems: list[str] = []
        for path in paths or []:
            annotated, faces, caption = self.analyse_file(path)
            if annotated is None:
                problems.append(caption)
                continue
            gallery.append((annotated, caption))
            for i, face in enumerate(faces):
                probs = [round(face.probabilities[label], 3) for label in self.recognizer.labels]
                rows.append([Path(path).name, i + 1, face.emotion, round(face.confidence, 3), *probs])
        status = f"{len(gallery)} image(s) analysed, {len(rows)} face(s) found."
        return gallery, rows, " ".join([status, *problems])


def build_demo(pipeline: DemoPipeline) -> Any:
    """The Gradio Blocks: a webcam tab and a batch-upload tab."""
    import gradio as gr  # the optional extra: imported only when the demo is built

    labels = list(pipeline.recognizer.labels)
    model = pipeline.recognizer.model
    with gr.Blocks(title="FER demo") as demo:
        gr.Markdown(f"# Facial expression recognition\nModel `{model.name}` {model.version}, running in-process.")
        with gr.Tab("Webcam"):
            with gr.Row():
                webcam = gr.Image(sources=["webcam"], streaming=True, type="numpy", label="Webcam")
                with gr.Column():
                    annotated = gr.Image(type="numpy", label="Faces")
                    bars = gr.Label(num_top_classes=len(labels), label="Emotions of the largest face")
                    summary = gr.Markdown()
            smoothing = gr.Checkbox(True, label="Smooth over frames")
            smoother = gr.State(None)
            webcam.stream(
                pipeline.analyse_frame,
                inputs=[webcam, smoothing, smoother],
                outputs=[annotated, bars, summary, smoother],
                stream_every=WEBCAM_INTERVAL_S,
                concurrency_limit=2,
            )
        with gr.Tab("Photos"):
            files = gr.File(file_count="multiple", file_types=["image"], type="filepath", label="Images")
            run = gr.Button("Analyse", variant="primary")
            status = gr.Markdown()
            gallery = gr.Gallery(label="Faces", columns=3)
            table = gr.Dataframe(headers=["file", "face", "emotion", "confidence", *labels], label="Per face")
            run.click(pipeline.analyse_files, inputs=files, outputs=[gallery, table, status], api_name="analyse")
    return demo


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--share", action="store_true", help="a public gradio.live link (off: frames stay local)")
    args = parser.parse_args(argv)
    settings = Settings()  # FER_* variables pick the model, as for the service
    demo = build_demo(DemoPipeline(load_recognizer(settings), settings))
    demo.launch(server_name=args.host, server_port=args.port, share=args.share)


if __name__ == "__main__":
    main()
