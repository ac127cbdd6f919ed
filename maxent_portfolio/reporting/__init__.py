"""HTML reports: QuantStats tear sheets (:mod:`.tearsheet`) and the comparison dashboard
(:mod:`.dashboard`), with shared matplotlib figures in :mod:`.plots`; :mod:`.render` writes a
run's whole report, fresh (:func:`.render.render_run`) or from its stored files
(:func:`.render.rerender`).

Import the submodules directly; this package imports nothing heavy on its own.
"""
