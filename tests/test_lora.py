"""Per-image adapters: identity at init, only adapters train, exact save/load, and the
file never grows by adapting."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import lora_codec
from lora_codec.codec import Codec
from lora_codec.coding.groups import group_latents
from lora_codec.coding.sections import section_stats
from lora_codec.coding.tiles import tile_grid
from lora_codec.lora import fit as adapt_mod
from lora_codec.lora.crops import SCHEDULES, CropSampler
from lora_codec.lora.fit import adapt_to_image
from lora_codec.lora.options import AdaptOptions
from lora_codec.lora.payload import decode_adapter_payload, encode_adapter_payload, factor_shapes, weight_frac
from lora_codec.lora.payload import integer_delta

from helpers import smooth_image


@pytest.fixture(scope="module")
def codec():
    return Codec()


def _inputs(size=48):
    img = smooth_image(size, size, planes=3, seed=9)
    return img, torch.from_numpy(img.transpose(2, 0, 1).copy()).float()[None]


def _engine(model, img):
    """The engine outputs an engine model needs beside its input (None for other models)."""
    from lora_codec import entropy

    if not model.engine:
        return None
    return torch.from_numpy(entropy.engine_outputs(img).transpose(2, 0, 1, 3).copy()).float()[None]


def test_adapters_are_identity_at_init(codec):
    img, x = _inputs()
    e = _engine(codec.model, img)
    net, _, _ = adapt_mod._inject(codec.model, AdaptOptions())
    with torch.no_grad():
        assert torch.equal(torch.stack(net(x, None, e)), torch.stack(codec.model.model(x, None, e)))


def test_training_changes_only_adapter_weights(codec):
    img, x = _inputs()
    e = _engine(codec.model, img)
    net, factors, params = adapt_mod._inject(codec.model, AdaptOptions())
    before = {k: v.clone() for k, v in net.state_dict().items()}
    opt = torch.optim.Adam(params, lr=1e-2)
    for _ in range(3):
        bits_x, bits_z = net(x, None, e)
        opt.zero_grad()
        (bits_x / x.numel()).backward()
        opt.step()
    after = net.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all("lora_" in k for k in changed)


def test_payload_round_trip_gives_identical_deltas(codec):
    img, _ = _inputs(64)
    result = adapt_to_image(codec.model, img, "RGB", 4, AdaptOptions(seed=3))
    restored = decode_adapter_payload(codec.model, result.payload)
    assert restored.keys() == result.deltas.keys()
    for name in restored:
        assert np.array_equal(restored[name], result.deltas[name])
    assert any(np.any(d != 0) for d in restored.values())


def test_adaptation_is_the_same_in_every_call_and_keeps_the_callers_generator():
    """The first adaptation of a freshly loaded model (whose float model is built during
    the call) gives the adapters of every later call, and the caller's torch generator
    is left as it was: a batch of images codes each one as a command of its own would."""
    from lora_codec.coding.modes import MODES
    from lora_codec.registry import load_shipped_model

    model = load_shipped_model.__wrapped__(MODES["learned"].model_file)  # fresh, not the cached one
    assert "model" not in vars(model)  # its float model is not built yet
    img, _ = _inputs(48)
    torch.manual_seed(123)
    caller_state = torch.get_rng_state()
    first = adapt_to_image(model, img, "RGB", 2, AdaptOptions(seed=5))
    assert torch.equal(torch.get_rng_state(), caller_state)
    second = adapt_to_image(model, img, "RGB", 2, AdaptOptions(seed=5))
    assert first.payload == second.payload
    assert adapt_to_image(model, img, "RGB", 2, AdaptOptions(seed=6)).payload != first.payload


def test_payload_version_2_numbers_the_layers_and_decodes_as_version_1(codec):
    """Format 9's adapters (payload 2) give each layer's number and one-byte log-scales
    instead of its name: smaller by the name's length and 2 bytes, the same deltas; each format
    version accepts only its own payload version."""
    rng = np.random.default_rng(4)
    factors = []
    for name in AdaptOptions().targets:
        shape_a, shape_b, _ = factor_shapes(codec.model, name, 2)
        factors.append((name, rng.integers(-6, 7, shape_a), rng.integers(-6, 7, shape_b)))
    v1 = encode_adapter_payload(2, 6, 9, factors, version=1)
    v2 = encode_adapter_payload(2, 6, 9, factors[::-1], version=2)  # any order in, the table's order out
    assert v2 == encode_adapter_payload(2, 6, 9, factors) and len(v1) - len(v2) == sum(len(n) + 2 for n, _, _ in factors)
    deltas_1 = decode_adapter_payload(codec.model, v1, expected_version=1)
    deltas_2 = decode_adapter_payload(codec.model, v2, expected_version=2)
    assert list(deltas_2) == [name for name, _, _ in factors]
    for name, a, b in factors:
        expected = integer_delta(a, b, 6, 9, weight_frac(name), tuple(codec.model.state[f"{name}.weight"].shape))
        assert np.array_equal(deltas_1[name], expected) and np.array_equal(deltas_2[name], expected)
    for payload, version in ((v1, 2), (v2, 1)):
        with pytest.raises(ValueError, match="payload version"):
            decode_adapter_payload(codec.model, payload, expected_version=version)


@pytest.mark.parametrize("patch, message", [(lambda p: p[:5] + bytes([99]) + p[6:], "unknown adapted layer"),
                                            (lambda p: p[:7] + bytes([250]) + p[8:], "implausible adapter log-scale"),
                                            (lambda p: p[:5] + p[8:11] + p[5:8] + p[11:], "out of order")])
def test_bad_version_2_payloads_are_refused(codec, patch, message):
    img, _ = _inputs(48)
    payload = adapt_to_image(codec.model, img, "RGB", 1, AdaptOptions(seed=3)).payload
    with pytest.raises(ValueError, match=message):
        decode_adapter_payload(codec.model, patch(payload))


def test_integer_delta_matches_real_product():
    rng = np.random.default_rng(0)
    a = rng.integers(-40, 40, (2, 5))
    b = rng.integers(-40, 40, (3, 2))
    delta = integer_delta(a, b, 6, 9, 8, (3, 5))
    exact = (b @ a) / 2.0 ** (6 + 9 - 8)
    assert np.array_equal(delta, np.floor(exact + 0.5).astype(np.int64))


def test_adapted_file_round_trips(codec):
    img = smooth_image(80, 96, planes=3, seed=4)
    result = adapt_to_image(codec.model, img, "RGB", 5, AdaptOptions(seed=2))
    data = codec.encode_adapted(img, result)
    assert section_stats(data)["split_bytes"]["adapter"] == len(result.payload)
    assert np.array_equal(codec.decompress(data), img)


def test_decoder_adapters_still_train_code_and_round_trip(codec):
    """The default adapts the head only; the UNet decoder's layers (the default of earlier
    releases, whose files name them) can still be adapted, coded and decoded."""
    assert not any(t.startswith("decoder.") for t in AdaptOptions().targets)
    options = AdaptOptions.from_args(targets="decoder.inp,decoder.up,decoder.head,predictor.planes.0.mean",
                                     lr=0.3)  # a large rate, so that the decoder's deltas leave 0 in 6 steps
    img = smooth_image(64, 64, planes=3, seed=5)
    result = adapt_to_image(codec.model, img, "RGB", 6, options)
    assert set(result.deltas) == set(options.targets)
    assert all(np.any(result.deltas[name] != 0) for name in ("decoder.inp", "decoder.up", "decoder.head"))
    assert np.array_equal(codec.decompress(codec.encode_adapted(img, result)), img)


def test_steps_never_make_the_file_larger(codec):
    img = smooth_image(40, 40, planes=3, seed=6)
    base = lora_codec.compress(img)
    adapted = lora_codec.compress(img, steps=5)
    assert len(adapted) <= len(base)
    assert np.array_equal(lora_codec.decompress(adapted), img)


@pytest.mark.parametrize("kwargs, message", [(dict(rank=0), "--rank"), (dict(lr=-1), "--lr"),
                                             (dict(targets="decoder.nope"), "unknown --targets"),
                                             (dict(targets="decoder.up,decoder.up"), "more than once"),
                                             (dict(seed=-1), "--seed"), (dict(seed=2**32), "--seed"),
                                             (dict(threads=0), "--threads")])
def test_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AdaptOptions.from_args(**kwargs)


def test_adaptation_runs_torch_on_the_options_threads_and_restores_them(codec, monkeypatch):
    """``AdaptOptions.threads`` holds torch's thread count while adapting, and torch's
    own setting is back afterwards, also when the adaptation fails; None leaves it alone."""
    seen = []

    def record(*args, **kwargs):
        seen.append(torch.get_num_threads())
        raise RuntimeError("stop here")

    monkeypatch.setattr(adapt_mod, "_adapt", record)
    img, _ = _inputs(32)
    before = torch.get_num_threads()
    other = 1 if before != 1 else 2
    for threads, expected in ((other, other), (None, before)):
        with pytest.raises(RuntimeError, match="stop here"):
            adapt_to_image(codec.model, img, "RGB", 1, AdaptOptions(threads=threads))
        assert seen[-1] == expected
        assert torch.get_num_threads() == before


def test_compression_starts_loading_the_adaptation_only_when_it_adapts(monkeypatch):
    """Compressing with steps starts importing torch and peft before it codes the image
    once (they then load while it codes); without steps it does not, nor where an
    indexed file may make the adaptation pointless (it imports them if it adapts)."""
    from lora_codec import codec as codec_module

    started = []
    monkeypatch.setattr(codec_module, "start_loading", lambda: started.append(True))
    img = smooth_image(48, 48, planes=3, seed=2)  # too many colours for mode indexed
    lora_codec.compress(img)
    assert started == []
    lora_codec.compress(img, steps=1)
    assert started == [True]
    few = img // 64 * 64
    data = lora_codec.compress(few, steps=1)
    assert started == [True] and np.array_equal(lora_codec.decompress(data), few)


@pytest.mark.parametrize("argv, threads", [([], None), (["--threads", "1"], 1), (["--threads", "2"], 2)])
def test_the_command_line_adapts_on_its_threads(tmp_path, monkeypatch, argv, threads):
    """``--threads`` reaches the adaptation as torch's threads; without it torch chooses."""
    from PIL import Image

    from lora_codec import cli

    seen, original = [], Codec.compress

    def compress(self, pixels, **kwargs):
        seen.append(kwargs["adaptation"].threads)
        return original(self, pixels)  # without adapting

    monkeypatch.setattr(Codec, "compress", compress)
    Image.fromarray(smooth_image(16, 16, planes=3, seed=1)).save(tmp_path / "a.png")
    assert cli.main(["compress", str(tmp_path / "a.png"), "-o", str(tmp_path / "a.lcz"), "--steps", "1",
                     "--quiet", *argv]) == 0
    assert seen == [threads]


