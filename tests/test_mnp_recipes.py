"""MNP's training recipes ('paper', 'authors' and switch overrides): every part of the authors'
package is present and has an effect, determinism, persistence, parameter errors.

The study in shared/studies/mnp-fidelity.md found that the authors' recipe works only as a
package (lr 5e-3 + L_kl summed with gradient through P + w_i rescaled with gradient + per-step
DWA with gradient); these tests fail if a part is lost or silently stops doing anything.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _synth import multimodal_task

import mnpad
from mnpad import MNP
from mnpad.detectors.mnp import RECIPES, resolve_recipe

TINY = dict(epochs=2, pretrain_epochs=1, steps_per_epoch=4, n_prototypes=3,
            early_stopping=False, device="cpu")
#: the authors' package with mnpad's (fast) pretraining; the layer-wise pretraining early-stops
#: after >= 16 epochs a stage, too slow to repeat in every test
PACKAGE = {"base": "authors", "pretraining": "plain"}


@pytest.fixture(scope="module")
def task():
    return multimodal_task(seed=1, n_normal=600)


@pytest.fixture(scope="module")
def authors(task):
    Xtr, y, _, _, _ = task
    return MNP(recipe=PACKAGE, random_state=0, **TINY).fit(Xtr, y)


@pytest.fixture(scope="module")
def package_scores(task, authors):
    return authors.decision_function(task[3])


def _batch(det, task, bu=64, ba=8):
    Xtr, y, _, _, _ = task
    xu = torch.as_tensor(Xtr[y == 0][:bu])
    xa = torch.as_tensor(Xtr[y == 1][:ba])
    return xu, xa


def _grad(det, loss):
    det.net_.zero_grad(set_to_none=True)
    loss.backward()
    return det.net_.prototypes.grad


def test_resolve_recipe_and_errors():
    assert resolve_recipe("authors")["lr"] == 5e-3 and resolve_recipe("paper")["lr"] == 2e-4
    r = resolve_recipe({"base": "authors", "pretraining": "plain"})
    assert r["pretraining"] == "plain" and r["kl"] == "sum" and r["base"] == "authors"
    for bad, msg in ((("nope"), "recipe must be"), ({"base": "nope"}, "recipe must be"),
                     ({"base": "paper", "colour": 1}, "unknown recipe switch"),
                     ({"base": "paper", "kl": "max"}, "must be one of"), (3, "recipe must be")):
        with pytest.raises(ValueError, match=msg):
            resolve_recipe(bad)
    with pytest.raises(ValueError, match="recipe"):
        MNP(recipe="nope", **TINY).fit(*multimodal_task(seed=0, n_normal=100)[:2])


def test_weights_carry_gradient_only_in_the_authors_recipe(authors, task):
    """L_recon depends on the prototypes only through w_i: a gradient there means w_i is not
    detached (authors: rescaled to batch mean 1, with gradient)."""
    xu, xa = _batch(authors, task)
    g = _grad(authors, authors._losses(xu, xa)["loss_recon"])
    assert g is not None and g.abs().sum() > 0
    authors.recipe_ = {**authors.recipe_, "weights": "detached"}
    try:
        g = _grad(authors, authors._losses(xu, xa)["loss_recon"])
        assert g is None or g.abs().sum() == 0
    finally:
        authors.recipe_ = resolve_recipe(PACKAGE)


def test_weights_are_rescaled_to_batch_mean_one(authors, task):
    """Rescaled weights sum to the batch size: L_recon^u equals the w-weighted mean with
    mean-one weights (the paper's eq. 7 weights lie in [0.55, 0.73] instead)."""
    xu, xa = _batch(authors, task)
    with torch.no_grad():
        _, e, s, _ = authors.net_(torch.cat([xu, xa]))
        w = torch.sigmoid(s[: len(xu)].max(1).values)
        w = w / w.mean()
        l_u = (w * e[: len(xu)]).mean()
        expected = l_u + torch.relu(authors.margin - (e[len(xu):] - l_u)).mean()
        got = authors._losses(xu, xa)["loss_recon"]
    assert float(got) == pytest.approx(float(expected), rel=1e-5)


def test_kl_is_summed_with_gradient_through_the_target(authors, task):
    xu, xa = _batch(authors, task)
    summed = authors._losses(xu, xa)["loss_np"]
    g_sum = _grad(authors, summed).clone()
    authors.recipe_ = {**authors.recipe_, "kl": "mean"}
    try:
        mean = authors._losses(xu, xa)["loss_np"]
        g_mean = _grad(authors, mean)
    finally:
        authors.recipe_ = resolve_recipe(PACKAGE)
    # L_con is the same in both; the summed L_kl is b_u times the batch mean
    assert float(summed.detach()) > float(mean.detach()) + 1e-4
    assert not torch.allclose(g_sum, g_mean)


def test_per_step_dwa_weights_carry_gradient(authors, task):
    """The total loss differs in gradient from the same weights held constant."""
    xu, xa = _batch(authors, task)
    data = {"Xu": xu, "Xa": xa, "prev": [torch.tensor([0.5, 2.0, 0.3])]}
    batch = (torch.arange(len(xu)), torch.arange(len(xa)))
    out = authors._batch_loss(batch, data)
    g = _grad(authors, out["loss"]).clone()
    losses = torch.stack([out["loss_recon"], out["loss_np"], out["loss_score"]]).detach()
    k = torch.exp(losses / data["prev"][0] / authors.dwa_temperature)
    out = authors._batch_loss(batch, data)
    terms = torch.stack([out["loss_recon"], out["loss_np"], out["loss_score"]])
    g_const = _grad(authors, ((k / k.sum()) * terms).sum())
    assert float(out["loss"]) == pytest.approx(float(((k / k.sum()) * terms).sum()), rel=1e-5)
    assert not torch.allclose(g, g_const)


@pytest.mark.parametrize("switch", sorted(k for k in RECIPES["authors"] if k not in (
    "max_epochs", "fixed_epochs", "pretraining", "stopping", "members", "swa_epochs",
    "snapshots", "snapshot_below", "top_epochs", "fits", "snapshot_fits")))
# pretraining and stopping: tests below; members, swa_epochs and the snapshots are not parts of
# the package (tested below)
def test_every_switch_of_the_package_has_an_effect(task, package_scores, switch):
    """Flipping any one switch of the package changes the fit (a part that silently stops
    doing anything fails here)."""
    Xtr, y, _, Xte, _ = task
    other = MNP(recipe={**PACKAGE, switch: RECIPES["paper"][switch]}, random_state=0,
                **TINY).fit(Xtr, y)
    assert not np.array_equal(package_scores, other.decision_function(Xte)), switch


def test_layerwise_pretraining_and_the_authors_stopping_rule(task):
    Xtr, y, _, Xte, yte = task
    kw = dict(random_state=0, **{**TINY, "epochs": 4, "patience": 2})
    val = (Xte, yte)
    m = MNP(recipe="authors", **kw).fit(Xtr, y, validation_data=val)
    pre = [h for h in m.history_ if h["phase"] == "pretrain"]
    assert [s for s in ("dae1", "dae2", "finetune") if any(h["stage"] == s for h in pre)] == [
        "dae1", "dae2", "finetune"]
    assert all("val_score" in h for h in pre)
    assert m.recipe_["pretraining"] == "layerwise" and m.validation_ == "given"
    plain = MNP(recipe=PACKAGE, **kw).fit(Xtr, y, validation_data=val)
    assert not np.array_equal(plain.decision_function(Xte), m.decision_function(Xte))
    # the authors' criterion is -(1 - AUC-PR) - (1 - AUC-ROC) <= 0; validation AP is in (0, 1]
    train = [h["val_score"] for h in plain.history_ if h["phase"] == "train"]
    assert all(-2 <= v <= 0 for v in train)
    ap = MNP(recipe={**PACKAGE, "stopping": "ap"}, **kw).fit(Xtr, y, validation_data=val)
    assert all(0 < h["val_score"] <= 1 for h in ap.history_ if h["phase"] == "train")


def test_recipes_are_deterministic_and_persist(task, tmp_path):
    Xtr, y, _, Xte, _ = task
    for recipe in ("paper", PACKAGE, {**PACKAGE, "swa_epochs": 2, "members": 2}):
        a = MNP(recipe=recipe, random_state=4, **TINY).fit(Xtr, y)
        b = MNP(recipe=recipe, random_state=4, **TINY).fit(Xtr, y)
        np.testing.assert_array_equal(a.decision_function(Xte), b.decision_function(Xte))
        path = tmp_path / f"m{id(recipe)}.mnpad"
        a.save(path)
        back = mnpad.load(path)
        assert back.recipe == recipe and back.recipe_ == a.recipe_
        np.testing.assert_array_equal(back.decision_function(Xte), a.decision_function(Xte))


def _states(m):
    return {k: v.clone() for k, v in m.net_.state_dict().items()}


def test_swa_averages_the_last_epochs_on_the_fixed_schedule(task):
    """swa_epochs=k: the final weights are the mean of the weights at the ends of the last k
    epochs. A run stopped after epoch j is exactly the longer run at the end of epoch j (same
    draws), so the average can be rebuilt from plain fits of 2 and 3 epochs."""
    Xtr, y, _, Xte, _ = task
    kw = {**TINY, "epochs": 3}
    ends = [_states(MNP(recipe=PACKAGE, random_state=2, **{**kw, "epochs": e}).fit(Xtr, y))
            for e in (2, 3)]
    swa = MNP(recipe={**PACKAGE, "swa_epochs": 2}, random_state=2, **kw).fit(Xtr, y)
    for k, v in _states(swa).items():
        torch.testing.assert_close(v, (ends[0][k] + ends[1][k]) / 2, msg=k)
    assert not torch.equal(_states(swa)["scorer.0.weight"], ends[1]["scorer.0.weight"])
    # with a validation split the stopping rule picks the epoch: no averaging
    val = (Xte, task[4])
    a = MNP(recipe={**PACKAGE, "swa_epochs": 2}, random_state=2, **kw).fit(
        Xtr, y, validation_data=val)
    b = MNP(recipe=PACKAGE, random_state=2, **kw).fit(Xtr, y, validation_data=val)
    np.testing.assert_array_equal(a.decision_function(Xte), b.decision_function(Xte))


def test_members_are_averaged_into_one_network(task):
    Xtr, y, _, Xte, _ = task
    one = MNP(recipe=PACKAGE, random_state=3, **TINY).fit(Xtr, y)
    soup = MNP(recipe={**PACKAGE, "members": 3}, random_state=3, **TINY).fit(Xtr, y)
    members = sorted({h["member"] for h in soup.history_ if h["phase"] == "train"})
    assert members == [0, 1, 2]
    assert soup.net_.scorer[0].weight.shape == one.net_.scorer[0].weight.shape
    assert not np.array_equal(soup.decision_function(Xte), one.decision_function(Xte))


def test_default_recipe_is_mnpad():
    assert MNP().recipe == "mnpad"
    assert resolve_recipe("mnpad") == {**resolve_recipe("authors"), "snapshots": 3,
                                       "snapshot_below": 10, "top_epochs": 5, "fits": 3,
                                       "snapshot_fits": 3,
                                       "base": "mnpad"}
    with pytest.raises(ValueError, match="swa_epochs"):
        resolve_recipe({"base": "mnpad", "swa_epochs": -1})


def test_mnp_adam_is_bit_identical_to_torch_fused_adam():
    """MNP's ``_Adam`` (the functional fused update without the Optimizer class's per-step
    bookkeeping) must give exactly torch.optim.Adam(fused=True)'s parameters, including a
    parameter that has no gradient on some steps (no update, no step count: torch's rule)."""
    from mnpad.detectors.mnp import _Adam

    torch.manual_seed(0)
    a = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.LeakyReLU(0.01), torch.nn.Linear(4, 2))
    b = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.LeakyReLU(0.01), torch.nn.Linear(4, 2))
    b.load_state_dict(a.state_dict())
    extra_a, extra_b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(3))
    opt_a = _Adam(list(a.parameters()) + [extra_a], lr=5e-3, weight_decay=5e-4)
    opt_b = torch.optim.Adam(list(b.parameters()) + [extra_b], lr=5e-3, weight_decay=5e-4,
                             fused=True)
    x = torch.randn(50, 8, 6)
    for t in range(50):
        for net, extra, opt in ((a, extra_a, opt_a), (b, extra_b, opt_b)):
            loss = net(x[t]).pow(2).mean()
            if t % 3 == 0:  # the extra parameter gets a gradient on every third step only
                loss = loss + (extra * x[t, 0, :3]).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    for p, q in zip(list(a.parameters()) + [extra_a], list(b.parameters()) + [extra_b],
                    strict=True):
        assert torch.equal(p, q)
    assert not torch.equal(extra_a, torch.ones(3))  # it was updated


