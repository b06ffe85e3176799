"""Connectors: how the gateway reaches WhatsApp. Each one yields WhatsApp legs that media/ can bridge."""
