"""sax models of the buildable chip's drawn cells (EO activation, coherent input) and of the devices they are drawn from.

Device models are what :func:`sax_netlist` maps a drawn cell's gdsfactory netlist onto
(:data:`DEVICE_MODELS`); the cell models compose the same device functions in closed form, so a
cell's model equals its drawing. Every loss / imbalance defaults to ideal (0 dB); the platform
values (docs/platform_defaults.md) are MMI 0.3 dB, grating 2.5 dB, heater 0.23 dB, 2.5 dB/cm; an MMI's
excess-loss band (``mmi_fwhm_um``) is off (infinite) unless given, so a lossless cell is lossless at every wavelength.
Parameter names are unique per device kind (``mmi_loss_dB``, ``pn_loss_dB``, ...) so one global
sax setting reaches exactly the devices it names. The coupler fit constants and the MMI / grating
bandwidths are assumptions (typical 220 nm SOI values) to be refit to a foundry's measured devices.
"""

from __future__ import annotations

import math
import re

import jax.numpy as jnp
import numpy as np
import sax

from ffzero_photonics.components import models as _m
from ffzero_photonics.components.dac import dac_phases
from ffzero_photonics.errors import UserInputError
from ffzero_photonics.photonic.physics.heaters import Heaters

__all__ = [
    "DEVICE_MODELS",
    "coherent_input_model",
    "coupling_from_geometry",
    "dac_phases",
    "directional_coupler",
    "eo_activation_model",
    "eo_drive_voltage_V",
    "grating_coupler",
    "mmi1x2",
    "mmi2x2",
    "mzi_extinction_ratio_dB",
    "photodiode",
    "pn_phase_shifter",
    "sax_netlist",
    "tap_coupler_length",
    "thermal_phase_shifter",
]

WL0 = 1.55
CROSSOVER_LENGTH_UM = 15.0
"""Full-transfer length of two 500x220 nm strips at GAP0_UM, 1550 nm (coupled-mode fit; refit per foundry)."""
GAP0_UM = 0.2
GAP_DECAY_UM = 0.12
"""The crossover length grows by e per this much extra gap (evanescent overlap)."""
WL_DECAY_UM = 0.25
"""The crossover length shrinks by e per this much longer wavelength (less confined modes)."""
BEND_LENGTH_UM = 2.0
"""Equivalent straight coupling length of gdsfactory ``coupler``'s two S-bend regions (dx=10, dy=4)."""


def _ones(wl):
    return jnp.ones_like(jnp.asarray(wl, dtype=float))


def crossover_length_um(gap, wl=WL0, wl0=WL0):
    """Coupled-mode crossover length (um): ``L0 exp((gap - gap0) / d_gap) exp(-(wl - wl0) / d_wl)``."""
    return CROSSOVER_LENGTH_UM * jnp.exp((gap - GAP0_UM) / GAP_DECAY_UM) * jnp.exp(-(wl - wl0) / WL_DECAY_UM)


def coupling_from_geometry(gap, length, *, wl=WL0, wl0=WL0):
    """Power fraction a directional coupler of ``gap`` and straight ``length`` (um) crosses: sin^2(pi/2 (L + L_b) / L_c)."""
    return jnp.sin(0.5 * math.pi * (length + BEND_LENGTH_UM) / crossover_length_um(gap, wl, wl0)) ** 2


def tap_coupler_length(tap_fraction: float, gap: float) -> float:
    """Straight length (um, on the 1 nm grid) of a coupler of ``gap`` that taps ``tap_fraction`` at 1550 nm.

    This is what sets alpha in the drawn cell: the coupler length for the chosen gap.
    """
    if not 0.0 < tap_fraction < 1.0:
        raise UserInputError(f"tap_fraction must be in (0, 1), got {tap_fraction!r}")
    if not gap > 0.0:
        raise UserInputError(f"tap_gap must be > 0 um, got {gap!r}")
    lc = float(crossover_length_um(gap))
    length = 2.0 / math.pi * math.asin(math.sqrt(tap_fraction)) * lc - BEND_LENGTH_UM
    if length <= 0.1:
        raise UserInputError(
            f"tap_fraction={tap_fraction!r} needs a coupler shorter than its bends at tap_gap={gap!r} um; widen the gap")
    return round(length, 3)


