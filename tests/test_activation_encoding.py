"""Electro-optic activation and input encoders."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ffzero_photonics.photonic.activation import EOActivation
from ffzero_photonics.photonic.encoding import ImageEncoder, VectorEncoder, area_matrix


def _fields(rng, shape=(64,), scale=4.0):
    return scale * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape))


# --- activation -------------------------------------------------------------


def test_defaults_and_formula():
    act = EOActivation()
    assert (act.alpha, act.gain, act.phase_bias) == (0.1, 0.05 * np.pi, np.pi)
    E = np.array([0.0, 1.0, 2.0 - 1.0j, 3j])
    phi = 0.05 * np.pi * np.abs(E) ** 2 / 2 + np.pi / 2
    expected = np.sqrt(0.9) * np.cos(phi) * np.exp(-1j * phi) * E
    assert np.allclose(act(E), expected, atol=1e-15)


@pytest.mark.parametrize("alpha,bias", [(0.1, np.pi), (0.0, 0.0), (0.3, 1.2), (0.5, -2.0)])
def test_zero_gain_is_linear(alpha, bias):
    act = EOActivation(alpha=alpha, gain=0.0, phase_bias=bias)
    E = _fields(np.random.default_rng(0))
    factor = np.sqrt(1 - alpha) * np.cos(bias / 2) * np.exp(-1j * bias / 2)
    assert np.allclose(act(E), factor * E, atol=1e-14)
    assert act.linear_factor() == pytest.approx(factor, abs=1e-15)


def test_small_signal_limit_with_gain():
    act = EOActivation(alpha=0.2, gain=0.3, phase_bias=0.8)
    E = 1e-5 * _fields(np.random.default_rng(1), scale=1.0)
    assert np.allclose(act(E), act.linear_factor() * E, rtol=1e-8, atol=0)


def test_nonlinear_at_default_bias():
    act = EOActivation()
    out = np.abs(act(np.array([0.1, 1.0, 3.0, 5.0]))) ** 2
    assert out[0] < 1e-5 and np.all(np.diff(out) > 0)  # ReLU-like: dark at low power, opening up


@pytest.mark.parametrize("alpha,gain,bias", [(0.1, 0.05 * np.pi, np.pi), (0.0, 1.0, 0.0), (0.7, -2.0, 0.3)])
def test_power_never_exceeds_transmitted_share(alpha, gain, bias):
    act = EOActivation(alpha=alpha, gain=gain, phase_bias=bias)
    E = _fields(np.random.default_rng(2), (2000,))
    p_in, p_out = np.abs(E) ** 2, np.abs(act(E)) ** 2
    assert np.all(p_out <= (1 - alpha) * p_in * (1 + 1e-12))
    assert np.all(p_out + act.monitor_power(E) <= p_in * (1 + 1e-12))


def test_monitor_power():
    act = EOActivation(alpha=0.25)
    E = _fields(np.random.default_rng(3), (5, 7))
    assert np.allclose(act.monitor_power(E), 0.25 * np.abs(E) ** 2, rtol=1e-14)
    assert np.all(act.monitor_power(E) >= 0)
    assert np.allclose(np.asarray(act.monitor_power(jnp.asarray(E), jnp)), act.monitor_power(E), rtol=1e-6)


def test_jax_matches_numpy_and_is_differentiable():
    """Works in jax's default single precision (the suite does not switch on x64)."""
    act = EOActivation(alpha=0.15, gain=0.4, phase_bias=2.5)
    E = _fields(np.random.default_rng(4), (3, 16), scale=1.5)
    out = np.asarray(jax.jit(lambda e: act.apply(e, jnp))(jnp.asarray(E)))
    assert np.allclose(out, act(E), rtol=1e-4, atol=1e-5)

    def power_out(x):
        return jnp.sum(jnp.abs(act.apply(x.astype(jnp.complex64), jnp)) ** 2)

    x = np.array([0.0, 0.5, 1.5, -2.0])
    grad = np.asarray(jax.grad(power_out)(jnp.asarray(x, dtype=jnp.float32)))
    phi = act.gain * x**2 / 2 + act.phase_bias / 2
    expected = (1 - act.alpha) * (2 * x * np.cos(phi) ** 2 - 2 * act.gain * x**3 * np.cos(phi) * np.sin(phi))
    assert np.all(np.isfinite(grad))
    assert np.allclose(grad, expected, rtol=1e-4, atol=1e-5)


