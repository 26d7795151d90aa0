"""The timeline plot: each face track's emotion probabilities over time (needs matplotlib: the ``video`` extra)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from service.video.timeline import TimelineRow, VideoTimeline

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# The demo page's colours (service/static/render.js), so a plot and the page read alike.
COLORS = {
    "angry": "#e5484d",
    "disgust": "#46a758",
    "fear": "#8e4ec6",
    "happy": "#f5b000",
    "sad": "#3e63dd",
    "surprise": "#f76b15",
    "neutral": "#8b8d98",
}
# The video extra, installed into the checkout's editable install (as the README says), not over it.
INSTALL_HINT = "--plot needs matplotlib (the video extra): pip install -e '.[video]' in the checkout"
MAX_TRACKS = 6  # the longest tracks; very short ones are mostly passers-by and false detections


def timeline_figure(timeline: VideoTimeline, title: str = "", max_tracks: int = MAX_TRACKS) -> Figure:
    """One panel per track (the longest ``max_tracks``), one line per emotion, time on the x axis."""
    from matplotlib.figure import Figure

    longest = sorted(timeline.tracks(), key=lambda track: -track.frames)[:max_tracks]
    track_ids = sorted(track.track_id for track in longest)
    fig = Figure(figsize=(9, 1.2 + 1.7 * max(1, len(track_ids))), layout="constrained")
    axes = fig.subplots(max(1, len(track_ids)), 1, sharex=True, squeeze=False)[:, 0]
    gap_s = 2.5 * timeline.every / timeline.info.fps if timeline.info.fps else math.inf
    for ax, track_id in zip(axes, track_ids, strict=False):
        _plot_track(ax, [row for row in timeline.rows if row.track_id == track_id], timeline.labels, gap_s)
        ax.set_ylabel(f"track {track_id}")
    if not track_ids:
        axes[0].text(0.5, 0.5, "no face found", ha="center", va="center", transform=axes[0].transAxes)
    axes[0].legend(*axes[0].get_legend_handles_labels(), ncol=len(timeline.labels), loc="lower center",
                   bbox_to_anchor=(0.5, 1.0), fontsize=8, frameon=False)  # fmt: skip
    axes[-1].set_xlabel("time (s)")
    axes[-1].set_xlim(0, max(timeline.info.duration_s, max((r.time_s for r in timeline.rows), default=0.0)) or 1)
    if title:
        fig.suptitle(title)
    return fig


def _plot_track(ax: Axes, rows: list[TimelineRow], labels: tuple[str, ...], gap_s: float) -> None:
    """Probability lines, broken where the face was missing for more than ``gap_s``.

    Each point also gets a small marker: a run of one point (a track seen once, or once between
    gaps) has no line to draw and would otherwise leave its panel empty.
    """
    times: list[float] = []
    values: dict[str, list[float]] = {label: [] for label in labels}
    for row in rows:
        if times and row.time_s - times[-1] > gap_s:
            times.append(math.nan)  # a NaN point ends the line: no straight segment across the gap
            for label in labels:
                values[label].append(math.nan)
        times.append(row.time_s)
        for label in labels:
            values[label].append(row.face.probabilities[label])
    for label in labels:
        ax.plot(times, values[label], color=COLORS.get(label), label=label, lw=1.5, marker="o", markersize=2.5)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)


def save_timeline_plot(timeline: VideoTimeline, path: Path, title: str = "") -> None:
    """Write the plot as PNG (or any format matplotlib infers from the suffix)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise RuntimeError(INSTALL_HINT) from exc
    timeline_figure(timeline, title).savefig(path, dpi=100)
