"""Real servers and helpers for the tests: the gateway as a process, webhook receivers, stand-ins."""
