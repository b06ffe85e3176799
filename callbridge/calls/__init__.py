"""Calls: the registry and state machine (ringing → active → ended), commands and events."""
