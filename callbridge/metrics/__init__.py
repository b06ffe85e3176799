"""Prometheus metrics (``GET /metrics``): instruments fed by events (``instruments``, ``call_events``), and figures
read from the gateway's state at scrape time (``collector``, ``scrape``)."""
