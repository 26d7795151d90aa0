# FER inference service: FastAPI + ONNX Runtime, no TensorFlow.
#   docker build -t fer-service .
#   docker run -p 8000:8000 fer-service
# Override the baked-in model with a bind mount (see deploy/README.md):
#   docker run -p 8000:8000 -v "$PWD/model_store:/app/model_store:ro" -e FER_MODEL_VERSION=1.1.0 fer-service
# tests/deploy/test_deploy_dockerfile.py replays the pip install and CMD lines below in a
# fresh venv, so keep installs as plain `pip install` RUN lines and CMD in exec form.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: resolve and install the serving dependencies into a self-contained venv ----
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH"
WORKDIR /src
# Only what `pip install .` needs: the base install is the service (the train/dev/demo
# extras, TensorFlow among them, are never installed here).
COPY pyproject.toml README.md ./
COPY service/ service/
RUN pip install --no-cache-dir .

# ---- runtime: the venv, the committed model and nothing else ----
FROM ${PYTHON_IMAGE} AS runtime
# A fixed uid/gid so bind-mounted model stores can be made readable with a known owner.
RUN groupadd --system --gid 10001 fer \
    && useradd --system --uid 10001 --gid fer --home-dir /app --no-create-home --shell /usr/sbin/nologin fer
COPY --from=build /opt/venv /opt/venv
# The committed model, baked in. A bind mount on /app/model_store replaces it; no VOLUME on
# purpose: compose keeps anonymous volumes across rebuilds and would keep serving a stale model.
COPY model_store/ /app/model_store/
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FER_HOST=0.0.0.0 \
    FER_PORT=8000 \
    FER_MODEL_STORE=/app/model_store \
    FER_MODEL_NAME=fer_cnn_snap \
    FER_MODEL_VERSION=latest \
    FER_WORKERS=1 \
    FER_ORT_INTRA_OP_THREADS=2 \
    OMP_NUM_THREADS=2
WORKDIR /app
# Numeric, so runtimes that enforce non-root (Kubernetes runAsNonRoot) can verify it.
USER 10001:10001
EXPOSE 8000
# slim has no curl: probe /readyz (200 once the model is loaded and warm) with the stdlib.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('FER_PORT', '8000') + '/readyz', timeout=2)"]
# Host, port, model, workers and ONNX Runtime threads come from the FER_* env above (see
# service/settings.py). Threads are pinned rather than left to ONNX Runtime, which would size
# its pool by the host's cores, not the container's CPU limit: keep
# FER_WORKERS x FER_ORT_INTRA_OP_THREADS <= the CPUs given to the container.
CMD ["python", "-m", "service"]
