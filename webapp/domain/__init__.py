"""Pure business rules: no Flask, no SQLAlchemy, time passed in."""
