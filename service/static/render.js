// Drawing shared by the live view and the upload results: boxes on a canvas and
// one card of 7 probability bars per face.

// The model's label order; replaced by /v1/models once the service answers so a
// retrained model with other labels still renders every bar.
export let EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"];

export function setEmotions(labels) {
  if (Array.isArray(labels) && labels.length) EMOTIONS = labels.slice();
}

const COLORS = {
  angry: "#e5484d", disgust: "#46a758", fear: "#8e4ec6", happy: "#f5b000",
  sad: "#3e63dd", surprise: "#f76b15", neutral: "#8b8d98",
};

export function colorFor(emotion) {
  return COLORS[emotion] || "#12a594";
}

const pct = (p) => `${Math.round((p || 0) * 100)}%`;

// Boxes arrive in the coordinates of the image the server decoded; scale them to
// the size the canvas is drawn at.
export function drawFaces(ctx, faces, scaleX, scaleY) {
  ctx.lineWidth = 3;
  ctx.font = "bold 15px system-ui, sans-serif";
  ctx.textBaseline = "bottom";
  faces.forEach((face, i) => {
    const { x, y, w, h } = face.box;
    const color = colorFor(face.emotion);
    ctx.strokeStyle = color;
    ctx.strokeRect(x * scaleX, y * scaleY, w * scaleX, h * scaleY);
    const text = `#${i + 1} ${face.emotion} ${pct(face.confidence)}`;
    const tw = ctx.measureText(text).width + 8;
    const ty = Math.max(20, y * scaleY);
    ctx.fillStyle = color;
    ctx.fillRect(x * scaleX - 1.5, ty - 20, tw, 20);
    ctx.fillStyle = "#fff";
    ctx.fillText(text, x * scaleX + 3, ty - 2);
    drawLandmarks(ctx, face.landmarks, scaleX, scaleY, color);
  });
}

// Keypoints (eyes, nose, mouth, ears) come only from detectors that find them (blazeface).
function drawLandmarks(ctx, landmarks, scaleX, scaleY, color) {
  if (!landmarks) return;
  ctx.fillStyle = color;
  for (const point of Object.values(landmarks)) {
    ctx.beginPath();
    ctx.arc(point.x * scaleX, point.y * scaleY, 3, 0, 2 * Math.PI);
    ctx.fill();
  }
}

function barRow(emotion, prob, isTop) {
  const row = document.createElement("div");
  row.className = isTop ? "bar top" : "bar";
  row.dataset.emotion = emotion;
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = emotion;
  const track = document.createElement("span");
  track.className = "track";
  const fill = document.createElement("span");
  fill.className = "fill";
  fill.style.width = pct(prob);
  fill.style.background = colorFor(emotion);
  track.append(fill);
  const value = document.createElement("span");
  value.className = "value";
  value.textContent = pct(prob);
  row.append(name, track, value);
  return row;
}

export function faceCard(face, index) {
  const card = document.createElement("div");
  card.className = "face-card";
  const title = document.createElement("h3");
  title.textContent = `Face #${index + 1}: ${face.emotion} (${pct(face.confidence)})`;
  card.append(title);
  const probs = face.probabilities || {};
  for (const emotion of EMOTIONS) {
    card.append(barRow(emotion, probs[emotion], emotion === face.emotion));
  }
  return card;
}

export function renderFaceCards(container, faces) {
  container.replaceChildren(...faces.map(faceCard));
}
