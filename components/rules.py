"""The PDK's rule deck: each drawn layer's GDS number and its foundry rules, as data the DRC reads.

Source: the CORNERSTONE 220 nm SOI platform as published in the open cspdk (github.com/gdsfactory/cspdk,
cspdk 1.4.5, commit 9a729c198e5721e285f617d92c7787ccddd61d08):

- ``references/CORNERSTONE-48th-Call-Design-Guidelines-3.pdf`` (220 nm SOI Passive MPW #48, March 2026),
  Table 5 and section 5.3: waveguide 3/0 min feature 350 nm, min gap 200 nm, 5 um waveguide spacing
  recommended against coupling; heater filament 39/0 min 600 nm, gap 10 um; heater contact pad metal 41/0
  min 2 um, gap 10 um; filament-to-contact overlap >= 10 um recommended.
- ``cspdk/si220/cband/tech.py`` (LayerMapCornerstone, Tech): strip width 0.45 um, min bend radius
  ``radius_strip = 5`` um, routing metal width 10 um on PAD (41/0); ``cells/die_with_pads.py``: pads
  90 x 90 um at 300 um pitch.

The layouts draw with gdsfactory's generic PDK layers, not Cornerstone's numbers; each rule names the
project layer it is checked on (``drawn``) and the foundry layer it comes from (``foundry``):
WG 1/0 -> waveguide 3/0; HEATER 47/0 -> heater filament 39/0; M2 45/0 and M3/MTOP 49/0 (heater via
landings, routing and pads) -> Cornerstone's single metal 41/0, whose width/gap rules they both take.
Vias (VIA1 44/0, VIA2 43/0), implants and Ge (photodiodes) have no counterpart on the passive platform
and are not checked. Pad size and pad spacing are packaging rules the deck does not give: the project's
flip-chip pads (30 um, 30 um apart) set them, and they are named as the project's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ffzero_photonics.errors import UserInputError

__all__ = ["CORNERSTONE_SI220", "LayerRule", "RuleDeck", "SOURCE"]

SOURCE = ("gdsfactory/cspdk 1.4.5 @ 9a729c198e5721e285f617d92c7787ccddd61d08: "
          "references/CORNERSTONE-48th-Call-Design-Guidelines-3.pdf (Table 5), cspdk/si220/cband/tech.py")


@dataclass(frozen=True)
class LayerRule:
    """Width and space rules of one drawn layer, with the foundry layer they are taken from."""

    name: str
    drawn: tuple[int, int]
    foundry: tuple[int, int]
    min_width_um: float
    min_space_um: float

    def __post_init__(self) -> None:
        for key in ("min_width_um", "min_space_um"):
            value = getattr(self, key)
            if not (isinstance(value, (int, float)) and value > 0):
                raise UserInputError(f"LayerRule {self.name}: {key} must be a positive number, got {value!r}")


@dataclass(frozen=True)
class RuleDeck:
    """A platform's layer rules plus the waveguide, pad and reticle rules the DRC checks."""

    platform: str
    source: str
    waveguide: LayerRule
    heater: LayerRule
    metals: tuple[LayerRule, ...]
    pad_layer: tuple[int, int]
    wg_min_bend_radius_um: float
    wg_width_um: float
    wg_coupling_space_um: float
    pad_min_size_um: float
    pad_min_space_um: float
    pad_pitch_um: float
    reticle_mm: tuple[float, float] = (26.0, 33.0)
    notes: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        for key in ("wg_min_bend_radius_um", "wg_width_um", "wg_coupling_space_um", "pad_min_size_um",
                    "pad_min_space_um", "pad_pitch_um"):
            value = getattr(self, key)
            if not (isinstance(value, (int, float)) and value > 0):
                raise UserInputError(f"RuleDeck {self.platform}: {key} must be a positive number, got {value!r}")

    @property
    def layer_rules(self) -> tuple[LayerRule, ...]:
        """Every layer rule (waveguide, heater, metals) in check order."""
        return (self.waveguide, self.heater, *self.metals)


CORNERSTONE_SI220 = RuleDeck(
    platform="CORNERSTONE 220 nm SOI (cspdk si220)",
    source=SOURCE,
    waveguide=LayerRule("WG", drawn=(1, 0), foundry=(3, 0), min_width_um=0.35, min_space_um=0.2),
    heater=LayerRule("HEATER", drawn=(47, 0), foundry=(39, 0), min_width_um=0.6, min_space_um=10.0),
    metals=(
        LayerRule("M2", drawn=(45, 0), foundry=(41, 0), min_width_um=2.0, min_space_um=10.0),
        LayerRule("M3", drawn=(49, 0), foundry=(41, 0), min_width_um=2.0, min_space_um=10.0),
    ),
    pad_layer=(49, 0),
    wg_min_bend_radius_um=5.0,
    wg_width_um=0.45,
    wg_coupling_space_um=5.0,
    pad_min_size_um=30.0,
    pad_min_space_um=20.0,
    pad_pitch_um=60.0,
    notes={
        "wg_coupling_space_um": "recommended, not enforced: devices (MMIs, couplers) place waveguides closer on purpose",
        "pad_min_size_um / pad_min_space_um": "project packaging rules (flip-chip pads), not the foundry's",
    },
)
"""The default deck: Cornerstone's 220 nm SOI rules mapped onto the layers the project draws."""
