"""The password policy: one function, `password_refusal`, that every form and service asks.

Two rules, in this order:

1. Length (NIST SP 800-63B §5.1.1.2: at least 8 characters, accept at least 64):
   we ask for 12 and accept up to 256, which bounds the hashing work a request can
   ask for.
2. Guessability, by zxcvbn (Dropbox's estimator, the `zxcvbn` package): it knows
   the common-password lists, dictionary words, names, keyboard walks, repeats,
   sequences and dates, and the account's own email and name (passed in as
   `email`/`name`, with the practice's name when the caller has it). A password
   it scores below MIN_SCORE (3 of 4: "safely unguessable: moderate protection
   from offline slow-hash scenario", about 10^8 guesses or more) is refused with
   zxcvbn's own feedback, so the person learns what to change.

zxcvbn looks at the first ZXCVBN_MAX_LENGTH characters (its own default bound: the
estimate's work grows fast with length); a longer password is judged by them.
"""

import threading

from zxcvbn import zxcvbn

MIN_LENGTH = 12
MAX_LENGTH = 256
MIN_SCORE = 3
ZXCVBN_MAX_LENGTH = 72
WEAK = "This password is easy to guess."
ADVICE = "Add another word or two that are not common together."

# zxcvbn keeps the caller's words in a module-level dictionary while it scores, so two
# threads scoring at once could see each other's words: one at a time.
_scoring = threading.Lock()


def _words(*texts: str) -> list[str]:
    """The account's own words zxcvbn should treat as known: the texts and their parts."""
    words = []
    for text in texts:
        text = (text or "").strip().lower()
        if not text:
            continue
        words += [text, "".join(text.split())]
        for part in text.replace("@", " ").replace(".", " ").replace("-", " ").split():
            if len(part) >= 3:
                words.append(part)
    return words


def password_refusal(
    password: str, *, email: str = "", name: str = "", organization: str = ""
) -> str | None:
    """What is wrong with `password` as a new password, as a sentence; None when it is fine.

    `email`, `name` and `organization` are the account's: a password made of them is
    easy to guess for anyone who knows the person.
    """
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    with _scoring:
        result = zxcvbn(password[:ZXCVBN_MAX_LENGTH], user_inputs=_words(email, name, organization))
    if result["score"] >= MIN_SCORE:
        return None
    feedback = result.get("feedback") or {}
    sentences = [feedback.get("warning") or WEAK, *(feedback.get("suggestions") or [ADVICE])]
    return " ".join(sentence.strip() for sentence in sentences if sentence.strip())
