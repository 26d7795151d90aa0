"""HTTP and WebSocket API: one router per resource under :mod:`service.api.routes`."""
