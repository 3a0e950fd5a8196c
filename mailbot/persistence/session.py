"""What services need of the database layer to hold a transaction: the ORM session, the
factory that opens one, and the two errors they tell apart."""

from __future__ import annotations

from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

Sessions = sessionmaker[Session]
# Another writer stored the same row at the same moment: roll back and look again.
WriteConflict = IntegrityError
# One value does not fit (too long for its column, a NUL byte PostgreSQL text refuses):
# the problem of the one mail that brought it, not of the database.
UnstorableValue = DataError
# The database itself failed (down, disk full): stop the pass, try again later.
DatabaseError = SQLAlchemyError

__all__ = ["DatabaseError", "Session", "Sessions", "UnstorableValue", "WriteConflict"]
