"""Studies that train many models and write tables and figures (``ffzero study ...``)."""
