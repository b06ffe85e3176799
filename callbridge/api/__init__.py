"""The HTTP API: WaGo-compatible routes, auth, envelope and request models."""
