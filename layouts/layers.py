"""Layers, cross-sections and label layers a mesh layout is drawn on and read back from."""

from __future__ import annotations

import gdsfactory as gf

__all__ = ["HEATER_LABEL_LAYER", "METAL_LAYER", "PAD_LABEL_LAYER", "ROUTE_LAYER", "ROUTE_XS", "VIA_LAYER", "WG_XS", "ensure_pdk"]

HEATER_LABEL_LAYER = (66, 0)
"""Text at every heater's centre: the simulator's heater name."""
PAD_LABEL_LAYER = (66, 1)
"""Text at every pad's centre: the heater name it drives, or the ground net."""
METAL_LAYER = (49, 0)
"""The routing metal (generic PDK ``M3``) that wires heaters to pads."""
VIA_LAYER = (43, 0)
"""The via (generic PDK ``VIA2``) from M2 up to the routing metal: every device terminal ends in one."""
ROUTE_LAYER = "M3"
WG_XS = "strip"
ROUTE_XS = "metal_routing"


def ensure_pdk() -> None:
    """Activate gdsfactory's generic PDK when no PDK is active: the cells draw with its layers and cross-sections.

    An active PDK (the user's, or ``ffzero_photonics.pdk.PDK``) is left as it is.
    """
    try:
        gf.get_active_pdk()
    except ValueError:
        gf.gpdk.PDK.activate()
