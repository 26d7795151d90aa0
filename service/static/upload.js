// Upload panel: several images at once (picker or drag and drop) -> POST
// /predict/batch -> one card per image with its boxes and bars.
import { drawFaces, renderFaceCards } from "./render.js";

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

async function uploadFiles(files, els) {
  const images = [...files].filter((f) => !f.type || f.type.startsWith("image/"));
  if (!images.length) {
    els.message.textContent = "Those files are not images.";
    return;
  }
  const form = new FormData();
  images.forEach((f) => form.append("files", f, f.name));
  els.message.textContent = `Analysing ${images.length} image(s)…`;
  els.results.setAttribute("aria-busy", "true");
  try {
    const resp = await fetch("/predict/batch", { method: "POST", body: form });
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) {
      els.message.textContent = errorText(resp.status, data.detail);
      return;
    }
    const cards = await Promise.all(data.results.map((r, i) => resultCard(r, images[i])));
    els.results.replaceChildren(...cards);
    const found = data.results.reduce((n, r) => n + (r.faces ? r.faces.length : 0), 0);
    els.message.textContent = `${data.results.length} image(s) analysed, ${found} face(s) found.`;
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
