"""The ``cutout`` command line: one module per command (see :mod:`cutout.cli.main`)."""
