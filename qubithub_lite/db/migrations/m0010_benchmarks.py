"""Benchmark runs (scores of runs submitted for a benchmark problem) and the calibration
snapshots of the emulated devices they ran on."""

from peewee import BooleanField, CharField, DateTimeField, FloatField, ForeignKeyField, IntegerField, Model, TextField

VERSION = 10


def upgrade(db):
    class Base(Model):
        class Meta:
            database = db
            legacy_table_names = False

    class User(Base):
        id = CharField(max_length=36, primary_key=True)

    class Circuit(Base):
        id = CharField(max_length=36, primary_key=True)

    class Run(Base):
        id = CharField(max_length=36, primary_key=True)

    class BenchmarkCalibration(Base):
        hash = CharField(max_length=64, primary_key=True)
        backend_name = CharField(max_length=64)
        data = TextField()
        created_at = DateTimeField()

    class BenchmarkRun(Base):
        run = ForeignKeyField(Run, primary_key=True, on_delete="CASCADE")
        user = ForeignKeyField(User, on_delete="CASCADE", index=True)
        circuit = ForeignKeyField(Circuit, on_delete="CASCADE", index=True)
        custom_circuit = BooleanField(default=False)
        suite_name = CharField(max_length=64)
        suite_version = CharField(max_length=32)
        problem_id = CharField(max_length=64)
        circuit_index = IntegerField(null=True)
        backend_name = CharField(max_length=64)
        width = IntegerField()
        depth = IntegerField()
        score = FloatField(null=True)
        hellinger_fidelity = FloatField(null=True)
        score_ci_low = FloatField(null=True)
        score_ci_high = FloatField(null=True)
        ideal = TextField(null=True)
        transpiled = TextField(null=True)
        calibration = ForeignKeyField(BenchmarkCalibration, null=True, on_delete="SET NULL", index=True)
        created_at = DateTimeField()
        scored_at = DateTimeField(null=True)

        class Meta:
            indexes = (
                (("suite_name", "suite_version", "problem_id", "score"), False),  # leaderboards
                (("backend_name", "score"), False),  # volumetric view
            )

    db.create_tables([BenchmarkCalibration, BenchmarkRun])
