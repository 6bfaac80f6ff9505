"""Many trainings at once: a task executor (local processes or Dask) and TOML-defined sweeps."""