def test_loading_in_the_background_leaves_errors_to_the_callers_import(capsys):
    """A module that fails to import raises nothing on the loading thread (no traceback
    printed there); the caller's own import raises as usual."""
    from lora_codec.lora.loading import start_loading

    thread = start_loading("lora_codec.no_such_module")
    thread.join()
    assert not thread.is_alive()
    assert capsys.readouterr().err == ""
    with pytest.raises(ImportError):
        import lora_codec.no_such_module  # noqa: F401


def test_a_process_does_not_wait_for_the_loading_thread(tmp_path):
    """An interrupted or failed compression exits at once, not after the adaptation's
    libraries have finished importing (the thread is a daemon): here an import that would
    take a minute."""
    import subprocess
    import sys

    (tmp_path / "slow_to_import.py").write_text("import time\ntime.sleep(60)\n")
    script = ("import sys; sys.path.insert(0, sys.argv[1]); from lora_codec.lora.loading import start_loading; "
              "start_loading('slow_to_import'); raise SystemExit(3)")
    run = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, timeout=45)
    assert run.returncode == 3, run.stderr[-2000:]


def test_window_features_equal_whole_tile_features(codec):
    from lora_codec.lora.fit import _crop_features

    rng = np.random.default_rng(3)
    z = rng.integers(-4, 5, (codec.model.cfg.latent_channels, 32, 29))
    with torch.no_grad():
        whole = codec.model.model.decoder(torch.from_numpy(z).float()[None], 3)
        for y, x, h, w in [(0, 0, 96, 96), (101, 37, 96, 80), (160, 136, 96, 96), (5, 200, 40, 32)]:
            window = _crop_features(codec.model.model, z, 3, y, x, h, w)
            assert torch.equal(window, whole[:, :, y : y + h, x : x + w])


