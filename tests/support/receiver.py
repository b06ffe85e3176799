"""A real webhook receiver that records deliveries and can fail or go away on demand: the testing kit's."""

from callbridge.testing import Delivery
from callbridge.testing import WebhookReceiver as Receiver

__all__ = ["Delivery", "Receiver"]
