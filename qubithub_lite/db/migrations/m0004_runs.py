"""Runs, their maintained statistics and the compile-once artifact cache."""

from peewee import (
    BigIntegerField, BlobField, CharField, DateTimeField, FloatField, ForeignKeyField, IntegerField, Model, TextField,
)

VERSION = 4


def upgrade(db):
    class Base(Model):
        class Meta:
            database = db
            legacy_table_names = False

    class User(Base):
        id = CharField(max_length=36, primary_key=True)

    class Circuit(Base):
        id = CharField(max_length=36, primary_key=True)

    class CircuitVersion(Base):
        id = CharField(max_length=36, primary_key=True)

    class Run(Base):
        id = CharField(max_length=36, primary_key=True)
        circuit = ForeignKeyField(Circuit, on_delete="CASCADE", index=True)
        circuit_version = ForeignKeyField(CircuitVersion, null=True, on_delete="SET NULL")
        user = ForeignKeyField(User, on_delete="CASCADE", index=True)
        backend_type = CharField(max_length=20)
        backend_name = CharField(max_length=64)
        status = CharField(max_length=12)
        shots = IntegerField()
        parameters = TextField(null=True)
        options = TextField(null=True)
        seed = BigIntegerField(null=True)
        results = TextField(null=True)
        metrics = TextField(null=True)
        error_class = CharField(max_length=24, null=True)
        error_message = TextField(null=True)
        attempts = IntegerField(default=0)
        timeout_seconds = FloatField(null=True)
        created_at = DateTimeField()
        queued_at = DateTimeField(null=True)
        started_at = DateTimeField(null=True)
        completed_at = DateTimeField(null=True)

        class Meta:
            indexes = ((("status", "created_at"), False), (("user", "status"), False), (("circuit", "created_at"), False))

    class RunStats(Base):
        scope = CharField(max_length=8)
        key = CharField(max_length=36)
        total_runs = IntegerField(default=0)
        pending_runs = IntegerField(default=0)
        queued_runs = IntegerField(default=0)
        running_runs = IntegerField(default=0)
        completed_runs = IntegerField(default=0)
        failed_runs = IntegerField(default=0)
        cancelled_runs = IntegerField(default=0)
        total_shots = BigIntegerField(default=0)
        total_execution_time = FloatField(default=0.0)

        class Meta:
            primary_key = False
            indexes = ((("scope", "key"), True),)

    class CompiledArtifact(Base):
        cache_key = CharField(max_length=64, primary_key=True)
        circuit_version = ForeignKeyField(CircuitVersion, on_delete="CASCADE", index=True)
        kind = CharField(max_length=24)
        data = BlobField(null=True)
        framework = CharField(max_length=20)
        num_qubits = IntegerField(default=0)
        info = TextField(null=True)
        created_at = DateTimeField()

    # The stub models above only name the existing tables for the foreign keys.
    db.create_tables([Run, RunStats, CompiledArtifact])