def test_kept_tile_features_equal_window_features(codec):
    """With the decoder frozen, crops cut from each tile's kept features equal the features
    computed from the crop's latent window, and at most ``keep`` tiles are kept."""
    import copy

    from lora_codec.lora.fit import TileFeatures, _crop_features

    tiles = [t for band in tile_grid(256, 700, codec.model.cfg.tile) for t in band]
    latents = group_latents(codec.model, smooth_image(256, 700, planes=3, seed=8))
    kept = TileFeatures(codec.model.model, codec.model, tiles, latents, keep=2)
    assert kept.frozen  # the shipped model's decoder does not train
    for k, y, x, h, w in [(0, 0, 0, 48, 48), (1, 100, 37, 48, 40), (2, 200, 140, 48, 48), (0, 5, 200, 40, 32)]:
        window = _crop_features(codec.model.model, latents[k], 3, y, x, h, w)
        assert torch.equal(kept.crop(k, y, x, h, w), window)
        assert len(kept._kept) <= 2
    assert list(kept._kept) == [2, 0]
    training = copy.deepcopy(codec.model.model)
    training.decoder.requires_grad_(True)
    assert not TileFeatures(training, codec.model, tiles, latents).frozen


def test_time_budget_plans_fewer_steps():
    from lora_codec.lora.fit import planned_steps

    assert planned_steps(200, 8, elapsed=3.0, loop_seconds=2.0, time_budget=10.0) == 36  # 0.25 s a step
    assert planned_steps(200, 8, elapsed=3.0, loop_seconds=2.0, time_budget=1000.0) == 200  # the cap
    assert planned_steps(200, 8, elapsed=30.0, loop_seconds=2.0, time_budget=10.0) == 8  # over: stop now
    assert planned_steps(200, 0, elapsed=3.0, loop_seconds=0.0, time_budget=10.0) == 200  # no pace yet
    assert planned_steps(200, 3, elapsed=3.0, loop_seconds=0.0, time_budget=10.0) == 200  # a clock too coarse


