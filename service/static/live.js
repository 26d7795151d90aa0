// Live view: webcam -> JPEG frames over WebSocket /stream -> boxes and bars.
// The send rate follows the server: a new frame goes out only while fewer than
// MAX_IN_FLIGHT are unanswered, so a slow CPU model is never buried in a queue.
import { drawFaces, renderFaceCards } from "./render.js";
import { LiveTimeline } from "./timeline.js";

const MAX_IN_FLIGHT = 2;
const FRAME_WIDTH = 640; // frames are downscaled to at most this width before encoding
const JPEG_QUALITY = 0.8;
const STALL_MS = 4000; // a frame unanswered this long is counted lost, so sending resumes
const FPS_WINDOW_MS = 3000;

const CAMERA_ERRORS = {
  NotAllowedError: "Camera access was refused. Allow the camera for this page in the browser's site settings, then press Start again.",
  SecurityError: "Camera access was refused. Allow the camera for this page in the browser's site settings, then press Start again.",
  NotFoundError: "No camera was found. Connect one and press Start again, or use the photo upload below.",
  NotReadableError: "The camera is in use by another application.",
};

export class LiveView {
  constructor() {
    const $ = (id) => document.getElementById(id);
    this.els = {
      start: $("start"), stop: $("stop"), smoothing: $("smoothing"), detector: $("detector"), video: $("video"),
      overlay: $("overlay"), faces: $("faces"), message: $("live-message"),
      fps: $("fps"), latency: $("latency"), rtt: $("rtt"), dropped: $("dropped"),
    };
    this.timeline = new LiveTimeline($("timeline"));
    this.canvas = document.createElement("canvas"); // off-screen, for JPEG encoding
    this.running = false;
    this.els.start.addEventListener("click", () => this.start());
    this.els.stop.addEventListener("click", () => this.stop());
    this.els.smoothing.addEventListener("change", () => this.sendControl());
    this.els.detector.addEventListener("change", () => this.sendControl());
  }

  say(text) {
    this.els.message.textContent = text;
  }

