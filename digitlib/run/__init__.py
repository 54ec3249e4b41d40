"""The command line's process: runs notebooks with papermill, renders them, keeps the reports folder and its
index, sweeps (here or on Dask), tracks in MLflow. Light at import: the science is imported by the commands
that need it, never by this wing's modules when they load (tests/test_cli_light.py; make lint)."""
