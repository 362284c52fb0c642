"""Services: declared once (declaration.py), registered at start-up (registry.py), run by their
workers (runner.py, batches.py), keeping one record per idempotency key (records.py). A service that
reserves and cancels something is declared by `reservations.reservation_service`."""