def test_activation_validation():
    with pytest.raises(ValueError, match="alpha"):
        EOActivation(alpha=1.0)
    with pytest.raises(ValueError, match="alpha"):
        EOActivation(alpha=-0.1)
    with pytest.raises(ValueError, match="gain"):
        EOActivation(gain=np.inf)
    with pytest.raises(ValueError, match="phase_bias"):
        EOActivation(phase_bias=np.nan)
    with pytest.raises(ValueError, match="real number"):
        EOActivation(alpha="0.1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        EOActivation().alpha = 0.2


# --- encoding ---------------------------------------------------------------


@pytest.mark.parametrize(
    "n_ports,method", [(16, "pool"), (4, "pool"), (64, "pool"), (25, "resize"), (9, "resize"), (25, "crop"), (36, "crop")]
)
def test_image_encoder_unit_norm(n_ports, method):
    enc = ImageEncoder((8, 8), n_ports, method)
    X = np.random.default_rng(5).standard_normal((10, 64))
    a = enc.encode(X)
    assert a.shape == (10, n_ports) and a.dtype == np.complex128
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-12)
    assert np.allclose(a.imag, 0.0)
    assert (enc.n_inputs, enc.n_ports) == (64, n_ports)


@pytest.mark.parametrize("n_ports,method", [(16, "pool"), (25, "resize"), (4, "resize"), (9, "crop")])
def test_constant_image_gives_constant_amplitudes(n_ports, method):
    enc = ImageEncoder((8, 8), n_ports, method)
    a = enc.encode(np.full((2, 64), 3.7))
    assert np.allclose(a, 1 / np.sqrt(n_ports), atol=1e-14)
    assert np.allclose(enc.encode(np.full((1, 64), -2.0)), -1 / np.sqrt(n_ports), atol=1e-14)  # phase pi


def test_pooling_values():
    img = np.arange(64.0).reshape(8, 8)
    enc = ImageEncoder((8, 8), 16, "pool")
    pooled = img.reshape(4, 2, 4, 2).mean(axis=(1, 3)).ravel()
    assert np.allclose(enc.matrix @ img.ravel(), pooled)
    assert np.allclose(enc.encode(img.ravel()[None])[0], pooled / np.linalg.norm(pooled))
    assert np.allclose(ImageEncoder((8, 8), 16, "resize").matrix, enc.matrix)  # area resize == pooling here


def test_resize_conserves_mean_and_crop_is_central():
    A = area_matrix(8, 5)
    assert np.allclose(A.sum(axis=1), 1.0) and np.allclose(A.sum(axis=0), 5 / 8)
    img = np.zeros((8, 8))
    img[3:5, 3:5] = 1.0
    a = ImageEncoder((8, 8), 4, "crop").encode(img)
    assert np.allclose(a, 0.5)
    a = ImageEncoder((8, 8), 16, "crop").encode(img).reshape(4, 4).real
    assert np.allclose(a[1:3, 1:3], 0.5) and a.sum() == pytest.approx(2.0)


def test_image_encoder_accepts_image_arrays():
    enc = ImageEncoder((8, 8), 16)
    X = np.random.default_rng(6).random((3, 8, 8))
    assert np.allclose(enc.encode(X), enc.encode(X.reshape(3, 64)))
    assert np.allclose(enc.encode(X[0]), enc.encode(X[:1])[0])
    assert enc.encode(X[0].ravel()).shape == (16,)


def test_zero_input_does_not_divide_by_zero():
    for enc in (ImageEncoder((8, 8), 16), VectorEncoder(4, 8)):
        with np.errstate(all="raise"):
            a = enc.encode(np.zeros((2, enc.n_inputs)))
        assert np.all(a == 0)


def test_image_encoder_errors():
    with pytest.raises(ValueError, match="perfect square"):
        ImageEncoder((8, 8), 20)
    with pytest.raises(ValueError, match="pool"):
        ImageEncoder((8, 8), 25, "pool")
    with pytest.raises(ValueError, match="crop"):
        ImageEncoder((8, 8), 81, "crop")
    with pytest.raises(ValueError, match="bilinear"):
        ImageEncoder((8, 8), 16, "bilinear")
    enc = ImageEncoder((8, 8), 16)
    with pytest.raises(ValueError, match=r"\(B, 64\)"):
        enc.encode(np.zeros((2, 63)))
    with pytest.raises(ValueError, match=r"\(B, 64\)"):
        enc.encode(np.zeros((2, 7, 8)))
    with pytest.raises(ValueError, match="NaN"):
        enc.encode(np.full((1, 64), np.nan))
    with pytest.raises(ValueError, match="real"):
        enc.encode(np.zeros((1, 64), complex))


def test_vector_encoder():
    enc = VectorEncoder(4, 8)
    assert enc.method == "pad" and (enc.n_inputs, enc.n_ports) == (4, 8)
    a = enc.encode(np.array([[3.0, -4.0, 0.0, 0.0]]))
    assert np.allclose(a, [[0.6, -0.8, 0, 0, 0, 0, 0, 0]])
    big = VectorEncoder(30, 16)
    assert big.method == "area"
    a = big.encode(np.random.default_rng(7).standard_normal((5, 30)))
    assert a.shape == (5, 16) and np.allclose(np.linalg.norm(a, axis=1), 1.0)
    M = np.random.default_rng(8).standard_normal((6, 3))
    custom = VectorEncoder(3, 6, matrix=M)
    x = np.array([1.0, 2.0, -1.0])
    assert np.allclose(custom.encode(x), M @ x / np.linalg.norm(M @ x))


