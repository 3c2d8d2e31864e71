# The tables of the shared test models must be in Base.metadata before the
# session database is created, whichever test module runs first.
import tests.db.models  # noqa: F401
