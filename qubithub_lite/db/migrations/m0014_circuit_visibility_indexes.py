"""Indexes for the private branches of a signed-in list (``Visibility.branches``): the
caller's private circuits and their organizations' private circuits are found without
reading the public ones."""

VERSION = 14


def upgrade(db):
    db.execute_sql('CREATE INDEX IF NOT EXISTS "circuit_owner_id_is_public" ON "circuit" ("owner_id", "is_public")')
    db.execute_sql(
        'CREATE INDEX IF NOT EXISTS "circuit_organization_id_is_public" ON "circuit" ("organization_id", "is_public")')
