"""Realistic history in bulk, for measuring the console at scale (`manage.py seed_history`).

1. `trips` rehearses a few hundred trips through the engine's real rules (`orchestrator.rehearsals`)
   under a fault profile, with what each service did, using placeholders for everything that
   differs between two bookings.
2. `templates` turns each rehearsed trip into COPY rows with format fields for those placeholders.
3. `stamping` fills them in for each new process (ids, reference, customer, codes, message ids,
   times spread over weeks) and streams the rows into PostgreSQL with COPY, batch by batch.
"""
