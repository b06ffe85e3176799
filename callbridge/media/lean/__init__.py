"""The lean packet path: once a leg's DTLS is up, its SRTP packets are read, forwarded and written here, without
aiortc's per-packet tasks (issue 16). aiortc keeps ICE, the DTLS handshake (SRTP keys) and SDP."""
