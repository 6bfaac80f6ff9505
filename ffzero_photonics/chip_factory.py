"""A chip configuration plus the drawn layout's geometry -> PhotonicChip (the one place a simulated chip meets its layout).

photonic/ must not import the layout package; this module sits above both and injects the drawn
heater positions (thermal crosstalk, routed length per column) where the configuration asks for them.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from .photonic.chip import PhotonicChip
from .photonic.chip_config import ChipConfig, build_chip
from .photonic.nonideal_config import as_config
from .photonic.physical import Physics

__all__ = ["build_chip_from_config", "layout_positions_for", "with_layout"]


def layout_positions_for(physics: Physics | Mapping | None, nonideal: Any = None) -> Callable | None:
    """``heater_positions_for`` of the layout package when the physics or the crosstalk effect places heaters by layout."""
    wants = (physics is not None and Physics.from_dict(physics).thermal.positions == "layout") or (
        as_config(nonideal).crosstalk.enabled and as_config(nonideal).crosstalk.positions == "layout")
    if not wants:
        return None
    from .layouts.floorplan import heater_positions_for  # imports gdsfactory; only when the layout is needed

    return heater_positions_for


def with_layout(options: Mapping[str, Any]) -> dict[str, Any]:
    """PhotonicChip keyword arguments with the layout's heater positions added when they are needed."""
    options = dict(options)
    if options.get("heater_positions") is None:
        options["heater_positions"] = layout_positions_for(options.get("physics"), options.get("nonideal"))
    return options


def build_chip_from_config(config: ChipConfig | Mapping[str, Any], data: Any = None, *,
                           seed: int | None = None) -> PhotonicChip:
    """The PhotonicChip a chip configuration describes, its heaters placed as in the drawn layout of the same meshes."""
    if not isinstance(config, ChipConfig):
        config = ChipConfig.from_dict(config)
    physics = config.physics_tables() if config.is_physical else None
    return build_chip(config, data, seed=seed, heater_positions=layout_positions_for(physics, config.nonideal))
