"""VisaBench over pyvisa-sim: the VISA path reads what SimulatedInstrument reads, and in-situ training works through it."""

from __future__ import annotations

import numpy as np
import pytest

from ffzero_photonics.chip_factory import build_chip_from_config
from ffzero_photonics.data import load_dataset
from ffzero_photonics.errors import ExternalFailure, UserInputError
from ffzero_photonics.lab import InstrumentChip, SimulatedInstrument, UnsafeDriveError
from ffzero_photonics.lab.visa import SIM_DEFINITION, VisaBench, open_simulated_bench
from ffzero_photonics.photonic.chip_config import ChipConfig
from ffzero_photonics.trainer import TrainConfig, Trainer

RTOL = 2e-9  # the meter replies with 10 significant digits


@pytest.fixture(scope="module")
def iris():
    return load_dataset("iris")


def physical_instrument(data, ports=4, layers=1, seed=0):
    config = ChipConfig.preset("physical").with_overrides(ports=ports, layers=layers, n_features=4, seed=seed)
    return SimulatedInstrument(build_chip_from_config(config, data))


def test_readings_through_visa_equal_the_simulated_instrument(iris):
    direct, behind = physical_instrument(iris), physical_instrument(iris)
    bench, _ = open_simulated_bench(behind)
    limit = bench.describe().layers[0].max_power_mW[0]
    np.testing.assert_allclose(bench.read_drives(0), direct.read_drives(0), atol=0.01)  # DAC grid of 16 bits
    rng = np.random.default_rng(3)
    x = iris.X_train[:7]
    one = rng.uniform(0, limit, size=(1, 16))
    np.testing.assert_allclose(bench.apply_and_read(x, 0, {0: one}), direct.apply_and_read(x, 0, {0: one}), rtol=RTOL)
    # M settings: the bench measures them one after another, as the simulated chip does setting by setting
    swept = rng.uniform(0, limit, size=(3, 16))
    expected = np.concatenate([direct.apply_and_read(x, 0, {0: row[None]}) for row in swept])
    got = bench.apply_and_read(x, 0, {0: swept})
    assert got.shape == (3, 7, 4)
    np.testing.assert_allclose(got, expected, rtol=RTOL)
    assert not np.allclose(got[0], got[1], rtol=1e-3)  # different drives read differently


def test_the_detector_bank_switch_reads_each_layer_of_a_two_layer_chip(iris):
    direct, behind = physical_instrument(iris, layers=2), physical_instrument(iris, layers=2)
    bench, _ = open_simulated_bench(behind)
    rng = np.random.default_rng(5)
    for layer in (1, 0, 1):
        drives = {l: rng.uniform(0, 40.0, size=(1, 16)) for l in range(layer + 1)}
        got = bench.apply_and_read(iris.X_train[:3], layer, drives)
        np.testing.assert_allclose(got, direct.apply_and_read(iris.X_train[:3], layer, drives), rtol=RTOL)
    with pytest.raises(UserInputError, match="DAC channel 256"):
        open_simulated_bench(physical_instrument(iris, ports=16))


def test_visa_traffic_is_the_scpi_a_lab_driver_sends(iris):
    bench, _ = open_simulated_bench(physical_instrument(iris))
    sent = []
    for resource in (bench.dac, bench.modulator, bench.meter):
        write = resource.write
        resource.write = lambda message, _w=write, _r=resource: (sent.append((_r.resource_name, message)), _w(message))[1]
    writes, queries = bench.writes, bench.queries
    drives = np.full((2, 16), 10.0)
    drives[1, 0] = 20.0
    bench.apply_and_read(iris.X_train[:2], 0, {0: drives})
    messages = [m for _, m in sent]
    assert messages[0].startswith("SOUR:LIST ") and len(messages[0].split(",")) == 8
    assert messages.count("MEAS:POW?") == 2
    dac = [m for m in messages if m.startswith("SOUR") and ":VOLT " in m]
    assert len(dac) == 16 + 1  # the second setting changes one channel only
    assert dac[-1] == f"SOUR1:VOLT {bench.volts_for(np.array([20.0]))[0]:.9f}"
    assert bench.writes - writes == len(dac) + 1 + ("ROUT:BANK 0" in messages)
    assert bench.queries - queries == 2 + 3  # two measurements, one error check per instrument


def test_unsafe_drives_never_reach_the_dac(iris):
    bench, _ = open_simulated_bench(physical_instrument(iris))
    before = bench.writes
    with pytest.raises(UnsafeDriveError, match="L0_mzi_c0_r0_theta"):
        bench.apply_and_read(iris.X_train[:2], 0, {0: np.full((1, 16), 1e3)})
    assert bench.writes == before


def test_instrument_errors_become_external_failures(iris):
    bench, _ = open_simulated_bench(physical_instrument(iris))
    bench.dac.write("SOUR1:VOLT 99.000000000")  # above the DAC's 10 V range: the device refuses it
    with pytest.raises(ExternalFailure, match="192.168.0.10.*Command error"):
        bench.apply_and_read(iris.X_train[:2], 0, {0: np.full((1, 16), 10.0)})
    bench.apply_and_read(iris.X_train[:2], 0, {0: np.full((1, 16), 10.0)})  # the error queue was read out


def test_bench_validates_its_parameters(iris):
    channels = physical_instrument(iris).describe()
    with pytest.raises(UserInputError, match="resistance_ohm"):
        VisaBench(channels, resistance_ohm=-1.0, v_max_V=7.5)
    with pytest.raises(UserInputError, match="wiring"):
        VisaBench(channels, resistance_ohm=1e3, v_max_V=7.5, wiring=[[1, 2]])
    paper = SimulatedInstrument(build_chip_from_config(ChipConfig().with_overrides(ports=4, layers=1, n_features=4)))
    with pytest.raises(UserInputError, match="physical chip"):
        open_simulated_bench(paper)
    assert SIM_DEFINITION.endswith("visa_sim.yaml")


def test_training_through_visa_lowers_the_loss(iris):
    bench, _ = open_simulated_bench(physical_instrument(iris), message_s=1e-3)
    chip = InstrumentChip(bench)
    history = Trainer(TrainConfig(epochs=6, batch_size=16, lr=0.1)).fit(chip, iris)
    losses = [row["loss"] for row in history]
    assert losses[-1] < losses[0] - 0.05
    assert bench.queries > 100 and bench.clock.lab_time_s == pytest.approx(1e-3 * (bench.writes + bench.queries))