def directional_coupler(*, wl=WL0, gap=0.3, length=5.0, wl0=WL0, tap_loss_dB=0.0) -> sax.SDict:
    """gdsfactory ``coupler`` (same port names) with the coupling of its ``gap`` and ``length``: ``models.coupler``."""
    return _m.coupler(wl=wl, coupling=coupling_from_geometry(gap, length, wl=wl, wl0=wl0), loss_dB=tap_loss_dB)


def _mmi_envelope(wl, wl0, fwhm_um, loss_dB):
    """Amplitude of one MMI output: excess loss and a Gaussian power band of full width ``fwhm_um``."""
    return 10 ** (-loss_dB / 20) * jnp.exp(-2.0 * math.log(2.0) * ((wl - wl0) / fwhm_um) ** 2)


def mmi1x2(*, wl=WL0, wl0=WL0, mmi_fwhm_um=math.inf, mmi_loss_dB=0.0, mmi_imbalance_dB=0.0) -> sax.SDict:
    """1x2 MMI (gdsfactory ``mmi1x2`` ports): o1 -> o2 (upper) / o3 (lower), in phase; o2/o3 power ratio ``mmi_imbalance_dB``."""
    r = 10 ** (mmi_imbalance_dB / 10)
    env = _mmi_envelope(wl, wl0, mmi_fwhm_um, mmi_loss_dB) * _ones(wl)
    return sax.reciprocal({("o1", "o2"): env * jnp.sqrt(r / (1 + r)), ("o1", "o3"): env * jnp.sqrt(1 / (1 + r))})


def mmi2x2(*, wl=WL0, wl0=WL0, mmi_fwhm_um=math.inf, mmi_loss_dB=0.0, mmi_imbalance_dB=0.0) -> sax.SDict:
    """2x2 MMI (gdsfactory ``mmi2x2`` ports): ``models.mmi2x2`` with bar/cross power ratio ``mmi_imbalance_dB`` at ``wl0``."""
    r = 10 ** (mmi_imbalance_dB / 10)
    return _m.mmi2x2(wl=wl, wl0=wl0, coupling=1 / (1 + r), loss_dB=mmi_loss_dB, fwhm_um=mmi_fwhm_um)


def mzi_extinction_ratio_dB(arm_loss_dB: float) -> float:
    """On/off power ratio (dB) of a balanced MZI whose phase arm loses ``arm_loss_dB`` more than the other.

    The drawn MZIs pair each splitter with its mirror-image combiner, so an MMI imbalance
    cancels at the output; the phase section's own loss (doping, heater) is what limits it.
    """
    a = 10 ** (-abs(arm_loss_dB) / 20)
    return math.inf if a == 1 else 20 * math.log10((1 + a) / (1 - a))


def pn_phase_shifter(*, wl=WL0, length=2000.0, voltage_V=0.0, v_pi_V=10.0, pn_loss_dB=0.0,
                     wl0=WL0, neff=2.34, ng=3.4, loss_dB_cm=0.0) -> sax.SDict:
    """Depletion modulator (gdsfactory ``straight_pn``): a ``length`` waveguide plus phase ``pi V / V_pi`` at reverse bias V.

    Reverse bias removes carriers, which raises the index, so the phase grows with V
    (``models.heater`` convention, exp(+j phase)); ``pn_loss_dB`` is the doped section's loss.
    ``v_pi_V`` belongs to the drawn length (V_pi L ~ 2 V cm, an assumption: 10 V at 2 mm).
    """
    wg = _m.waveguide(wl=wl, wl0=wl0, neff=neff, ng=ng, length=length, loss_dB_cm=loss_dB_cm)[("o1", "o2")]
    ps = _m.heater(wl=wl, wl0=wl0, phase=math.pi * voltage_V / v_pi_V, loss_dB=pn_loss_dB)[("o1", "o2")]
    return sax.reciprocal({("o1", "o2"): wg * ps})


