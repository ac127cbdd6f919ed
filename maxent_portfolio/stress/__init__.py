"""``maxent-portfolio stress``: a finished run's strategies re-evaluated on scenario markets.

:mod:`.config` holds the options (light, for the CLI), :mod:`.evaluate` the evaluation of
scenarios and :mod:`.run` the resumable ``RUN_DIR/stress/`` directory and its outputs.
"""
