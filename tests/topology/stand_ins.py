"""Stand-ins for what other parts of issue 13 build, used by the topology test.

A new practice has only its admin, and booking needs a clinician; Admin › Users
(invite by email) is being built elsewhere. Until it lands, the test adds the
clinician here, through the same settings as every other process:

    deploy/covered python -m tests.topology.stand_ins add-clinician EMAIL NAME

Replace with the invitation flow once it exists.
"""

import sys


def add_clinician(email: str, name: str) -> int:
    from sqlalchemy import select

    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import Organization, User
    from webapp.services.password_links import unusable_password_hash

    app = create_app()
    with app.app_context():
        org = db.session.scalars(select(Organization)).one()
        user = User(
            organization_id=org.id,
            email=email,
            name=name,
            role="clinician",
            password_hash=unusable_password_hash(),
        )
        db.session.add(user)
        db.session.commit()
        return user.id


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command != "add-clinician" or len(args) != 2:
        sys.exit("usage: python -m tests.topology.stand_ins add-clinician EMAIL NAME")
    print(add_clinician(*args))
