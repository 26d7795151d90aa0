"""Offline training package: FER-2013 -> Keras CNN -> evaluated ONNX model."""
