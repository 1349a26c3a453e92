"""One module per ``vizcnn`` subcommand; see :mod:`vizcnn.cli`."""
