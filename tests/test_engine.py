"""The compiled DD engine (backend="jax"): same numbers and the same query cost as the numpy path, clear refusals."""

import json

import jax
import numpy as np
import pytest

from ffzero_photonics.blackbox import CompiledMeasurement, ForwardingBlackBox
from ffzero_photonics.chip_factory import build_chip_from_config
from ffzero_photonics.cli import main
from ffzero_photonics.data import load_dataset
from ffzero_photonics.digital.cnn import CNN
from ffzero_photonics.digital.mlp import MLP
from ffzero_photonics.errors import UserInputError
from ffzero_photonics.method.engine_jax import has_compiled_measurement
from ffzero_photonics.photonic import mesh_jit
from ffzero_photonics.photonic.chip import PhotonicChip
from ffzero_photonics.photonic.chip_config import ChipConfig
from ffzero_photonics.photonic.nonideal_config import parse_preset
from ffzero_photonics.photonic.physics.heaters import HeaterPowerLimitError
from ffzero_photonics.photonic.compiled import CompiledMesh, route_kwargs
from ffzero_photonics.photonic.mesh_spec import build_mesh
from ffzero_photonics.trainer import TrainConfig, Trainer


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", seed=0, max_train=320)


@pytest.fixture(scope="module")
def pixels():
    return load_dataset("digits", seed=0, max_train=320, standardize=False)


def _train(make_model, data, backend, **config):
    model = make_model()
    trainer = Trainer(backend=backend, seed=3, **config)
    trainer.fit(model, data)
    theta = np.concatenate([model.get_params(l) for l in range(model.n_layers)])
    return theta, trainer, model


def _assert_same_run(make_model, data, **config):
    theta_np, tr_np, model_np = _train(make_model, data, "numpy", **config)
    theta_jax, tr_jax, model_jax = _train(make_model, data, "jax", **config)
    assert np.max(np.abs(theta_jax - theta_np)) <= 1e-8 * np.max(np.abs(theta_np))
    initial = make_model()
    theta0 = np.concatenate([initial.get_params(l) for l in range(initial.n_layers)])
    assert np.max(np.abs(theta_np - theta0)) > 1e-4  # training moved the parameters
    assert tr_jax.train_cost.snapshot() == tr_np.train_cost.snapshot()
    assert model_jax.counter.snapshot() == model_np.counter.snapshot()
    np.testing.assert_allclose([r["loss"] for r in tr_jax.history], [r["loss"] for r in tr_np.history], rtol=1e-8)
    assert tr_jax._rng.bit_generator.state == tr_np._rng.bit_generator.state  # same directions drawn
    return tr_np, tr_jax, model_np, model_jax


