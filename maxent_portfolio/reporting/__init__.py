"""HTML reports: QuantStats tear sheets (:mod:`.tearsheet`), the comparison dashboard
(:mod:`.dashboard`, built from :mod:`.series`, :mod:`.formatting` and :mod:`.fragments`) and a
sweep's frontier page (:mod:`.frontier`), both on the escaping and Jinja set-up of
:mod:`.templating`, with shared matplotlib figures in :mod:`.plots`; :mod:`.render` writes a
run's whole report, fresh (:func:`.render.render_run`) or from its stored files
(:func:`.render.rerender`).

Import the submodules directly; this package imports nothing heavy on its own.
"""
