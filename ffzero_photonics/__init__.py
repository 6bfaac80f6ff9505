"""ffzero-photonics: photonic neural-network chips as S-parameter netlists, trained forward-only (FFzero)."""

__version__ = "0.1.0"

_LAZY = ("pdk", "verify", "components", "layouts")


def __getattr__(name: str):
    """Import heavy submodules (gdsfactory, sax) on first use: ``ffzero_photonics.pdk.PDK.activate()``."""
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
