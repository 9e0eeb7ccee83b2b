"""mnpad's command line (``mnpad --help``)."""