def thermal_phase_shifter(*, wl=WL0, length=320.0, phase=0.0, heater_loss_dB=0.0,
                          wl0=WL0, neff=2.34, ng=3.4, loss_dB_cm=0.0) -> sax.SDict:
    """Metal heater over a waveguide (gdsfactory ``straight_heater_metal``): ``length`` waveguide times ``models.heater``."""
    wg = _m.waveguide(wl=wl, wl0=wl0, neff=neff, ng=ng, length=length, loss_dB_cm=loss_dB_cm)[("o1", "o2")]
    ps = _m.heater(wl=wl, wl0=wl0, phase=phase, loss_dB=heater_loss_dB)[("o1", "o2")]
    return sax.reciprocal({("o1", "o2"): wg * ps})


def photodiode(*, wl=WL0) -> sax.SDict:
    """Ge photodiode (or a terminator) as an optical sink: port o1, no reflection. Its current is the caller's."""
    return {("o1", "o1"): 0.0 * _ones(wl)}


def grating_coupler(*, wl=WL0, wl0=WL0, gc_loss_dB=0.0, gc_fwhm_um=0.06) -> sax.SDict:
    """Grating coupler: waveguide o1 <-> fibre o2, peak loss ``gc_loss_dB`` in a Gaussian power band ``gc_fwhm_um`` wide."""
    return sax.reciprocal({("o1", "o2"): _mmi_envelope(wl, wl0, gc_fwhm_um, gc_loss_dB) * _ones(wl)})


def _waveguide(*, wl=WL0, wl0=WL0, neff=2.34, ng=3.4, length=10.0, loss_dB_cm=0.0) -> sax.SDict:
    return _m.waveguide(wl=wl, wl0=wl0, neff=neff, ng=ng, length=length, loss_dB_cm=loss_dB_cm)


DEVICE_MODELS: dict[str, sax.Model] = {
    "waveguide": _waveguide,
    "directional_coupler": directional_coupler,
    "mmi1x2": mmi1x2,
    "mmi2x2": mmi2x2,
    "pn_phase_shifter": pn_phase_shifter,
    "thermal_phase_shifter": thermal_phase_shifter,
    "photodiode": photodiode,
    "grating_coupler": grating_coupler,
}
"""Device models by the names :func:`sax_netlist` gives a drawn cell's instances."""

_GF_TO_MODEL = {
    "straight": "waveguide",
    "bend_euler": "waveguide",
    "bend_s": "waveguide",
    "bend_circular": "waveguide",
    "coupler": "directional_coupler",
    "mmi1x2": "mmi1x2",
    "mmi2x2": "mmi2x2",
    "straight_pn": "pn_phase_shifter",
    "straight_pin": "pn_phase_shifter",
    "straight_heater_metal": "thermal_phase_shifter",
    "straight_heater_metal_undercut": "thermal_phase_shifter",
    "ge_detector_straight_si_contacts": "photodiode",
    "terminator": "photodiode",
    "grating_coupler_elliptical_trenches": "grating_coupler",
}
_KEEP_SETTINGS = {"directional_coupler": ("gap", "length"), "pn_phase_shifter": ("length",),
                  "thermal_phase_shifter": ("length",)}
_OPTICAL_PORT = re.compile(r"o\d+")


