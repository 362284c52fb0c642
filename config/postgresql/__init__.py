"""PostgreSQL through psycopg, each transaction's BEGIN sent with its first statement.

psycopg opens a transaction by sending BEGIN on its own and waiting for the answer before it sends
the first statement: a round trip of its own for every transaction, 0.15 to 0.3 ms on a machine
like the ones this runs on, and a booking's step runs two transactions (the service's and the
orchestrator's). With client-side binding (Django's default) a statement travels by the simple
query protocol, which carries several statements in one message: the first statement of a
transaction goes as "BEGIN; <statement>", and the answer to BEGIN is read and set aside with the
statement's.

Only `execute` outside a pipeline carries the BEGIN; `executemany`, `copy`, `stream`, named
(server-side) cursors and pipelines let psycopg send its own, as ever.
"""