class _Steps:
    """A stand-in for a rich progress bar that records the adaptation's steps (its other
    tasks, the codings' stripes, are counted apart)."""

    def __init__(self):
        self.completed, self.totals, self.stripes = 0, [], 0

    def add_task(self, description, total=None, **kwargs):
        if description == "adapt":
            self.totals.append(total)
        return description

    def update(self, task, completed=None, total=None, **kwargs):
        if task != "adapt":  # a coding's note and total (a coding again, with z = 0)
            return
        self.completed = completed
        self.totals.append(total)

    def advance(self, task):
        assert task != "adapt"
        self.stripes += 1

    def remove_task(self, task):
        pass


def test_time_budget_stops_the_adaptation_early(codec):
    img = smooth_image(48, 40, planes=3, seed=11)
    steps = _Steps()
    result = adapt_to_image(codec.model, img, "RGB", 100_000, AdaptOptions(seed=1), steps, time_budget=0.5)
    assert 1 <= steps.completed < 100_000 and steps.totals[-1] == steps.completed
    assert len(result.payload) > 0


def test_time_budget_alone_adapts_and_round_trips():
    img = smooth_image(40, 36, planes=3, seed=12)
    data = lora_codec.compress(img, time_budget=0.5)
    assert np.array_equal(lora_codec.decompress(data), img)


