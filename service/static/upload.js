// Upload panel: several images at once (picker or drag and drop) -> POST
// /predict/batch -> one card per image with its boxes and bars; a video -> its timeline.
import { drawFaces, renderFaceCards } from "./render.js";
import { analyseVideo, drawCharts, isVideo } from "./video.js";

const MAX_PREVIEW_WIDTH = 360;

function errorText(status, detail) {
  if (status === 503) return "The service is not ready yet (the model is loading). Try again in a moment.";
  if (status === 413) return "The upload is too large.";
  return typeof detail === "string" ? detail : `The service answered HTTP ${status}.`;
}

async function previewCanvas(file, result) {
  const canvas = document.createElement("canvas");
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, MAX_PREVIEW_WIDTH / bitmap.width);
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  const ctx = canvas.getContext("2d");
  ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  // Scale from the size the server decoded, which may differ from the bitmap.
  const img = result.image || { width: bitmap.width, height: bitmap.height };
  drawFaces(ctx, result.faces, canvas.width / img.width, canvas.height / img.height);
  return canvas;
}

async function resultCard(result, file) {
  const card = document.createElement("figure");
  card.className = "result";
  const caption = document.createElement("figcaption");
  caption.textContent = result.filename || (file && file.name) || "image";
  card.append(caption);
  const note = document.createElement("p");
  note.className = "message";
  if (result.error) {
    card.classList.add("failed");
    note.textContent = errorText(result.error.status, result.error.detail);
    card.append(note);
    return card;
  }
  if (file) {
    try {
      card.append(await previewCanvas(file, result));
    } catch {
      // The server decoded it but this browser cannot: still show the numbers.
    }
  }
  if (!result.faces.length) {
    note.textContent = "No face found in this image.";
    card.append(note);
  }
  const faces = document.createElement("div");
  faces.className = "faces";
  renderFaceCards(faces, result.faces);
  card.append(faces);
  return card;
}

// One card per image from a single /predict/batch request; { cards, found } or { error }.
async function imageCards(images) {
  const form = new FormData();
  images.forEach((f) => form.append("files", f, f.name));
  const resp = await fetch("/predict/batch", { method: "POST", body: form });
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) return { error: errorText(resp.status, data.detail) };
  const cards = await Promise.all(data.results.map((r, i) => resultCard(r, images[i])));
  const found = data.results.reduce((n, r) => n + (r.faces ? r.faces.length : 0), 0);
  return { cards, found, count: data.results.length };
}

async function uploadFiles(files, els) {
  const videos = [...files].filter(isVideo);
  const images = [...files].filter((f) => !isVideo(f) && (!f.type || f.type.startsWith("image/")));
  if (!images.length && !videos.length) {
    els.message.textContent = "Those files are not images or videos.";
    return;
  }
  els.message.textContent = `Analysing ${images.length} image(s) and ${videos.length} video(s)…`;
  els.results.setAttribute("aria-busy", "true");
  try {
    const photos = images.length ? await imageCards(images) : { cards: [], found: 0, count: 0 };
    if (photos.error) {
      els.message.textContent = photos.error;
      return;
    }
    const clips = [];
    for (const video of videos) clips.push(await analyseVideo(video)); // one at a time: videos are long jobs
    els.results.replaceChildren(...clips, ...photos.cards);
    clips.forEach(drawCharts);
    const parts = [];
    if (images.length) parts.push(`${photos.count} image(s) analysed, ${photos.found} face(s) found`);
    if (videos.length) parts.push(`${videos.length} video(s) analysed`);
    els.message.textContent = `${parts.join("; ")}.`;
  } catch (err) {
    els.message.textContent = `Could not reach the service: ${err.message}`;
  } finally {
    els.results.removeAttribute("aria-busy");
  }
}

export function setupUpload() {
  const els = {
    input: document.getElementById("upload-input"),
    zone: document.getElementById("dropzone"),
    message: document.getElementById("upload-message"),
    results: document.getElementById("upload-results"),
  };
  els.input.addEventListener("change", () => {
    if (els.input.files.length) uploadFiles(els.input.files, els);
  });
  for (const type of ["dragenter", "dragover"]) {
    els.zone.addEventListener(type, (ev) => {
      ev.preventDefault();
      els.zone.classList.add("dragging");
    });
  }
  els.zone.addEventListener("dragleave", () => els.zone.classList.remove("dragging"));
  els.zone.addEventListener("drop", (ev) => {
    ev.preventDefault();
    els.zone.classList.remove("dragging");
    uploadFiles(ev.dataTransfer.files, els);
  });
}
