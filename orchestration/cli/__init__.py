"""`elt`, the command line (`main.py`, its entry point `main`): one `cmd_<group>.py` per command
or command group; `_policy.py` is the error policy they share, `_output.py` how they print,
`_options.py` the options several take, `_prepare.py` the work `elt prepare` does ahead of runs.
"""