def test_time_budget_bounds_the_whole_compression():
    """A budget spent by coding the image once leaves no time to adapt: no step runs and
    the file is the one without adapters."""
    img = smooth_image(40, 36, planes=3, seed=13)
    steps = _Steps()
    data = lora_codec.Codec().compress(img, steps=50, time_budget=1e-3, progress=steps)
    assert steps.totals == [] and steps.completed == 0  # the adaptation never started
    assert steps.stripes >= 1  # but the image was coded
    assert data == lora_codec.compress(img)
    steps = _Steps()
    lora_codec.Codec().compress(img, steps=3, time_budget=600.0, progress=steps)
    assert steps.completed == 3  # a budget with room left runs the steps


@pytest.mark.parametrize("budget, error", [(0, ValueError), (-1.0, ValueError), (float("nan"), ValueError),
                                           ("5", TypeError), (True, TypeError)])
def test_bad_time_budget(budget, error):
    with pytest.raises(error, match="time_budget"):
        lora_codec.compress(smooth_image(8, 8, planes=3, seed=0), time_budget=budget)


@settings(max_examples=40, deadline=None)
@given(height=st.integers(1, 90), width=st.integers(1, 90), tile=st.sampled_from([16, 32, 64]),
       crop=st.integers(1, 40), schedule=st.sampled_from(SCHEDULES), seed=st.integers(0, 2**16))
def test_crops_lie_inside_their_tile(height, width, tile, crop, schedule, seed):
    flat = [t for band in tile_grid(height, width, tile) for t in band]
    cost = np.random.default_rng(seed).random((height, width))
    sampler = CropSampler(flat, cost, crop, schedule, seed)
    for step in range(0, 30, 3):
        k, y, x, h, w = sampler.draw(step, 30)
        t = flat[k]
        assert h == min(crop, t.y1 - t.y0) and w == min(crop, t.x1 - t.x0)
        assert 0 <= y and y + h <= t.y1 - t.y0 and 0 <= x and x + w <= t.x1 - t.x0


def test_rate_schedule_starts_on_the_costliest_crops_and_ends_on_all():
    cost = np.zeros((64, 64))
    cost[:16, :16] = 9.0  # the costliest corner: top left
    sampler = CropSampler(tile_grid(64, 64, 64)[0], cost, crop=16, schedule="rate", seed=0, stride=16)
    assert len(sampler.positions) == 16 and tuple(sampler.positions[0]) == (0, 0, 0)
    first = {sampler.draw(0, 100)[1:3] for _ in range(50)}
    assert first <= {tuple(p[1:]) for p in sampler.positions[:4]}  # 20 % of 16 positions, rounded up
    last = {sampler.draw(99, 100)[1:3] for _ in range(400)}
    assert len(last) == 16


def test_uniform_schedule_draws_as_before():
    """The uniform schedule draws the crops the adaptation drew before schedules existed
    (tile by area, then the offsets), so its files are unchanged."""
    flat = [t for band in tile_grid(300, 200, 128) for t in band]
    sampler = CropSampler(flat, None, 96, "uniform", seed=5)
    rng = np.random.default_rng(5)
    area = np.array([(t.y1 - t.y0) * (t.x1 - t.x0) for t in flat], dtype=np.float64)
    for _ in range(20):
        k = rng.choice(len(flat), p=area / area.sum())
        t = flat[k]
        ch, cw = min(96, t.y1 - t.y0), min(96, t.x1 - t.x0)
        expected = (k, int(rng.integers(0, t.y1 - t.y0 - ch + 1)), int(rng.integers(0, t.x1 - t.x0 - cw + 1)), ch, cw)
        assert sampler.draw(0, 10) == expected


@pytest.mark.parametrize("schedule, cost, message", [("costly", np.zeros((8, 8)), "unknown crop schedule"),
                                                     ("rate", None, "needs a cost map")])
def test_bad_crop_schedules(schedule, cost, message):
    with pytest.raises(ValueError, match=message):
        CropSampler(tile_grid(8, 8, 8)[0], cost, 4, schedule)


def test_rate_schedule_adapts_and_round_trips(codec):
    img = smooth_image(40, 48, seed=3)
    options = AdaptOptions(seed=1, crop=16, batch=2, schedule="rate")
    data = codec.compress(img, steps=3, adaptation=options)
    assert np.array_equal(codec.decompress(data), img)
