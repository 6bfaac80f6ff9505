"""Prototypes, local losses and the directional-derivative estimator."""

import jax.numpy as jnp
import numpy as np
import pytest

from ffzero_photonics.method.estimators import directional_gradient, sample_directions
from ffzero_photonics.method.losses import cosine_scores, local_loss
from ffzero_photonics.method.prototypes import make_prototypes, onehot_prototypes, simplex_prototypes


@pytest.mark.parametrize("n_classes,dim", [(2, 5), (3, 3), (10, 10), (10, 100), (10, 9)])
def test_simplex_geometry(n_classes, dim):
    p = simplex_prototypes(n_classes, dim, np.random.default_rng(1))
    assert p.shape == (n_classes, dim)
    np.testing.assert_allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-12)
    gram = p @ p.T
    off = gram[~np.eye(n_classes, dtype=bool)]
    np.testing.assert_allclose(off, -1.0 / (n_classes - 1), atol=1e-12)
    np.testing.assert_allclose(p.sum(axis=0), 0.0, atol=1e-12)


def test_simplex_is_seeded_and_rotated():
    a = simplex_prototypes(10, 100, np.random.default_rng(3))
    b = simplex_prototypes(10, 100, np.random.default_rng(3))
    c = simplex_prototypes(10, 100, np.random.default_rng(4))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0.1


def test_simplex_needs_enough_dimensions():
    with pytest.raises(ValueError, match="dimension >= 9"):
        simplex_prototypes(10, 8, np.random.default_rng(0))


def test_onehot_groups_are_nonnegative_and_orthogonal():
    p = onehot_prototypes(10, 25)
    assert (p >= 0).all()
    np.testing.assert_allclose(p @ p.T, np.eye(10), atol=1e-12)
    assert np.count_nonzero(p[0]) == 2 and np.count_nonzero(p[:, 20:]) == 0


def test_unknown_prototype_kind():
    with pytest.raises(ValueError, match="unknown prototype kind 'ring'"):
        make_prototypes("ring", 3, 4, np.random.default_rng(0))


def test_losses_agree_numpy_jax_and_known_values():
    rng = np.random.default_rng(0)
    protos = simplex_prototypes(4, 6, rng)
    h = rng.standard_normal((3, 5, 6))
    y = np.eye(4)[rng.integers(0, 4, 5)]
    for name in ("hinge", "cosine", "ce"):
        a = local_loss(np, name, h, protos, y)
        b = np.asarray(local_loss(jnp, name, jnp.asarray(h), jnp.asarray(protos), jnp.asarray(y)))
        assert a.shape == (3,)
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-12)  # jax computes in float32 here
    perfect = np.stack([protos[np.argmax(y, 1)] * 2.5])
    assert local_loss(np, "cosine", perfect, protos, y)[0] == pytest.approx(0.0, abs=1e-12)
    # at a prototype, every other cosine is -1/3, so the hinge is 0 for margin < 4/3
    assert local_loss(np, "hinge", perfect, protos, y, margin=0.3)[0] == pytest.approx(0.0, abs=1e-12)
    s = cosine_scores(np, perfect, protos)
    assert np.allclose(s.max(-1), 1.0)


def test_cosine_scores_survive_outputs_of_1e_minus_18_in_float32():
    # a 3-layer ideal chip reads ~1e-18 at its last layer (two weak activations): h * h underflows in float32
    rng = np.random.default_rng(2)
    protos = simplex_prototypes(4, 6, rng)
    h = rng.random((5, 6))
    tiny = np.asarray(cosine_scores(jnp, jnp.asarray(h * 1e-18, dtype=jnp.float32), jnp.asarray(protos, jnp.float32)))
    np.testing.assert_allclose(tiny, cosine_scores(np, h, protos), atol=1e-6)
    assert np.all(cosine_scores(np, np.zeros((2, 6)), protos) == 0.0)


