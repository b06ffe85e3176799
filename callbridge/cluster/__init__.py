"""Several gateway processes (nodes) on one PostgreSQL database: who owns which call, requests forwarded to the
owner, a node's heartbeat, draining on SIGTERM, and the calls of a lost node ended by a survivor."""
