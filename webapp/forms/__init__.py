"""Flask-WTF forms; every form carries the CSRF token."""