@pytest.mark.parametrize("dims", [[6, 4, 6], [9, 7, 3, 7, 9]])
def test_pretraining_backward_by_hand_equals_autograd(dims):
    """The layer-wise pretraining's hand-written backward pass (``_chain_mse_step``) must give
    autograd's loss and gradients for a chain of Linear + LeakyReLU layers under MSE (exactly
    on this machine; the tolerance only absorbs BLAS differences elsewhere). A sign or slope
    error in it would show here as a gradient off by far more."""
    from mnpad.detectors.mnp import _chain_mse_step

    torch.manual_seed(1)
    layers = [torch.nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True)]
    x, target = torch.randn(8, dims[0]), torch.randn(8, dims[-1])
    out = x
    for lin in layers:
        out = torch.nn.functional.leaky_relu(lin(out), 0.01)
    ref_loss = torch.nn.functional.mse_loss(out, target)
    ref_loss.backward()
    ref = [(lin.weight.grad.clone(), lin.bias.grad.clone()) for lin in layers]
    for lin in layers:
        lin.weight.grad = lin.bias.grad = None
    loss = _chain_mse_step(layers, x, target)
    assert torch.allclose(loss, ref_loss.detach(), rtol=1e-6, atol=1e-7)
    for (gw, gb), lin in zip(ref, layers, strict=True):
        assert torch.allclose(lin.weight.grad, gw, rtol=1e-5, atol=1e-7)
        assert torch.allclose(lin.bias.grad, gb, rtol=1e-5, atol=1e-7)


