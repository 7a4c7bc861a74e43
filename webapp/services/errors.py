"""`Refused`: what every use case raises when its own rules refuse an action.

Nothing was changed when it is raised. Each service names its kind (ChargeRefused,
ActionRefused, …) so a view catches the refusals of the action it called, and
`webapp.views.rendering.answer_refused` answers every kind the same way: the
message next to the action, with the error's HTTP status.
"""


class Refused(Exception):
    """An action the rules refuse; nothing was changed.

    `message` is for the person, in their words; `field` names the form field it
    belongs to, when there is one; `status` is the HTTP status a view answers with
    (409: the request was well formed, the record's state refuses it).
    """

    status = 409

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
