"""Hot read queries run as prepared statements on PostgreSQL.

Django binds parameters on the client and turns psycopg's statement preparation off (poolers in
transaction mode lose prepared statements), so PostgreSQL plans every query afresh. For the
booking list's page query — a dozen joins and subqueries — planning took 0.65 ms against 0.3 ms
of execution, every request. ``fetch_all`` runs one query with server-side binding and
``prepare=True``: psycopg prepares it once per database connection (it keeps up to 100 per
connection, by query text, least recently used dropped) and afterwards only executes it.

Only queries whose text is fixed in the code (values as parameters) belong here. The query still
passes through Django's cursor wrapper: it is logged and counted (query budgets), the
``execute_wrapper`` hooks see it and database errors arrive as Django's (the 503 middleware).
``DATABASE_PREPARED_STATEMENTS=0`` turns it off, e.g. behind PgBouncer older than 1.21 in
transaction mode; other databases (SQLite) run the query plainly.
"""

import psycopg
from django.conf import settings
from django.db import connection
from django.db.backends.postgresql.base import CursorDebugWrapper
from django.db.backends.utils import CursorWrapper


class _Preparing:
    """Django's cursor wrapper executing with ``prepare=True`` (the one step it does not offer)."""

    def _execute(self, sql, params, *ignored_wrapper_args):
        self.db.validate_no_broken_transaction()
        with self.db.wrap_database_errors:
            return self.cursor.execute(sql, params, prepare=True)


class _PreparingCursor(_Preparing, CursorWrapper):
    pass


class _PreparingDebugCursor(_Preparing, CursorDebugWrapper):
    def execute(self, sql, params=None):
        # Logged as written: Django's reconstruction of the sent text knows client binding only.
        with self.debug_sql(sql, params):
            return CursorWrapper.execute(self, sql, params)


def _can_prepare() -> bool:
    """psycopg prepares nothing on a connection whose ``prepare_threshold`` is None (Django's
    default; the settings set it when DATABASE_PREPARED_STATEMENTS is on)."""
    connection.ensure_connection()
    return connection.connection.prepare_threshold is not None


def fetch_all(sql: str, params) -> list[tuple]:
    """The rows of ``sql`` (``%s`` placeholders) with ``params``, prepared on PostgreSQL."""
    if connection.vendor != "postgresql" or not settings.DATABASE_PREPARED_STATEMENTS or not _can_prepare():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    with connection.wrap_database_errors:
        # A server-side binding cursor on the connection Django holds: same transaction, same
        # adapters (aware datetimes, the connection's time zone).
        raw = psycopg.Cursor(connection.connection)
    wrapper = _PreparingDebugCursor if connection.queries_logged else _PreparingCursor
    with wrapper(raw, connection) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