def test_pretraining_chain_is_the_stacked_autoencoder():
    """The layer-wise pretraining's fine-tuning stage trains the chain e1, e2, d1, d2 (each
    followed by LeakyReLU): it must be exactly ``net.decoder(net.encoder(x))``, or the stage
    would train something other than the network's autoencoder."""
    from mnpad.detectors.mnp import MNPNet

    torch.manual_seed(2)
    net = MNPNet(7, 5, 3, 2, 4, True, 1.0)
    x = torch.randn(9, 7)
    out = x
    for lin in (net.encoder[0], net.encoder[2], net.decoder[0], net.decoder[2]):
        out = torch.nn.functional.leaky_relu(lin(out), 0.01)
    assert torch.equal(out, net.decoder(net.encoder(x)))


def test_snapshot_rank_ensemble(task, tmp_path):
    """snapshots=k without a validation split: no labeled anomaly is held out, and the score is
    the mean over the networks at the ends of the last k epochs of a row's rank among that
    network's scores of the training rows. A run stopped after epoch j is exactly the longer
    run at the end of epoch j (same draws), so the ensemble can be rebuilt from plain fits."""
    from mnpad.detectors._auto_select import TrainRank

    Xtr, y, _, Xte, _ = task
    kw = {**TINY, "epochs": 3, "early_stopping": "auto"}
    m = MNP(recipe={**PACKAGE, "snapshots": 3}, random_state=5, **kw).fit(Xtr, y)
    assert m.snapshots_used_ and m.validation_ == "none" and len(m.snapshot_states_) == 3
    ranks = []
    for e in (1, 2, 3):
        p = MNP(recipe=PACKAGE, random_state=5, **{**TINY, "epochs": e}).fit(Xtr, y)
        ranks.append(TrainRank(p.decision_function(Xtr))(p.decision_function(Xte)))
    scores = m.decision_function(Xte)
    np.testing.assert_allclose(scores, np.mean(ranks, 0), rtol=0, atol=1e-12)
    assert m.row_details(Xte)["score"].tolist() == scores.tolist()
    assert m.explain(Xte)["score"].tolist() == scores.tolist()
    # a row's score does not depend on the other rows scored with it
    np.testing.assert_array_equal(m.decision_function(Xte[5:12]), scores[5:12])
    # deterministic, and saved with its snapshots
    again = MNP(recipe={**PACKAGE, "snapshots": 3}, random_state=5, **kw).fit(Xtr, y)
    np.testing.assert_array_equal(again.decision_function(Xte), scores)
    path = tmp_path / "snap.mnpad"
    m.save(path)
    back = mnpad.load(path)
    np.testing.assert_array_equal(back.decision_function(Xte), scores)
    assert back.snapshots_used_ and len(back.snapshot_states_) == 3
    assert m.training_summary().startswith("3 epochs on every labeled anomaly, scored by the "
                                           "rank ensemble of the last 3")
    # with a validation split the stopping rule decides: no snapshots
    v = MNP(recipe={**PACKAGE, "snapshots": 3}, random_state=5, **kw).fit(
        Xtr, y, validation_data=(Xte, task[4]))
    assert not v.snapshots_used_ and v.snapshot_states_ is None
    assert v.training_summary().endswith("early stopping on the given validation split")


