"""Meta's official Cloud API Calling: Graph API client, webhook receiver and SDP rules."""
