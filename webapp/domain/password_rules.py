"""The password policy: one function, `password_refusal`, that every form and service asks.

For now a length rule only (NIST SP 800-63B: at least 8 characters, accept at least
64; we ask for 12 and accept up to 256, which bounds the hashing work a request can
ask for). A stronger policy (zxcvbn, common-password lists) replaces this function
and keeps its signature.
"""

MIN_LENGTH = 12
MAX_LENGTH = 256


def password_refusal(password: str, *, email: str = "", name: str = "") -> str | None:
    """What is wrong with `password` as a new password, as a sentence; None when it is fine.

    `email` and `name` are the account's, for policies that refuse passwords made
    of them (unused by the length rule).
    """
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    return None
