"""A stand-in for Meta's Graph API calling endpoints and for the WhatsApp users on the far end.

It shares no code with the gateway: the gateway must not be able to tell it from graph.facebook.com.
"""