def _model_state(path):
    """The ``state`` of a saved model's metadata."""
    import json
    import zipfile

    with zipfile.ZipFile(path) as z:
        meta_name = next(n for n in z.namelist() if n.endswith("meta.json"))
        return json.loads(z.read(meta_name))["state"]


_DROP = object()  # a state field _with_state removes


def _with_state(path, out, **changes):
    """A copy of the model file ``path`` at ``out`` whose metadata state has ``changes``
    (``_DROP``: the field removed)."""
    import json
    import zipfile

    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(out, "w") as zout:
        for n in zin.namelist():
            data = zin.read(n)
            if n.endswith("meta.json"):
                meta = json.loads(data)
                meta["state"].update(changes)
                for k in [k for k, v in changes.items() if v is _DROP]:
                    del meta["state"][k]
                data = json.dumps(meta)
            zout.writestr(n, data)
    return out


def test_snapshot_file_that_does_not_match_is_refused(task, tmp_path):
    Xtr, y, _, _, _ = task
    m = MNP(recipe={**PACKAGE, "snapshots": 2}, random_state=1,
            **{**TINY, "early_stopping": "auto"}).fit(Xtr, y)
    path = tmp_path / "snap.mnpad"
    m.save(path)
    assert _model_state(path)["n_snapshots_"] == 2
    # claim a third snapshot that the file does not hold
    with pytest.raises(ValueError, match="snapshot 2"):
        mnpad.load(_with_state(path, tmp_path / "bad.mnpad", n_snapshots_=3))


