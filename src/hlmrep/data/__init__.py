"""The data stage: its inputs read and checked (:mod:`~hlmrep.data.inputs`), the prepared
table derived and written (:mod:`~hlmrep.data.prepare`, the ``prepare_data`` job), and the
prepared and per-school tables read back by the later stages (:mod:`~hlmrep.data.tables`).
"""
