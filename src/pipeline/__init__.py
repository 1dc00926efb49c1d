"""The DPP platform's delivery pipeline: one check plan, run by Dagger or natively.

`Pipeline` (the Dagger module's main object) is imported lazily so that the
native CLI never imports dagger.
"""


def __getattr__(name: str):
    if name == "Pipeline":
        from pipeline.main import Pipeline

        return Pipeline
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
