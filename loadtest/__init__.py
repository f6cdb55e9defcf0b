"""Load tests and benchmark tools for surveybot (see loadtest/README.md)."""
