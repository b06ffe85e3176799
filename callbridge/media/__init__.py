"""Media: the WebRTC legs of a call (aiortc), and what moves audio between them."""