def sax_netlist(netlist: dict) -> dict:
    """A drawn cell's ``get_netlist()`` as a sax netlist over :data:`DEVICE_MODELS`: optical instances, nets and ports.

    Routes (straights, bends) become waveguides of their drawn length; electrical
    instances and nets (pads, wires, electrodes) are dropped; an optical port on a
    component without a model is an error naming it.
    """
    instances = netlist.get("instances", {})

    def optical(node: str) -> bool:
        return bool(_OPTICAL_PORT.fullmatch(node.partition(",")[2]))

    nets = [(n["p1"], n["p2"]) for n in netlist.get("nets", ()) if optical(n["p1"]) and optical(n["p2"])]
    nets += [(a, b) for a, b in netlist.get("connections", {}).items() if optical(a) and optical(b)]
    ports = {k: v for k, v in netlist.get("ports", {}).items() if optical(v)}
    used = {node.partition(",")[0] for pair in nets for node in pair} | {v.partition(",")[0] for v in ports.values()}
    out = {}
    for name in sorted(used):
        inst = instances[name]
        model = _GF_TO_MODEL.get(inst["component"])
        if model is None:
            raise UserInputError(f"optical instance {name!r} is a {inst['component']!r}, which has no model in DEVICE_MODELS")
        if model == "waveguide":
            settings = {"length": float(inst.get("info", {}).get("length", inst.get("settings", {}).get("length", 0.0)))}
        else:
            settings = {k: float(inst["settings"][k]) for k in _KEEP_SETTINGS.get(model, ())}
        out[name] = {"component": model, "settings": settings}
    return {"instances": out, "connections": dict(nets), "ports": ports}


# -- cell models --------------------------------------------------------------------------------


def eo_drive_voltage_V(input_power_mW, *, tapped_fraction, responsivity_A_per_W=0.8, tia_gain_ohm=10e3,
                       v_pi_V=10.0, bias_V=10.0):
    """Reverse bias (V) on the activation's modulator: bias pad ``2 V_pi - V_b`` minus the TIA output ``G R alpha P``.

    The TIA output drives the modulator's p side and the bias pad its n side, so the
    phase pi V / V_pi is ``2 pi - dphi`` with dphi = pi (V_b + G R alpha P) / V_pi: the
    drawn cell then transmits exactly ``physics.Activation``'s field (its exp(-j dphi/2)).
    The junction stays reverse biased (V >= 0) while dphi <= 2 pi.
    """
    return 2.0 * v_pi_V - bias_V - tia_gain_ohm * responsivity_A_per_W * tapped_fraction * input_power_mW * 1e-3


def eo_activation_model(*, wl=WL0, input_power_mW=0.0, tap_fraction=0.1, tap_gap=0.3, modulator_length=2000.0,
                        responsivity_A_per_W=0.8, tia_gain_ohm=10e3, v_pi_V=10.0, bias_V=10.0,
                        path_length_um=0.0, wl0=WL0, neff=2.34, ng=3.4, loss_dB_cm=0.0, tap_loss_dB=0.0,
                        mmi_fwhm_um=math.inf, mmi_loss_dB=0.0, mmi_imbalance_dB=0.0, pn_loss_dB=0.0) -> sax.SDict:
    """The ``eo_activation`` cell (o1 -> o2) at the drive set by ``input_power_mW`` at o1: tap, MZI of two mmi2x2 and a pn arm.

    Linear in the field for a given drive; the activation's nonlinearity is the drive
    following the tapped power (:func:`eo_drive_voltage_V`, tapped fraction from the drawn
    coupler). ``path_length_um`` is the routed waveguide length on the through path
    (``cell.info["path_length_um"]``; 0 = ideal routes). Cell parameters keep the cell's names.
    """
    length = tap_coupler_length(float(tap_fraction), float(tap_gap))
    tap = directional_coupler(wl=wl, gap=tap_gap, length=length, wl0=wl0, tap_loss_dB=tap_loss_dB)
    kappa = coupling_from_geometry(tap_gap, length, wl=wl, wl0=wl0) * 10 ** (-tap_loss_dB / 10)
    volts = eo_drive_voltage_V(input_power_mW, tapped_fraction=kappa, responsivity_A_per_W=responsivity_A_per_W,
                               tia_gain_ohm=tia_gain_ohm, v_pi_V=v_pi_V, bias_V=bias_V)
    wg = dict(wl=wl, wl0=wl0, neff=neff, ng=ng, loss_dB_cm=loss_dB_cm)
    mmi = dict(wl=wl, wl0=wl0, mmi_fwhm_um=mmi_fwhm_um, mmi_loss_dB=mmi_loss_dB, mmi_imbalance_dB=mmi_imbalance_dB)
    split, combine = mmi2x2(**mmi), mmi2x2(**mmi)
    arm_pn = pn_phase_shifter(length=modulator_length, voltage_V=volts, v_pi_V=v_pi_V, pn_loss_dB=pn_loss_dB, **wg)
    arm_wg = _m.waveguide(length=modulator_length, **wg)
    upper = split[("o1", "o3")] * arm_pn[("o1", "o2")] * combine[("o2", "o3")]
    lower = split[("o1", "o4")] * arm_wg[("o1", "o2")] * combine[("o1", "o3")]
    route = _m.waveguide(length=path_length_um, **wg)[("o1", "o2")]
    return sax.reciprocal({("o1", "o2"): tap[("o1", "o4")] * route * (upper + lower)})


