"""Background jobs on procrastinate: exports, scheduled deletions and the retention sweep.

Why procrastinate: it is a maintained job library whose queue is PostgreSQL itself (no broker to
run beside the database we already have), its jobs can be deferred in the same database, its
workers run as separate processes on any number of machines (`python -m jobs.worker`), it has
retries with backoff and cron-like periodic tasks built in, and its `InMemoryConnector` runs the
very same tasks inside the server process on the embedded SQLite default (`make run`).

The queue is never the only record of a promise: `models.jobs.ScheduledWork` is (see `work.py`).

The queue itself is `services/queue.py`; its two tasks are `tasks.py`, registered by the
composition root. Layer: above `resolvers/`, whose logic the jobs call; resolvers record work
in `scheduled_work` and never import jobs.
"""