def test_snapshots_only_below_the_held_out_threshold(task):
    """snapshot_below=n: the snapshot ensemble only where the internal split would hold out
    fewer than n labeled anomalies; otherwise the internal split and its early stopping."""
    Xtr, y, _, Xte, _ = task  # 10 labeled anomalies: the internal split holds out 2
    kw = {**TINY, "epochs": "auto", "early_stopping": "auto", "max_prototypes": 3}
    kw.pop("epochs")
    few = MNP(recipe={**PACKAGE, "snapshots": 2, "snapshot_below": 3}, random_state=0,
              **kw).fit(Xtr, y)
    assert few.snapshots_used_ and few.validation_ == "none"
    assert len([h for h in few.history_ if h["phase"] == "train"]) == 2
    enough = MNP(recipe={**PACKAGE, "snapshots": 2, "snapshot_below": 2}, random_state=0,
                 **kw).fit(Xtr, y)
    assert not enough.snapshots_used_ and enough.validation_.startswith("internal (2 labeled")
    assert enough.snapshot_states_ is None


def test_top_epochs_rank_ensemble_on_the_internal_split(task, tmp_path):
    """top_epochs=k with the internal split: training as without it, and the score is the rank
    ensemble of the k epochs with the best held-out criterion (ties: the earlier epoch); net_
    is the best of them. A run stopped after epoch j is the longer run at the end of epoch j
    (same draws; the stopping never fires within these epochs), so each kept network can be
    rebuilt from a plain fit."""
    from mnpad.detectors._auto_select import TrainRank

    Xtr, y, _, Xte, yte = task  # 10 labeled anomalies: the internal split holds out 2
    kw = {**TINY, "epochs": 6, "early_stopping": "auto"}
    plain = MNP(recipe=PACKAGE, random_state=4, **kw).fit(Xtr, y)
    m = MNP(recipe={**PACKAGE, "top_epochs": 3}, random_state=4, **kw).fit(Xtr, y)
    assert m.validation_.startswith("internal (2 labeled") and m.snapshots_used_
    crit = [h["val_score"] for h in m.history_ if h["phase"] == "train"]
    assert crit == [h["val_score"] for h in plain.history_ if h["phase"] == "train"]
    top = sorted(sorted(range(6), key=lambda e: (-crit[e], e))[:3])
    assert m.snapshot_epochs_ == top and len(m.snapshot_states_) == 3
    ranks, n_train = [], len(Xtr) - 2 - round(0.2 * (y == 0).sum())
    for e, ref in zip(top, m.snapshot_refs_, strict=True):
        p = MNP(recipe=PACKAGE, random_state=4, **{**kw, "epochs": e + 1}).fit(Xtr, y)
        assert len(ref) == n_train and np.isin(ref, p.decision_function(Xtr)).all()
        ranks.append(TrainRank(ref)(p.decision_function(Xte)))
        if e == min(top, key=lambda t: (-crit[t], t)):  # net_ is the best epoch's network
            np.testing.assert_array_equal(m._logits(m._inference(), Xte),
                                          p.decision_function(Xte))
    scores = m.decision_function(Xte)
    np.testing.assert_allclose(scores, np.mean(ranks, 0), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(m.decision_function(Xte[3:9]), scores[3:9])
    assert "best held-out criterion" in m.training_summary()
    # deterministic; saved with its networks and their epochs
    again = MNP(recipe={**PACKAGE, "top_epochs": 3}, random_state=4, **kw).fit(Xtr, y)
    np.testing.assert_array_equal(again.decision_function(Xte), scores)
    m.save(tmp_path / "top.mnpad")
    back = mnpad.load(tmp_path / "top.mnpad")
    np.testing.assert_array_equal(back.decision_function(Xte), scores)
    assert back.snapshot_epochs_ == top and back.training_summary() == m.training_summary()
    # with a given validation split (or without any) the switch does nothing
    v = MNP(recipe={**PACKAGE, "top_epochs": 3}, random_state=4, **kw).fit(
        Xtr, y, validation_data=(Xte, yte))
    assert v.snapshot_states_ is None and not v.snapshots_used_
    off = MNP(recipe={**PACKAGE, "top_epochs": 3}, random_state=4, **TINY).fit(Xtr, y)
    assert off.snapshot_states_ is None and off.validation_ == "none"
    # epochs=0 on the internal split: nothing to rank, the pretrained network is scored
    zero = MNP(recipe={**PACKAGE, "top_epochs": 3}, random_state=4, **{**kw, "epochs": 0}).fit(
        Xtr, y)
    assert zero.validation_.startswith("internal") and not zero.snapshots_used_
    assert np.isfinite(zero.decision_function(Xte)).all()


def test_snapshot_epochs_in_a_model_file_are_checked(task, tmp_path):
    Xtr, y, _, _, _ = task
    m = MNP(recipe={**PACKAGE, "top_epochs": 2}, random_state=1,
            **{**TINY, "epochs": 3, "early_stopping": "auto"}).fit(Xtr, y)
    path = tmp_path / "top.mnpad"
    m.save(path)
    assert _model_state(path)["snapshot_epochs_"] == m.snapshot_epochs_
    for bad_epochs in ([0], [0, "x"], "01", [-1, 2]):
        bad = _with_state(path, tmp_path / "bad.mnpad", snapshot_epochs_=bad_epochs)
        with pytest.raises(ValueError, match="snapshot epochs"):
            mnpad.load(bad)


@pytest.mark.parametrize("recipe", ["mnpad", {"base": "authors", "swa_epochs": 2}])
def test_zero_epochs_scores_the_pretrained_network(task, recipe):
    """epochs=0 (pretraining only): no snapshots or weights to average, the network as
    pretrained is scored (this raised an IndexError before)."""
    Xtr, y, _, Xte, _ = task
    m = MNP(recipe=recipe, random_state=0, **{**TINY, "epochs": 0}).fit(Xtr, y)
    assert not getattr(m, "snapshots_used_", False)
    assert not [h for h in m.history_ if h["phase"] == "train"]
    assert np.isfinite(m.decision_function(Xte)).all()


def test_fits_pool_the_rank_ensembles_of_complete_fits(task, tmp_path):
    """fits=3 on the top-5 path: the first fit is the ordinary one (same draws), two further
    complete fits with seeds drawn after it (each exactly a plain fit with that seed), and the
    score is the mean rank over all their kept networks. Members may choose their own k; the
    model file keeps each network's own shape."""
    from mnpad.detectors._auto_select import TrainRank

    Xtr, y, _, Xte, yte = task
    kw = {**TINY, "epochs": 4, "early_stopping": "auto"}
    rec = {**PACKAGE, "top_epochs": 2}
    one = MNP(recipe=rec, random_state=3, **kw).fit(Xtr, y)
    m = MNP(recipe={**rec, "fits": 3}, random_state=3, **kw).fit(Xtr, y)
    assert m.n_fits_ == 3 and one.n_fits_ == 1 and len(m.snapshot_states_) == 6
    assert m.snapshot_epochs_[:2] == one.snapshot_epochs_
    np.testing.assert_array_equal(m._logits(m._inference(), Xte),
                                  one._logits(one._inference(), Xte))  # net_: the first fit's
    assert len(m.fit_seeds_) == 2 and one.fit_seeds_ == []
    ranks = [TrainRank(r)(s) for r, s in zip(one.snapshot_refs_, one._snapshot_scores(Xte),
                                             strict=True)]
    members = [MNP(recipe={**rec, "fits": 1}, random_state=int(s), **kw).fit(Xtr, y)
               for s in m.fit_seeds_]
    for p in members:
        ranks += [TrainRank(r)(s) for r, s in zip(p.snapshot_refs_, p._snapshot_scores(Xte),
                                                  strict=True)]
    scores = m.decision_function(Xte)
    np.testing.assert_allclose(scores, np.mean(ranks, 0), rtol=0, atol=1e-12)
    assert "3 complete fits" in m.training_summary() and "(6 networks)" in m.training_summary()
    again = MNP(recipe={**rec, "fits": 3}, random_state=3, **kw).fit(Xtr, y)
    np.testing.assert_array_equal(again.decision_function(Xte), scores)
    # members with another k than the first fit's: scored and saved with their own shape
    other = MNP(recipe=rec, random_state=5, **{**kw, "n_prototypes": 5}).fit(Xtr, y)
    m.snapshot_states_ = m.snapshot_states_[:4] + other.snapshot_states_
    m.snapshot_refs_ = m.snapshot_refs_[:4] + other.snapshot_refs_
    mixed = m.decision_function(Xte)
    assert np.isfinite(mixed).all() and not np.array_equal(mixed, scores)
    m.save(tmp_path / "fits.mnpad")
    back = mnpad.load(tmp_path / "fits.mnpad")
    np.testing.assert_array_equal(back.decision_function(Xte), mixed)
    assert back.n_fits_ == 3 and back.fit_seeds_ == m.fit_seeds_
    bad = _with_state(tmp_path / "fits.mnpad", tmp_path / "bad.mnpad", n_fits_=0)
    with pytest.raises(ValueError, match="fit count"):
        mnpad.load(bad)
    # elsewhere (given validation, no split) the switch does nothing
    v = MNP(recipe={**rec, "fits": 3}, random_state=3, **kw).fit(Xtr, y, validation_data=(Xte, yte))
    assert v.n_fits_ == 1 and v.snapshot_states_ is None
    off = MNP(recipe={**rec, "fits": 3}, random_state=3, **TINY).fit(Xtr, y)
    assert off.n_fits_ == 1 and off.validation_ == "none"
    with pytest.raises(ValueError, match="fits"):
        MNP(recipe={**rec, "fits": 0}).fit(Xtr, y)



def test_snapshot_fits_take_the_median_over_complete_fits(task, tmp_path):
    """snapshot_fits=3 on the snapshot path (no validation split): the first fit is the
    ordinary one, two further complete fits with seeds drawn after it (each exactly a plain
    fit with that seed), and a row's score is the median over the three fits of each fit's
    mean rank over its snapshot networks; the top-5 path and a given validation split are
    untouched."""
    Xtr, y, _, Xte, yte = task
    kw = {**TINY, "epochs": 2, "early_stopping": "auto"}
    rec = {**PACKAGE, "snapshots": 2}
    one = MNP(recipe=rec, random_state=7, **kw).fit(Xtr, y)
    m = MNP(recipe={**rec, "snapshot_fits": 3}, random_state=7, **kw).fit(Xtr, y)
    assert m.validation_ == "none" and m.snapshots_used_
    assert m.n_fits_ == 3 and m.fit_pooling_ == "median" and len(m.snapshot_states_) == 6
    assert one.n_fits_ == 1 and one.fit_pooling_ == "mean" and len(m.fit_seeds_) == 2
    np.testing.assert_array_equal(m._logits(m._inference(), Xte),
                                  one._logits(one._inference(), Xte))  # net_: the first fit's
    fits = [one] + [MNP(recipe={**rec, "snapshot_fits": 1}, random_state=s, **kw).fit(Xtr, y)
                    for s in m.fit_seeds_]
    per_fit = np.array([f.decision_function(Xte) for f in fits])
    scores = m.decision_function(Xte)
    np.testing.assert_allclose(scores, np.median(per_fit, 0), rtol=0, atol=1e-12)
    # the median, not the mean: some row differs, and each score is one of the fits' own
    assert not np.allclose(scores, per_fit.mean(0))
    assert (np.abs(per_fit - scores).min(0) < 1e-12).all()
    np.testing.assert_array_equal(m.decision_function(Xte[2:9]), scores[2:9])
    assert m.training_summary().startswith("3 complete fits of 2 epochs on every labeled "
                                           "anomaly") and "median over the fits" in \
        m.training_summary() and "(6 networks;" in m.training_summary()
    again = MNP(recipe={**rec, "snapshot_fits": 3}, random_state=7, **kw).fit(Xtr, y)
    np.testing.assert_array_equal(again.decision_function(Xte), scores)
    # saved and loaded with its pooling; a file that claims another pooling is refused
    path = tmp_path / "snapfits.mnpad"
    m.save(path)
    assert _model_state(path)["fit_pooling_"] == "median"
    back = mnpad.load(path)
    np.testing.assert_array_equal(back.decision_function(Xte), scores)
    assert back.fit_pooling_ == "median" and back.training_summary() == m.training_summary()
    for bad in ("max", 3):
        with pytest.raises(ValueError, match="fit pooling"):
            mnpad.load(_with_state(path, tmp_path / "bad.mnpad", fit_pooling_=bad))
    with pytest.raises(ValueError, match="fit pooling"):  # 6 networks do not split into 4 fits
        mnpad.load(_with_state(path, tmp_path / "bad.mnpad", n_fits_=4,
                               fit_seeds_=[1, 2, 3]))
    # a file without the field (before session 12) pools by the mean
    one.save(tmp_path / "one.mnpad")
    old = mnpad.load(_with_state(tmp_path / "one.mnpad", tmp_path / "old.mnpad",
                                 fit_pooling_=_DROP))
    assert old.fit_pooling_ == "mean"
    np.testing.assert_array_equal(old.decision_function(Xte), one.decision_function(Xte))
    # with a given validation split, or on the top-5 path, the switch does nothing
    v = MNP(recipe={**rec, "snapshot_fits": 3}, random_state=7, **kw).fit(
        Xtr, y, validation_data=(Xte, yte))
    assert v.n_fits_ == 1 and not v.snapshots_used_
    top = MNP(recipe={**PACKAGE, "top_epochs": 2, "snapshot_fits": 3}, random_state=3,
              **{**kw, "epochs": 4}).fit(Xtr, y)
    plain_top = MNP(recipe={**PACKAGE, "top_epochs": 2}, random_state=3,
                    **{**kw, "epochs": 4}).fit(Xtr, y)
    assert top.n_fits_ == 1 and top.validation_.startswith("internal")
    np.testing.assert_array_equal(top.decision_function(Xte), plain_top.decision_function(Xte))
    with pytest.raises(ValueError, match="snapshot_fits"):
        MNP(recipe={**rec, "snapshot_fits": 0}).fit(Xtr, y)


def test_fits_on_the_top5_path_may_keep_unequal_numbers_of_networks(task):
    """With early stopping a further fit may stop sooner and keep fewer networks; the top-5
    path's flat mean over all of them does not need equal blocks (only the snapshot path's
    median does, where every fit keeps its last epochs)."""
    Xtr, y, _, Xte, _ = task
    m = MNP(recipe={**PACKAGE, "top_epochs": 5, "fits": 3}, patience=1, random_state=0,
            **{**TINY, "epochs": 8, "early_stopping": "auto"}).fit(Xtr, y)
    assert m.validation_.startswith("internal") and m.n_fits_ == 3
    assert m.fit_pooling_ == "mean" and len(m.snapshot_states_) % 3  # unequal blocks
    assert np.isfinite(m.decision_function(Xte)).all()