def test_three_ffzero_epochs_on_a_small_mlp_match_numpy(digits):
    tr_np, *_ = _assert_same_run(lambda: MLP((64, 32, 10), seed=1), digits, epochs=3, batch_size=16)
    assert tr_np.train_cost.calls == 2 * 3 * (320 // 16)


def test_three_ffzero_epochs_on_a_small_ideal_chip_match_numpy(pixels):
    _assert_same_run(lambda: PhotonicChip.for_data(pixels, ports=16, layers=2, seed=1), pixels, epochs=3, batch_size=16)


@pytest.mark.parametrize("config", [
    dict(paradigm="bp-dd", epochs=2, batch_size=32),
    dict(epochs=1, batch_size=32, scheme="forward", n_dirs=3, directions="gaussian", optimizer="sgd", schedule="constant"),
])
def test_other_dd_settings_match_numpy(digits, config):
    _assert_same_run(lambda: MLP((64, 24, 10), seed=2), digits, **config)


def test_a_cnn_matches_numpy(digits):
    _assert_same_run(lambda: CNN(channels=(3, 3), seed=0), digits, epochs=1, batch_size=32)


def test_mid_epoch_checkpoints_see_the_same_state(digits):
    seen = {}
    for backend in ("numpy", "jax"):
        states = []

        def on_step(tr):
            meta, arrays = tr.state()
            states.append((meta["partial"]["next_batch"], meta["rng"]["state"]["state"], meta["train_cost"],
                           np.concatenate([arrays[k].ravel() for k in sorted(arrays) if k.startswith("opt_")])))

        model = MLP((64, 16, 10), seed=0)
        Trainer(backend=backend, epochs=1, batch_size=16, checkpoint_every=6).fit(model, digits, on_step=on_step)
        seen[backend] = states
    assert [s[:3] for s in seen["jax"]] == [s[:3] for s in seen["numpy"]]
    assert len(seen["jax"]) == 2 * (320 // 16 - 1) // 6  # batches 6, 12, 18 of 20, in each of 2 stages
    for a, b in zip(seen["jax"], seen["numpy"]):
        np.testing.assert_allclose(a[3], b[3], rtol=1e-8, atol=1e-12)


def test_training_leaves_the_global_x64_flag_alone(digits):
    before = jax.config.jax_enable_x64
    _train(lambda: MLP((64, 10)), digits, "jax", epochs=1, batch_size=64)
    assert jax.config.jax_enable_x64 == before


@pytest.mark.parametrize("make", [lambda: MLP((64, 12, 10)), lambda: CNN(channels=(2, 3)),
                                  lambda: PhotonicChip(64, ports=9, layers=3, mesh="reck")])
def test_compiled_query_measures_what_query_measures(make):
    model, rng = make(), np.random.default_rng(0)
    x = rng.standard_normal((5, model.n_inputs))
    assert isinstance(model, CompiledMeasurement) and has_compiled_measurement(model)
    for layer in range(model.n_layers):
        cand = model.get_params(layer)[None] + 0.1 * rng.standard_normal((3, model.layer_info(layer).n_params))
        params = [model.get_params(l) for l in range(layer)] + [cand]
        measure = jax.jit(model.compiled_query, static_argnums=2)
        with jax.enable_x64(True):
            out = np.asarray(measure(params, x, layer))
            plain = np.asarray(measure([model.get_params(l) for l in range(layer + 1)], x, layer))
        np.testing.assert_allclose(out, model.query(x, layer, {layer: cand}), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(plain, model.query(x, layer)[0], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("make", [lambda: MLP((64, 12, 10)), lambda: CNN(channels=(2, 3)),
                                  lambda: PhotonicChip(64, ports=9, layers=3, mesh="reck")])
def test_a_stage_split_measures_what_the_whole_compiled_query_measures(make):
    model, rng = make(), np.random.default_rng(1)
    x = rng.standard_normal((5, model.n_inputs))
    committed = [model.get_params(l) for l in range(model.n_layers)]
    for layer in range(1, model.n_layers):
        cand = committed[layer][None] + 0.1 * rng.standard_normal((3, committed[layer].size))
        stage_input, stage_query = model.compiled_stage(layer)
        with jax.enable_x64(True):
            split = np.asarray(stage_query(cand, stage_input(committed[:layer], x)))
            whole = np.asarray(model.compiled_query(committed[:layer] + [cand], x, layer))
        assert split.shape == whole.shape
        np.testing.assert_allclose(split, whole, rtol=1e-12, atol=1e-14)


def test_a_chip_whose_committed_layers_drift_or_read_noise_has_no_stage_split(pixels):
    chip = PhotonicChip.for_data(pixels, ports=9, layers=2).with_nonideal(parse_preset("combined:medium"))
    assert chip.compiled_stage(1) is None


def test_the_engine_recomputes_a_stage_input_when_the_committed_layers_change(pixels):
    import optax

    from ffzero_photonics.method.engine_jax import CompiledDD

    def run(engine, committed):
        theta = committed[1].copy()
        tx = optax.adam(1e-2)
        idx = np.arange(32).reshape(2, 16)
        targets = np.eye(10)[pixels.y_train]
        us = np.random.default_rng(0).standard_normal((2, 1, theta.size))
        with jax.enable_x64(True):
            state = tx.init(jax.numpy.asarray(theta))
        return engine.run(theta, state, committed, pixels.X_train, idx, targets[idx], us)[0]

    chip = PhotonicChip.for_data(pixels, ports=16, layers=2)
    trainer = Trainer(seed=0)
    trainer.bind(chip, 10)
    make = lambda: CompiledDD(chip, trainer.objectives[1], [1], 1, optax.adam(1e-2), eps=0.3, n_dirs=1,
                              scheme="central")
    engine = make()
    assert engine._stage_input is not None  # the ideal chip's second stage runs its last layer alone
    first = [chip.get_params(l) for l in range(2)]
    moved = [first[0] + 0.5, first[1]]
    a, b = run(engine, first), run(engine, moved)
    assert np.max(np.abs(a - b)) > 1e-6
    np.testing.assert_array_equal(b, run(make(), moved))
    np.testing.assert_array_equal(a, run(engine, first))


def test_jax_backend_refuses_a_model_without_a_compiled_measurement(pixels):
    wrapped = ForwardingBlackBox(MLP((64, 10)))  # a metering wrapper must see every query
    assert not has_compiled_measurement(wrapped)
    with pytest.raises(UserInputError, match="backend 'jax'"):
        Trainer(backend="jax", epochs=1).fit(wrapped, pixels)
    assert wrapped.counter.calls == 0


# ---------- fabricated and physical chips: noise and drift drawn on the host, in the numpy order ----------
EFFECTS = "coupler:high+loss:high+phase_offset:high+dac:high+crosstalk:high+responsivity:high+drift:high+shot:high+thermal:high+adc:high"


def _fabricated(pixels):
    return PhotonicChip.for_data(pixels, ports=16, layers=2, nonideal=parse_preset(EFFECTS), seed=1)


def _physical(pixels, **tables):
    config = ChipConfig.from_dict({"chip": {"model": "physical", "ports": 16, "layers": 2, "n_features": 64, "seed": 1},
                                   "thermal": {"positions": "grid"}, **tables})
    return build_chip_from_config(config)


@pytest.mark.parametrize("kind", ["fabricated", "physical"])
def test_a_noisy_drifting_chip_trains_as_on_numpy_and_leaves_the_same_lab_state(pixels, kind):
    make = (lambda: _fabricated(pixels)) if kind == "fabricated" else (lambda: _physical(pixels))
    assert has_compiled_measurement(make()) and not make().is_ideal
    tr_np, tr_jax, chip_np, chip_jax = _assert_same_run(make, pixels, epochs=2, batch_size=16, loss="ce", temperature=0.1)
    assert json.dumps(chip_jax.sim_state()) == json.dumps(chip_np.sim_state())  # noise, drift streams and lab clock
    assert tr_jax.evaluate(chip_jax, pixels, "val")["val_accuracy"] == tr_np.evaluate(chip_np, pixels, "val")["val_accuracy"]


@pytest.mark.parametrize("kind", ["ideal", "fabricated", "physical"])
def test_metered_heater_energy_is_the_same_on_both_engines(pixels, kind):
    makers = {"ideal": lambda: PhotonicChip.for_data(pixels, ports=16, layers=2, seed=1),
              "fabricated": lambda: _fabricated(pixels), "physical": lambda: _physical(pixels)}
    energy = {}
    for backend in ("numpy", "jax"):
        chip = makers[kind]()
        assert chip.compiled_setting_power() is None or kind == "physical"  # nothing to do unless limited or metered
        chip.meter_heater_energy()
        assert chip.compiled_setting_power().refuses == (kind == "physical")  # only a chip that refuses needs commits' power
        Trainer(backend=backend, seed=3, epochs=1, batch_size=32, loss="ce", temperature=0.1).fit(chip, pixels)
        energy[backend] = chip.heater_energy_J
    assert energy["numpy"] > 0
    assert energy["jax"] == pytest.approx(energy["numpy"], rel=1e-10)


@pytest.mark.parametrize("kind", ["fabricated", "physical"])
def test_compiled_query_with_lab_draws_reads_what_query_reads(pixels, kind):
    a, b = (_fabricated(pixels), _fabricated(pixels)) if kind == "fabricated" else (_physical(pixels), _physical(pixels))
    rng = np.random.default_rng(0)
    x = pixels.X_train[:8]
    for layer in range(2):
        info = a.layer_info(layer)
        cand = a.get_params(layer)[None] + 0.2 * rng.standard_normal((3, info.n_params))
        cand = np.clip(cand, info.low, info.high) if kind == "physical" else cand
        params = [a.get_params(l) for l in range(layer)] + [cand]
        lab = jax.tree_util.tree_map(lambda v: v[0], a.lab_draws(x[None], 3, layer))
        with jax.enable_x64(True):
            out = np.asarray(jax.jit(a.compiled_query, static_argnums=2)(params, x, layer, lab))
        reading = b.query(x, layer, {layer: cand})
        assert np.std(reading - b.detector_powers(x)[layer]) > 0  # the readings are noisy
        np.testing.assert_allclose(out, reading, rtol=1e-12, atol=1e-15)
    assert json.dumps(a.sim_state()) == json.dumps(b.sim_state())
    with jax.enable_x64(True):  # without lab draws: detector_powers' view (input DACs traced)
        clean = np.asarray(a.compiled_query([a.get_params(l) for l in range(2)], x, 1))
    np.testing.assert_allclose(clean, b.detector_powers(x)[1], rtol=1e-10)


@pytest.mark.parametrize("headroom_W", [0.005, 0.01, 0.02])  # a query refused at step 0, a commit, a later query
def test_the_compiled_engine_refuses_a_setting_above_the_heater_limit_as_query_does(pixels, headroom_W):
    start = _physical(pixels).heater_power_W()[0]
    after = {}
    for backend in ("numpy", "jax"):
        chip = _physical(pixels, heaters={"max_total_power_W": float(start) + headroom_W})
        chip.meter_heater_energy()
        trainer = Trainer(backend=backend, epochs=2, batch_size=16, eps=1.0, lr=0.3, seed=0)
        with pytest.raises(HeaterPowerLimitError, match="max_total_power_W") as info:
            trainer.fit(chip, pixels)
        after[backend] = (str(info.value), chip.counter.snapshot(), trainer.train_cost.snapshot(), chip.get_params(0),
                          chip.heater_energy_J, json.dumps(chip.sim_state()))
    (msg_np, calls_np, cost_np, params_np, energy_np, lab_np), (msg, calls, cost, params, energy, lab) = after.values()
    assert msg == msg_np and calls == calls_np and cost == cost_np and lab == lab_np  # stopped at the same call
    np.testing.assert_allclose(params, params_np, rtol=1e-10)  # the last accepted commit
    assert energy == pytest.approx(energy_np, rel=1e-10, abs=0.0)


def test_backend_is_validated_and_autodiff_paradigms_accept_it(digits):
    with pytest.raises(UserInputError, match="unknown backend 'torch'"):
        TrainConfig(backend="torch")
    model = MLP((64, 10))
    Trainer(paradigm="ff-ad", backend="jax", epochs=1, batch_size=64).fit(model, digits)  # no DD step to compile


@pytest.mark.parametrize("topology,n,routed", [("clements", 6, False), ("reck", 5, False), ("clements", 4, True)])
def test_mesh_jit_propagates_like_the_compiled_mesh(topology, n, routed):
    spec, rng = build_mesh(topology, n), np.random.default_rng(1)
    routes = route_kwargs(spec, rng.uniform(10, 50, (spec.n_columns + 1, n))) if routed else {}
    mesh = CompiledMesh(spec, **routes)
    p = rng.uniform(0, 2 * np.pi, (3, spec.n_params))
    x = rng.standard_normal((4, n)) + 1j * rng.standard_normal((4, n))
    y = mesh.propagate(p, x)
    propagate = jax.jit(lambda params, fields: mesh_jit.propagate(mesh, params, fields))
    with jax.enable_x64(True):
        np.testing.assert_allclose(propagate(p, x), y, atol=1e-13)
        if not routed:  # a committed layer: one setting on a batch, or shared by every stacked entry
            np.testing.assert_allclose(propagate(p[0], x), mesh.propagate(p[0], x), atol=1e-13)
            shared = mesh.propagate(np.broadcast_to(p[1], p.shape), y)
            np.testing.assert_allclose(propagate(p[1], y), shared, atol=1e-13)


def test_cli_backend_option_is_recorded(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--backend", "jax", "--epochs", "1", "--hidden", "16",
                 "--batch-size", "128", "--no-progress"]) == 0
    assert json.loads((out / "metrics.json").read_text())["config"]["train"]["backend"] == "jax"


def test_the_third_layer_of_an_ideal_chip_trains_on_the_float32_engine():
    # two weak paper activations leave ~1e-16 of the input power at layer 3: before its cosines were taken
    # scale-free, float32 squashed them to 0 and the ce loss sat at ln(10) (BP+AD read 49 % on 25 x 3)
    from ffzero_photonics.registry import build_model

    data = load_dataset("digits", seed=0, standardize=False)
    chip = build_model("photonic", data, seed=0, ports=16, layers=3)
    assert np.mean(chip.detector_powers(data.X_train[:16])[2].sum(-1)) < 1e-14
    history = Trainer(paradigm="ffzero", backend="jax", loss="ce", epochs=2, seed=0).fit(chip, data)
    third = [r["loss"] for r in history if r["stage"] == 2]
    assert abs(third[0] - np.log(10)) > 0.5 and third[-1] < third[0] - 0.1