  async start() {
    if (this.running) return;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      this.say("This browser gives no camera access here: open the page over HTTPS or on localhost.");
      return;
    }
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false,
      });
    } catch (err) {
      this.say(CAMERA_ERRORS[err.name] || `The camera could not be started: ${err.message}`);
      return;
    }
    this.els.video.srcObject = this.stream;
    await this.els.video.play();
    this.running = true;
    this.els.start.disabled = true;
    this.els.stop.disabled = false;
    this.say("Connecting to the service…");
    this.timeline.clear();
    this.resetStats();
    this.connect();
    // A safety net: replies drive the pump, this timer recovers from lost frames.
    this.timer = setInterval(() => this.tick(), 100);
  }

  stop() {
    this.running = false;
    clearInterval(this.timer);
    if (this.ws) this.ws.close();
    if (this.stream) this.stream.getTracks().forEach((t) => t.stop());
    this.els.video.srcObject = null;
    this.els.start.disabled = false;
    this.els.stop.disabled = true;
    this.clearOverlay();
    this.els.fps.textContent = "0.0";
    this.say("Camera stopped.");
  }

  resetStats() {
    this.seq = 0; // frames sent on the current connection
    this.pending = new Map(); // frame id -> send time
    this.answered = []; // reply times within FPS_WINDOW_MS
  }

  connect() {
    const url = new URL("/stream", window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(url);
    this.ws = ws;
    this.resetStats();
    ws.onopen = () => {
      this.sendControl();
      this.pump();
    };
    ws.onmessage = (ev) => this.onReply(ev.data);
    ws.onclose = () => this.onClose(ws);
  }

  // A refused handshake looks like any other close, so ask /readyz what went wrong.
  async onClose(ws) {
    if (!this.running || this.ws !== ws) return;
    const ready = await fetch("/readyz", { cache: "no-store" }).then((r) => r.ok, () => false);
    this.say(ready
      ? "Lost the connection to the service. Reconnecting…"
      : "The service is not ready (the model is loading, or the server is down). Retrying…");
    setTimeout(() => this.running && this.ws === ws && this.connect(), 1500);
  }

  sendControl() {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      const control = { smoothing: this.els.smoothing.checked };
      // An empty choice keeps the server's default detector (FER_DETECTOR).
      if (this.els.detector.value) control.detector = this.els.detector.value;
      this.ws.send(JSON.stringify(control));
    }
  }

  tick() {
    const now = performance.now();
    for (const [id, sent] of this.pending) {
      if (now - sent > STALL_MS) this.pending.delete(id);
    }
    this.updateFps(now);
    this.pump();
  }

  pump() {
    const { video } = this.els;
    if (!this.running || this.encoding || this.pending.size >= MAX_IN_FLIGHT) return;
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || !video.videoWidth) return;
    const scale = Math.min(1, FRAME_WIDTH / video.videoWidth);
    this.canvas.width = Math.round(video.videoWidth * scale);
    this.canvas.height = Math.round(video.videoHeight * scale);
    this.canvas.getContext("2d").drawImage(video, 0, 0, this.canvas.width, this.canvas.height);
    this.encoding = true;
    const ws = this.ws;
    this.canvas.toBlob((blob) => {
      this.encoding = false;
      if (!blob || ws !== this.ws || ws.readyState !== WebSocket.OPEN) return;
      this.seq += 1;
      this.pending.set(this.seq, performance.now());
      ws.send(blob);
      this.pump();
    }, "image/jpeg", JPEG_QUALITY);
  }

  onReply(data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (msg.error || !Array.isArray(msg.faces)) {
      if (Number.isFinite(msg.frame_id)) this.settle(msg.frame_id);
      this.say(`The service could not process a frame: ${msg.error || "unexpected reply"}`);
      this.pump();
      return;
    }
    const now = performance.now();
    const sent = this.settle(msg.frame_id);
    this.answered.push(now);
    this.updateFps(now);
    this.els.latency.textContent = Number.isFinite(msg.latency_ms) ? msg.latency_ms.toFixed(0) : "–";
    if (sent !== undefined) this.els.rtt.textContent = (now - sent).toFixed(0);
    if (Number.isFinite(msg.dropped)) this.els.dropped.textContent = String(msg.dropped);
    this.render(msg);
    this.pump();
  }

  // The server keeps only the newest frame, so a reply for frame N also means
  // every older unanswered frame was dropped: none of them is in flight any more.
  // Ids match because both sides count this connection's frames from 1.
  settle(frameId) {
    const sent = this.pending.get(frameId);
    for (const id of this.pending.keys()) {
      if (id <= frameId) this.pending.delete(id);
    }
    return sent;
  }

  updateFps(now) {
    this.answered = this.answered.filter((t) => now - t <= FPS_WINDOW_MS);
    const n = this.answered.length;
    // Over a full window when stalled, so the figure decays to zero instead of freezing.
    const span = n >= 2 ? Math.max(now - this.answered[0], 1000) : FPS_WINDOW_MS;
    this.els.fps.textContent = (n >= 2 ? ((n - 1) * 1000) / span : 0).toFixed(1);
  }

  clearOverlay() {
    const { overlay } = this.els;
    overlay.getContext("2d").clearRect(0, 0, overlay.width, overlay.height);
  }

  render(msg) {
    const { overlay, video } = this.els;
    // Boxes are in the sent frame's pixels; the video may be shown at another size.
    overlay.width = video.clientWidth;
    overlay.height = video.clientHeight;
    const img = msg.image || { width: this.canvas.width, height: this.canvas.height };
    this.clearOverlay();
    drawFaces(overlay.getContext("2d"), msg.faces, overlay.width / img.width, overlay.height / img.height);
    renderFaceCards(this.els.faces, msg.faces);
    this.timeline.add(msg.faces, performance.now() / 1000);
    this.say(msg.faces.length
      ? `${msg.faces.length} face(s) found.`
      : "No face found. Face the camera in good, even light.");
  }
}
