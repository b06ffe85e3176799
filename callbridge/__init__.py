"""callbridge: speak and listen on live WhatsApp voice calls from a browser."""

__version__ = "0.1.0"
