"""Hand-written KFP pipelines equivalent to the notebooks Chard compiles (see ../test_kfp_sdk.py)."""
