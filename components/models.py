"""sax models of the devices a photonic MZI mesh is made of, each a function of wavelength.

A model is a plain function: keyword-only physical parameters in, S-parameters
(an ``SDict``) out. Wavelength (``wl``, design ``wl0`` = 1.55 um): a waveguide's
neff is linear in wl with group index ng; a heater's phase scales as wl0 / wl (it
sets an index change, so the phase of a fixed drive falls with wl); a 2x2 MMI's
coupling angle scales as wl / wl0 (its self-imaging length goes as 1 / wl). A circuit is data: :func:`mzi_netlist` is a netlist, and
:data:`MODELS` lets any sax circuit use these devices by name.

Port convention (gdsfactory style, numbered clockwise from the lower
left): a 2x2 device has o1 lower-left, o2 upper-left, o3 upper-right,
o4 lower-right; a 2-port device has o1 in, o2 out. On (upper, lower)
amplitudes an ideal coupler is ``[[sqrt(1-k), 1j sqrt(k)], [1j sqrt(k), sqrt(1-k)]]``
and an MZI is ``T(theta, phi) = BS . diag(e^{i theta}, 1) . BS . diag(e^{i phi}, 1)``.
"""

from __future__ import annotations

import math
from functools import cache

import jax
import jax.numpy as jnp
import numpy as np
import sax
from simphony.libraries import ideal

__all__ = [
    "MODELS",
    "coupler",
    "detector_current",
    "heater",
    "mmi2x2",
    "mmi_coupling",
    "mzi",
    "mzi_netlist",
    "phase_from_power",
    "power_for_phase",
    "power_from_voltage",
    "voltage_from_power",
    "waveguide",
]

# simphony's ideal coupler: o0 lower-left, o2 upper-left, o1 lower-right, o3 upper-right.
_SIMPHONY_COUPLER_PORTS = {"o0": "o1", "o2": "o2", "o3": "o3", "o1": "o4"}
_SIMPHONY_WAVEGUIDE_PORTS = {"o0": "o1", "o1": "o2"}


def _rename(sdict: sax.SDict, ports: dict[str, str]) -> sax.SDict:
    return {(ports[p1], ports[p2]): v for (p1, p2), v in sdict.items()}


def coupler(*, wl: float = 1.55, coupling: float = 0.5, loss_dB: float = 0.0) -> sax.SDict:
    """Wavelength-flat 2x2 directional coupler; ``coupling`` is the power fraction that crosses.

    ::

        o2 ---\\        /--- o3
                ------
                ------
        o1 ---/        \\--- o4

    Bar (o2->o3, o1->o4) is ``sqrt(1-coupling)``, cross is ``1j*sqrt(coupling)``,
    both scaled by the amplitude of ``loss_dB`` (insertion loss in dB).
    """
    sdict = ideal.coupler(coupling=coupling, loss=loss_dB, phi=jnp.pi / 2)
    ones = jnp.ones_like(jnp.asarray(wl, dtype=float))
    return {k: v * ones for k, v in _rename(sdict, _SIMPHONY_COUPLER_PORTS).items()}


def waveguide(
    *,
    wl: float = 1.55,
    wl0: float = 1.55,
    neff: float = 2.34,
    ng: float = 3.4,
    length: float = 10.0,
    loss_dB_cm: float = 0.0,
) -> sax.SDict:
    """Dispersive straight waveguide: phase ``2 pi neff(wl) length / wl``, length in um.

    ::

        o1 -------- o2

    ``neff`` is linearized around ``wl0`` with group index ``ng``; propagation
    loss is ``loss_dB_cm`` dB per centimetre.
    """
    sdict = ideal.waveguide(wl=wl, wl0=wl0, neff=neff, ng=ng, length=length, loss=loss_dB_cm)
    return _rename(sdict, _SIMPHONY_WAVEGUIDE_PORTS)


def heater(*, wl: float = 1.55, wl0: float = 1.55, phase: float = 0.0, loss_dB: float = 0.0) -> sax.SDict:
    """Thermo-optic phase shifter: ``exp(1j * phase * wl0 / wl)`` times the amplitude of ``loss_dB``.

    ::

        o1 ==[~~~]== o2

    ``phase`` is the phase the drive sets at the design wavelength ``wl0``; the
    drive fixes an index change dn, so at ``wl`` the phase is 2 pi dn L / wl.
    The parameter is ``phase`` (not ``phi``) so that a global ``phi`` in a sax
    circuit call never reaches simphony's coupler, which has a ``phi`` argument.
    """
    t = 10 ** (-loss_dB / 20) * jnp.exp(1j * phase * wl0 / jnp.asarray(wl, dtype=float))
    return sax.reciprocal({("o1", "o2"): t})


def mmi_coupling(coupling, wl, wl0: float = 1.55):
    """Cross power fraction at ``wl`` of a 2x2 MMI that crosses ``coupling`` at ``wl0``: sin^2(t0 wl / wl0).

    The two-mode beat phase of the MMI goes as its length over the self-imaging
    length L_pi = 4 n W^2 / (3 wl), i.e. as wl (t0 = arcsin sqrt(coupling)).
    """
    t0 = jnp.arcsin(jnp.sqrt(jnp.asarray(coupling, dtype=float)))
    return jnp.sin(t0 * jnp.asarray(wl, dtype=float) / wl0) ** 2


