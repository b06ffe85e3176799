"""The gateway as a real process on 127.0.0.1: the testing kit's, under the name the tests use."""

from callbridge.testing import Gateway as GatewayProcess

__all__ = ["GatewayProcess"]
