"""ffzero-photonics: photonic neural-network chips as S-parameter netlists, trained forward-only (FFzero)."""

__version__ = "0.2.0"
