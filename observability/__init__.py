"""What the running API tells its operators: Prometheus metrics (`metrics.py`, one list of every
metric and the helpers that count) and where they are scraped (`exposition.py`: `/metrics`
behind `METRICS_TOKEN`, or a listener of its own). See docs/metrics.md and docs/observability.md.

Layer: below `database` (so that every layer, the database engines included, can count) and
above `core`. It imports nothing of ours but `core`: no model, no service, no request object.
"""
