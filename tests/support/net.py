"""Ports and waiting: the testing kit's."""

from callbridge.testing import free_port, wait_until

__all__ = ["free_port", "wait_until"]
