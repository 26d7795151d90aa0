"""FER inference service: FastAPI + ONNX Runtime."""