def mmi2x2(
    *, wl: float = 1.55, wl0: float = 1.55, coupling: float = 0.5, loss_dB: float = 0.0, fwhm_um: float = math.inf
) -> sax.SDict:
    """2x2 MMI (gdsfactory ``mmi2x2`` ports, :func:`coupler` convention) crossing :func:`mmi_coupling` at ``wl``.

    ``loss_dB`` is the excess loss at ``wl0``; ``fwhm_um`` the full width of its
    Gaussian power band (infinite: lossless at every wavelength).
    """
    envelope = jnp.exp(-2.0 * math.log(2.0) * ((jnp.asarray(wl, dtype=float) - wl0) / fwhm_um) ** 2)
    return {k: v * envelope for k, v in coupler(wl=wl, coupling=mmi_coupling(coupling, wl, wl0), loss_dB=loss_dB).items()}


def phase_from_power(power_mW, *, p_pi_mW: float = 20.0, phase0: float = 0.0):
    """Heater phase (rad) at dissipated electrical power ``power_mW``: ``phase0 + pi P / P_pi``."""
    if p_pi_mW <= 0:
        raise ValueError(f"p_pi_mW must be positive, got {p_pi_mW!r}")
    return phase0 + math.pi * power_mW / p_pi_mW


def power_for_phase(phase, *, p_pi_mW: float = 20.0, phase0: float = 0.0):
    """Smallest non-negative heater power (mW) that sets ``phase``: the phase is wrapped to [0, 2 pi)."""
    if p_pi_mW <= 0:
        raise ValueError(f"p_pi_mW must be positive, got {p_pi_mW!r}")
    return p_pi_mW * ((phase - phase0) % (2 * math.pi)) / math.pi


def power_from_voltage(voltage_V, *, resistance_ohm: float = 1000.0):
    """Electrical power (mW) dissipated by a resistive heater at ``voltage_V``: ``1e3 V^2 / R``."""
    if resistance_ohm <= 0:
        raise ValueError(f"resistance_ohm must be positive, got {resistance_ohm!r}")
    return 1e3 * voltage_V**2 / resistance_ohm


def voltage_from_power(power_mW, *, resistance_ohm: float = 1000.0):
    """Non-negative drive voltage (V) that dissipates ``power_mW`` in a heater of ``resistance_ohm``."""
    if resistance_ohm <= 0:
        raise ValueError(f"resistance_ohm must be positive, got {resistance_ohm!r}")
    if not isinstance(power_mW, jax.core.Tracer) and np.any(np.asarray(power_mW) < 0):
        raise ValueError(f"heater power must be non-negative, got {power_mW!r}")
    return (power_mW * 1e-3 * resistance_ohm) ** 0.5


def detector_current(power, *, responsivity_A_W: float = 1.0):
    """Photocurrent (A) of a photodetector receiving optical ``power`` (W)."""
    return responsivity_A_W * power


def mzi_netlist() -> dict:
    """Netlist of the drawn MZI: input 2x2 MMI, internal heater on the upper arm, output 2x2 MMI.

    ::

        o2 -[ps_ext]-\\          /-[ps_int]-\\          /- o3
                      [ cp_in ]            [ cp_out ]
        o1 ----------/          \\----------/          \\- o4

    ``ps_ext`` (phi) sits on the upper input, ``ps_int`` (theta) on the upper arm.
    """
    return {
        "instances": {
            "ps_ext": {"component": "heater"},
            "cp_in": {"component": "mmi2x2"},
            "ps_int": {"component": "heater"},
            "cp_out": {"component": "mmi2x2"},
        },
        "connections": {
            "ps_ext,o2": "cp_in,o2",
            "cp_in,o3": "ps_int,o1",
            "ps_int,o2": "cp_out,o2",
            "cp_in,o4": "cp_out,o1",
        },
        "ports": {
            "o1": "cp_in,o1",
            "o2": "ps_ext,o1",
            "o3": "cp_out,o3",
            "o4": "cp_out,o4",
        },
    }


@cache
def _mzi_circuit():
    """The MZI netlist compiled once by sax and jitted (~25 us per call instead of ~5 ms eager)."""
    circuit, _ = sax.circuit(
        mzi_netlist(), models={"mmi2x2": mmi2x2, "heater": heater}, backend="filipsson_gunnar"
    )
    return jax.jit(circuit)


def mzi(
    *,
    wl: float = 1.55,
    wl0: float = 1.55,
    theta: float = 0.0,
    phi: float = 0.0,
    coupling: float = 0.5,
    coupling_out: float | None = None,
    loss_dB: float = 0.0,
) -> sax.SDict:
    """MZI with internal phase ``theta`` and external phase ``phi``: ``T(theta, phi)`` on (o2/o3, o1/o4).

    ::

        o2 -[phi]-\\         /-[theta]-\\         /- o3
                   [coupler]           [coupler]
        o1 -------/         \\---------/         \\- o4

    theta = 0 is full cross, theta = pi is bar (at ``wl0``). The couplers are the
    drawn 2x2 MMIs (:func:`mmi2x2`); ``coupling`` is the input MMI's (and, unless
    ``coupling_out`` is given, the output MMI's) power coupling at ``wl0``;
    ``loss_dB`` is the whole MZI's insertion loss, split evenly over the two MMIs.
    Heater phases are set at ``wl0`` and scale as wl0 / wl.
    """
    c_out = coupling if coupling_out is None else coupling_out
    return _mzi_circuit()(
        ps_ext={"wl": wl, "wl0": wl0, "phase": phi},
        cp_in={"wl": wl, "wl0": wl0, "coupling": coupling, "loss_dB": loss_dB / 2},
        ps_int={"wl": wl, "wl0": wl0, "phase": theta},
        cp_out={"wl": wl, "wl0": wl0, "coupling": c_out, "loss_dB": loss_dB / 2},
    )


MODELS: dict[str, sax.Model] = {
    "coupler": coupler,
    "waveguide": waveguide,
    "heater": heater,
    "mmi2x2": mmi2x2,
    "mzi": mzi,
}