def coherent_input_model(*, wl=WL0, n_ports=4, amplitudes=None, dac_bits=16, v_max_V=7.5, heater_length=320.0,
                         sign_length=100.0, path_length_um=0.0, wl0=WL0, neff=2.34, ng=3.4, loss_dB_cm=0.0,
                         gc_loss_dB=0.0, gc_fwhm_um=0.06, mmi_fwhm_um=math.inf, mmi_loss_dB=0.0,
                         mmi_imbalance_dB=0.0, heater_loss_dB=0.0) -> sax.SDict:
    """The ``coherent_input`` cell: fibre -> o1..oN, amplitudes (default all 1) set through ``dac_bits`` DACs over [0, v_max_V].

    Splitter tree of mmi1x2 over the next power of two (unused arms terminated), then per
    port an MZI (mmi1x2 split, heater arm, mmi1x2 combine) and an output (sign) heater,
    driven as :func:`dac_phases` says. Ports are
    numbered like the cell: o{k+1} is mesh input k, the tree's upper branch first.
    ``path_length_um`` is the routed length from grating to a port (``cell.info``).
    """
    n = int(n_ports)
    if n < 1:
        raise UserInputError(f"n_ports must be >= 1, got {n_ports!r}")
    amp = np.ones(n) if amplitudes is None else np.asarray(amplitudes, dtype=float)
    if amp.shape != (n,):
        raise UserInputError(f"amplitudes must have {n} entries, got shape {amp.shape}")
    theta, sign = dac_phases(amp, Heaters(dac_bits=int(dac_bits), v_max_V=float(v_max_V)))
    levels = max(0, math.ceil(math.log2(n)))
    wg = dict(wl=wl, wl0=wl0, neff=neff, ng=ng, loss_dB_cm=loss_dB_cm)
    split = mmi1x2(wl=wl, wl0=wl0, mmi_fwhm_um=mmi_fwhm_um, mmi_loss_dB=mmi_loss_dB, mmi_imbalance_dB=mmi_imbalance_dB)
    branch = {0: split[("o1", "o2")], 1: split[("o1", "o3")]}
    common = (grating_coupler(wl=wl, wl0=wl0, gc_loss_dB=gc_loss_dB, gc_fwhm_um=gc_fwhm_um)[("o2", "o1")]
              * _m.waveguide(length=path_length_um, **wg)[("o1", "o2")])
    twin = _m.waveguide(length=heater_length, **wg)[("o1", "o2")]
    out = {}
    for k in range(n):
        tree = common
        for bit in range(levels - 1, -1, -1):
            tree = tree * branch[(k >> bit) & 1]
        ps = dict(heater_loss_dB=heater_loss_dB, **wg)
        upper = branch[0] * thermal_phase_shifter(length=heater_length, phase=theta[k], **ps)[("o1", "o2")] * branch[1]
        lower = branch[1] * twin * branch[0]
        sgn = thermal_phase_shifter(length=sign_length, phase=sign[k], **ps)[("o1", "o2")]
        out[("fiber", f"o{k + 1}")] = tree * (upper + lower) * sgn
    return sax.reciprocal(out)
