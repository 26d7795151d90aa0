// Video upload: POST /predict/video -> one timeline chart per tracked face, over the whole video.
import { drawTimeline, emotionSequence, legend, trackCard } from "./timeline.js";

// Every 2nd frame: 15 analysed frames per second of a 30 fps video, enough for a smooth timeline
// and half the server time.
const EVERY = 2;
const VIDEO_SUFFIXES = /\.(mp4|m4v|mov|webm|mkv|avi)$/i;

export function isVideo(file) {
  return (file.type || "").startsWith("video/") || VIDEO_SUFFIXES.test(file.name);
}

function videoErrorText(status, detail) {
  if (status === 503) return "The service is busy or not ready yet. Try again in a moment.";
  return typeof detail === "string" ? detail : `The service answered HTTP ${status}.`;
}

// Rows of the answer grouped by track, as timeline points.
function tracksOf(result) {
  const tracks = new Map();
  for (const row of result.rows) {
    if (!tracks.has(row.track_id)) tracks.set(row.track_id, []);
    tracks.get(row.track_id).push({ t: row.time_s, probabilities: row.probabilities });
  }
  return tracks;
}

function timelineCard(file, result) {
  const tracks = tracksOf(result);
  const { video } = result;
  const summary = `${video.sampled_frames} of ${video.frames} frames analysed, ${tracks.size} face track(s).`;
  const card = captionedCard(file, "result video", summary);
  if (tracks.size) card.append(legend());
  const end = Math.max(video.duration_s, ...result.rows.map((row) => row.time_s), 0.1);
  const maxGap = (2.5 * video.every) / (video.fps || 10);
  for (const [id, points] of tracks) {
    const chart = trackCard(id);
    chart.caption.textContent = `Face #${id}: ${emotionSequence(points).join(" → ")}`;
    card.append(chart.card);
    chart.draw = () => drawTimeline(chart.canvas, points, 0, end, { maxGap });
    card.charts = [...(card.charts || []), chart];
  }
  return card;
}

// Returns the result card; its charts are drawn once it is on the page (they size to it).
export async function analyseVideo(file) {
  const form = new FormData();
  form.append("file", file, file.name);
  try {
    const resp = await fetch(`/predict/video?every=${EVERY}`, { method: "POST", body: form });
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) return failedCard(file, videoErrorText(resp.status, data.detail));
    return timelineCard(file, data);
  } catch (err) {
    return failedCard(file, `Could not reach the service: ${err.message}`);
  }
}

function failedCard(file, text) {
  return captionedCard(file, "result video failed", text);
}

function captionedCard(file, className, text) {
  const card = document.createElement("figure");
  card.className = className;
  const caption = document.createElement("figcaption");
  caption.textContent = file.name;
  const note = document.createElement("p");
  note.className = "message";
  note.textContent = text;
  card.append(caption, note);
  return card;
}

export function drawCharts(card) {
  for (const chart of card.charts || []) chart.draw();
}