def test_vector_encoder_errors():
    with pytest.raises(ValueError, match="zero-pad"):
        VectorEncoder(10, 8, method="pad")
    with pytest.raises(ValueError, match="matrix"):
        VectorEncoder(3, 6, matrix=np.zeros((3, 6)))
    with pytest.raises(ValueError, match="n_ports"):
        VectorEncoder(3, 0)
    with pytest.raises(ValueError, match=r"\(B, 4\)"):
        VectorEncoder(4, 8).encode(np.zeros((2, 5)))


# --- coherent input: the simulated encoder is the drawn cell -----------------------------------


@pytest.mark.filterwarnings("ignore:Unconnected ports")
@pytest.mark.parametrize("n_ports", [3, 4])
def test_coherent_input_equals_the_drawn_cells_netlist(n_ports):
    """Same DAC drives: the encoder's fields equal the drawn coherent-input cell simulated through its netlist."""
    import sax

    from ffzero_photonics.components import cell_models as cm
    from ffzero_photonics.components.input_cells import coherent_input
    from ffzero_photonics.layouts.layers import ensure_pdk
    from ffzero_photonics.photonic.encoding import CoherentInput, InputSection

    ensure_pdk()
    section = InputSection(extinction_ratio_dB=22.0, dac_bits=8, splitter_loss_dB=0.4)
    ci = CoherentInput(VectorEncoder(5, n_ports), section)
    x = np.random.default_rng(7).standard_normal((2, 5))
    fields = ci.encode(x)
    theta, sign = ci.drives(x)
    cell = coherent_input(n_ports=n_ports, pitch=100.0)
    with jax.enable_x64(True):
        circuit, _ = sax.circuit(cm.sax_netlist(cell.get_netlist()), models=cm.DEVICE_MODELS, backend="klu")
        for b in range(len(x)):
            drives = {f"amp_{k}": {"phase": theta[b, k]} for k in range(n_ports)}
            drives |= {f"sign_{k}": {"phase": sign[b, k]} for k in range(n_ports)}
            s = circuit(mmi_loss_dB=section.splitter_loss_dB, heater_loss_dB=section.arm_loss_dB, **drives)
            drawn = np.array([complex(s["fiber", f"o{k + 1}"]) for k in range(n_ports)])
            common = drawn[np.argmax(np.abs(drawn))] / fields[b, np.argmax(np.abs(drawn))]
            assert abs(common) == pytest.approx(1.0, abs=1e-9)
            np.testing.assert_allclose(drawn, common * fields[b], atol=1e-9)
    # 1/2^ceil(log2 N) split: all-open ports of an ideal input carry N / 2^levels of the light
    ideal = CoherentInput(VectorEncoder(n_ports, n_ports), InputSection(extinction_ratio_dB=200.0, dac_bits=None,
                                                                         splitter_loss_dB=0.0))
    total = np.sum(np.abs(ideal.encode(np.ones(n_ports))) ** 2)
    assert total == pytest.approx(n_ports / 2 ** math.ceil(math.log2(n_ports)), rel=1e-9)


def test_coherent_input_follows_signed_features_up_to_extinction_and_dac():
    from ffzero_photonics.photonic.encoding import CoherentInput, InputSection

    x = np.array([0.9, -0.4, 0.05, -1.0])
    fine = CoherentInput(VectorEncoder(4, 4), InputSection(extinction_ratio_dB=60.0, dac_bits=16)).encode(x)
    target = x / np.max(np.abs(x)) * np.abs(fine).max()
    assert np.max(np.abs(fine - target)) < 2e-3 * np.abs(fine).max()
    coarse = CoherentInput(VectorEncoder(4, 4), InputSection(extinction_ratio_dB=15.0, dac_bits=4)).encode(x)
    assert np.max(np.abs(coarse - target)) > 10 * np.max(np.abs(fine - target))


@pytest.mark.parametrize("kwargs,bad", [({"extinction_ratio_dB": -3.0}, "-3.0"), ({"dac_bits": 0}, "0"),
                                        ({"v_max_V": 5.0}, "5.0"), ({"splitter_loss_dB": -0.1}, "-0.1")])
def test_input_section_errors_name_the_field_and_value(kwargs, bad):
    from ffzero_photonics.errors import UserInputError
    from ffzero_photonics.photonic.encoding import InputSection

    with pytest.raises(UserInputError, match=rf"\[input\] {next(iter(kwargs))}.*{bad}"):
        InputSection(**kwargs)
    assert InputSection.from_dict({"dac_bits": 10}).dac_bits == 10
