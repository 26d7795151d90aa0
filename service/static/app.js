// Entry point: service readiness, model metadata, then the live and upload panels.
import { LiveView } from "./live.js";
import { setEmotions } from "./render.js";
import { setupUpload } from "./upload.js";

const POLL_NOT_READY_MS = 2000;
const POLL_READY_MS = 10000;

function setStatus(kind, text) {
  const el = document.getElementById("service-status");
  el.className = `status ${kind}`;
  el.textContent = text;
}

// /v1/models may describe one model or list several; take the first with labels.
function findModel(meta) {
  const candidates = [meta, ...(Array.isArray(meta.models) ? meta.models : []), meta.model || {}];
  return candidates.find((m) => m && Array.isArray(m.labels)) || meta;
}

async function loadModelInfo() {
  try {
    const resp = await fetch("/v1/models");
    if (!resp.ok) return;
    const model = findModel(await resp.json());
    setEmotions(model.labels);
    if (model.name) {
      document.getElementById("model-name").textContent = `${model.name} ${model.version || ""}`.trim();
    }
  } catch {
    // Metadata is cosmetic: the default labels match the FER-2013 models.
  }
}

async function pollReadiness(wasReady) {
  let ready = false;
  try {
    const resp = await fetch("/readyz", { cache: "no-store" });
    ready = resp.ok;
    setStatus(ready ? "ok" : "bad", ready
      ? "Service ready"
      : "Service not ready: the model is still loading (checking again)…");
  } catch {
    setStatus("bad", "Service unreachable: is `python -m service` running? (checking again)…");
  }
  if (ready && !wasReady) loadModelInfo();
  setTimeout(() => pollReadiness(ready), ready ? POLL_READY_MS : POLL_NOT_READY_MS);
}

pollReadiness(false);
new LiveView();
setupUpload();
