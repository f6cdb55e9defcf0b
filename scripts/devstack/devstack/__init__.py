"""surveybot's development tooling: everything that starts, waits for and stops processes
(PostgreSQL clusters, gunicorn app nodes, nginx, the native stack), and the independent Open
Builder client (payloads and the reply checker) shared by the tests and the load tools."""
