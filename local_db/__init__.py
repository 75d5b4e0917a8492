"""Local encrypted store (SQLCipher + SQLAlchemy). No Qt, nothing else of ours."""
