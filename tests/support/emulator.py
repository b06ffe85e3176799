"""The emulator as a real process on 127.0.0.1, and a scene on top of it: the testing kit's."""

from callbridge.testing import Emulator as EmulatorProcess
from callbridge.testing import Scene

__all__ = ["EmulatorProcess", "Scene"]
