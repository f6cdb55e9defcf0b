"""Baseline programs measured beside surveybot, each a WSGI app (`loadtest.baselines.<name>:app`)."""
