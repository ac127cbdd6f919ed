"""HTML reports: QuantStats tear sheets (:mod:`.tearsheet`) and the comparison dashboard
(:mod:`.dashboard`), with shared matplotlib figures in :mod:`.plots`.

Import the submodules directly; this package imports nothing heavy on its own.
"""