def test_ce_loss_is_softmax_cross_entropy_of_cosines_over_temperature():
    protos = simplex_prototypes(4, 6, np.random.default_rng(1))
    y = np.eye(4)[[0, 2]]
    perfect = protos[[0, 2]][None] * 3.0
    # at a prototype: s_y = 1, the other three -1/3, so -log p_y = log(1 + 3 exp(-(4/3) / T))
    for t in (0.05, 0.1, 1.0):
        expected = np.log1p(3 * np.exp(-(4 / 3) / t))
        assert local_loss(np, "ce", perfect, protos, y, temperature=t)[0] == pytest.approx(expected, rel=1e-12)
    wrong = protos[[1, 3]][None]
    assert local_loss(np, "ce", wrong, protos, y)[0] > np.log(4) > local_loss(np, "ce", perfect, protos, y)[0]
    # stable at tiny temperatures (no overflow in exp)
    assert np.isfinite(local_loss(np, "ce", wrong, protos, y, temperature=1e-4)[0])


@pytest.mark.parametrize("bad", [0, -0.1, float("nan"), True, None])
def test_temperature_must_be_positive(bad):
    from ffzero_photonics.errors import UserInputError
    from ffzero_photonics.trainer import TrainConfig

    with pytest.raises(UserInputError, match="temperature must be a positive finite number"):
        TrainConfig(temperature=bad)


def test_regression_loss_is_mse_of_cosine():
    p = np.array([[1.0, 0.0]])
    h = np.array([[[1.0, 0.0], [0.0, 2.0]]])
    t = np.array([0.5, 0.0])
    assert local_loss(np, "mse", h, p, t)[0] == pytest.approx(((1 - 0.5) ** 2 + 0.0) / 2)


def test_sphere_directions_are_unit():
    u = sample_directions(np.random.default_rng(0), 7, 13)
    np.testing.assert_allclose(np.linalg.norm(u, axis=1), 1.0)


def test_gaussian_directions_have_unit_mean_square_norm():
    # so eps means the same perturbation size for either distribution (it was sqrt(d) times larger)
    u = sample_directions(np.random.default_rng(0), 4000, 625, "gaussian")
    assert np.mean(np.sum(u * u, axis=1)) == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("directions", ["sphere", "gaussian"])
def test_dd_estimator_is_unbiased_on_a_quadratic(directions):
    rng = np.random.default_rng(0)
    d = 6
    a = rng.standard_normal((d, d))
    A = a @ a.T + np.eye(d)
    b = rng.standard_normal(d)
    theta = rng.standard_normal(d)
    true = A @ theta + b

    def losses(cand):
        return 0.5 * np.einsum("mi,ij,mj->m", cand, A, cand) + cand @ b

    est = [directional_gradient(losses, theta, rng, eps=1e-2, n_dirs=4, directions=directions).grad
           for _ in range(20000)]
    mean = np.mean(est, axis=0)
    stderr = np.std(est, axis=0) / np.sqrt(len(est))
    assert np.all(np.abs(mean - true) < 5 * stderr + 1e-9)
    assert np.linalg.norm(mean - true) < 0.05 * np.linalg.norm(true)


def test_central_difference_is_exact_along_the_direction():
    theta = np.array([0.3, -0.2, 0.9])
    quad = lambda c: np.sum(c**2, axis=1) + 3 * c[:, 0]
    est = directional_gradient(quad, theta, np.random.default_rng(5), eps=0.5, n_dirs=1)
    u = sample_directions(np.random.default_rng(5), 1, 3)[0]
    grad = 2 * theta + np.array([3.0, 0, 0])
    np.testing.assert_allclose(est.grad, 3 * (grad @ u) * u, atol=1e-12)
    assert est.n_settings == 2


def test_forward_scheme_costs_k_plus_one():
    est = directional_gradient(lambda c: np.sum(c, 1), np.zeros(4), np.random.default_rng(0),
                               n_dirs=3, scheme="forward")
    assert est.n_settings == 4


def test_bad_scheme_named():
    with pytest.raises(ValueError, match="unknown difference scheme 'backward'"):
        directional_gradient(lambda c: c[:, 0], np.zeros(2), np.random.default_rng(0), scheme="backward")
