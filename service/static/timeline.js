// Emotion timelines, drawn by hand on a canvas (no chart library, nothing from a CDN):
// one small chart per tracked face, one line per emotion, time on the x axis.
import { EMOTIONS, colorFor } from "./render.js";

const PAD = { left: 30, right: 8, top: 6, bottom: 18 };
const CHART_HEIGHT = 96;

// points: [{ t: seconds, probabilities: {emotion: p} }] in time order. A line breaks where
// consecutive points are more than maxGap apart (the face was not seen in between).
export function drawTimeline(canvas, points, t0, t1, { maxGap = Infinity, startLabel, endLabel } = {}) {
  const width = (canvas.width = canvas.clientWidth || 320);
  const height = (canvas.height = CHART_HEIGHT);
  const ctx = canvas.getContext("2d");
  const span = Math.max(t1 - t0, 1e-6);
  const x = (t) => PAD.left + ((t - t0) / span) * (width - PAD.left - PAD.right);
  const y = (p) => PAD.top + (1 - p) * (height - PAD.top - PAD.bottom);
  ctx.clearRect(0, 0, width, height);
  drawAxes(ctx, y, width, startLabel ?? `${t0.toFixed(1)} s`, endLabel ?? `${t1.toFixed(1)} s`);
  ctx.lineWidth = 1.5;
  for (const emotion of EMOTIONS) {
    ctx.strokeStyle = colorFor(emotion);
    ctx.beginPath();
    points.forEach((point, i) => {
      const px = x(point.t);
      const py = y(point.probabilities[emotion] || 0);
      if (i > 0 && point.t - points[i - 1].t <= maxGap) ctx.lineTo(px, py);
      else ctx.moveTo(px, py);
    });
    ctx.stroke();
  }
  canvas.dataset.points = String(points.length);
}

function drawAxes(ctx, y, width, startLabel, endLabel) {
  ctx.strokeStyle = "#e0e1e6";
  ctx.fillStyle = "#60646c";
  ctx.lineWidth = 1;
  ctx.font = "10px system-ui, sans-serif";
  for (const p of [0, 0.5, 1]) {
    ctx.beginPath();
    ctx.moveTo(PAD.left, y(p));
    ctx.lineTo(width - PAD.right, y(p));
    ctx.stroke();
    ctx.fillText(p.toFixed(1), 4, y(p) + 3);
  }
  ctx.fillText(startLabel, PAD.left, CHART_HEIGHT - 4);
  ctx.fillText(endLabel, width - PAD.right - ctx.measureText(endLabel).width, CHART_HEIGHT - 4);
}

// The top emotion over time as runs, e.g. "happy → surprise → angry"; runs shorter than
// minRun points are flicker and left out.
export function emotionSequence(points, minRun = 2) {
  const runs = [];
  for (const point of points) {
    const top = EMOTIONS.reduce((a, b) => ((point.probabilities[b] || 0) > (point.probabilities[a] || 0) ? b : a));
    const last = runs[runs.length - 1];
    if (last && last.emotion === top) last.count += 1;
    else runs.push({ emotion: top, count: 1 });
  }
  const kept = runs.filter((run) => run.count >= minRun).map((run) => run.emotion);
  return kept.filter((emotion, i) => i === 0 || emotion !== kept[i - 1]);
}

export function legend() {
  const el = document.createElement("div");
  el.className = "legend";
  for (const emotion of EMOTIONS) {
    const item = document.createElement("span");
    item.style.setProperty("--chip", colorFor(emotion));
    item.textContent = emotion;
    el.append(item);
  }
  return el;
}

// One chart card: a caption and a canvas, for a live face or a video track.
export function trackCard(trackId) {
  const card = document.createElement("figure");
  card.className = "timeline-track";
  card.dataset.track = String(trackId);
  const caption = document.createElement("figcaption");
  const canvas = document.createElement("canvas");
  card.append(caption, canvas);
  return { card, caption, canvas };
}

// The live view's timelines: the last windowS seconds of every face the stream tracks.
export class LiveTimeline {
  constructor(container, windowS = 30) {
    this.container = container;
    this.windowS = windowS;
    this.tracks = new Map(); // track id -> { points, card, caption, canvas }
  }

  clear() {
    this.tracks.clear();
    this.container.replaceChildren();
  }

  add(faces, nowS) {
    faces.forEach((face, i) => {
      const id = face.track_id ?? i + 1; // a server without tracking: order stands in for identity
      if (!this.tracks.has(id)) this.tracks.set(id, { points: [], ...trackCard(id) });
      this.tracks.get(id).points.push({ t: nowS, probabilities: face.probabilities || {} });
    });
    for (const [id, track] of this.tracks) {
      track.points = track.points.filter((point) => nowS - point.t <= this.windowS);
      if (!track.points.length) this.tracks.delete(id);
    }
    this.render(nowS);
  }

  render(nowS) {
    const cards = [...this.tracks.entries()].sort(([a], [b]) => a - b);
    this.container.replaceChildren(...(cards.length ? [legend()] : []), ...cards.map(([, track]) => track.card));
    for (const [id, track] of cards) {
      const latest = emotionSequence(track.points.slice(-1), 1)[0] || "";
      track.caption.textContent = `Face #${id}: ${latest}`;
      drawTimeline(track.canvas, track.points, nowS - this.windowS, nowS, {
        maxGap: 2, // seconds without this face: the line breaks
        startLabel: `${this.windowS} s ago`,
        endLabel: "now",
      });
    }
  }
}
