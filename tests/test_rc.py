"""rc mode: the HEVC base layer, the online engine reading the reconstruction (format v6)
and the older guided model's exact path, the quality classifier and search, round trips through the API and
the CLI, and the refusal to decode with a different reconstruction."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

import lora_codec
from lora_codec import base_layer, container, entropy
from lora_codec.cli import main
from lora_codec.codec import Codec, DecodeError
from lora_codec.coding.modes import MODES
from lora_codec.coding.sections import section_stats
from lora_codec import exact
from lora_codec.models.predictor import mixture_bits
from lora_codec.quality_choice import features, load_quality_classifier

from helpers import fixed_layout, smooth_image, with_header_bytes

RC_QUALITIES = MODES["rc"].qualities


@pytest.fixture(scope="module")
def codec():
    return Codec()


@pytest.fixture(scope="module")
def med_rc():
    """The rc model of format versions 1 to 5 (a guide network and a guided MED predictor)."""
    from lora_codec.registry import load_shipped_model

    return load_shipped_model("rc.safetensors")


def test_base_layer_payload_round_trip():
    img = smooth_image(40, 56, planes=3, seed=1)
    layer = base_layer.encode(img, 30)
    again = base_layer.unpack(layer.pack(), img.shape)
    assert again.quality == 30
    assert np.array_equal(again.reconstruction, layer.reconstruction)
    assert not np.array_equal(layer.reconstruction, img)  # lossy at quality 30


def test_base_layer_rejects_a_reconstruction_crc_mismatch():
    img = smooth_image(24, 24, planes=1, seed=2)
    payload = bytearray(base_layer.encode(img, 50).pack())
    payload[2] ^= 0xFF  # the stored CRC of the reconstruction
    with pytest.raises(base_layer.BaseLayerError, match="reconstructs the base layer differently"):
        base_layer.unpack(bytes(payload), img.shape)


@pytest.mark.parametrize("quality", [0, 101])
def test_base_layer_rejects_bad_quality(quality):
    with pytest.raises(ValueError, match="quality"):
        base_layer.encode(smooth_image(8, 8), quality)


def test_guide_features_of_a_band_equal_those_of_the_whole_image(med_rc):
    recon = smooth_image(70, 33, planes=3, seed=3)
    ints = med_rc.guide_integers
    whole = exact.guide_features(ints, recon, 0, 70)
    for r0, r1 in [(0, 10), (10, 41), (41, 70), (69, 70)]:
        assert np.array_equal(exact.guide_features(ints, recon, r0, r1), whole[r0:r1])


def test_guided_exact_path_matches_training_path_within_one_percent(med_rc):
    model = med_rc
    img = smooth_image(96, 96, planes=3, seed=4)
    guide = base_layer.encode(img, 30).reconstruction
    x = torch.from_numpy(img.transpose(2, 0, 1).copy()).float()[None]
    g = torch.from_numpy(guide.transpose(2, 0, 1).copy()).float()[None]
    with torch.no_grad():
        z, levels = model.model.analyse(x)
        feats = model.model.features(z, levels, 96, 96, g)
        float_bits = float(mixture_bits(x, *model.model.predictor(x, feats, g)))
    unet = exact.decode_features(model.decoder_integers, z[0].numpy().astype(np.int64), levels, 96, 96)
    ints = exact.combine_features(unet, exact.guide_features(model.guide_integers, guide, 0, 96))
    means, scales, logits = entropy.predict_params(img, ints, model.predictor_weights, guide)
    k = means.shape[-1]
    exact_bits = entropy.mixture_cdf_bits(img.reshape(-1).astype(np.int32), means.reshape(-1, k),
                                          scales.reshape(-1, k), logits.reshape(-1, k))
    assert abs(exact_bits - float_bits) / float_bits < 0.01


@pytest.mark.parametrize("shape, planes", [((1, 1), 3), ((17, 23), 1), ((40, 33), 3), ((31, 20), 4), ((12, 9), 2)])
def test_rc_round_trip_every_colour_type(codec, shape, planes):
    img = smooth_image(*shape, planes=planes, seed=planes)
    data = codec.compress(img, mode="rc", quality=40, fallback=False)
    header = container.unpack(data).header
    assert header.mode == "rc" and header.model_id == codec.rc_model.model_id
    assert np.array_equal(codec.decompress_planes(data), img)
    assert np.array_equal(lora_codec.decompress(data), img[:, :, 0] if planes == 1 else img)  # the module-level API too


def test_the_engine_reads_the_reconstruction_and_old_readers_are_refused(codec):
    img = smooth_image(40, 48, planes=3, seed=5)
    layer = base_layer.encode(img, 20)
    model = codec.rc_model
    assert model.engine and not model.guided
    from lora_codec.coding.groups import CodingWeights, encode_group

    weights = CodingWeights.of(model)
    _, with_guide = encode_group(model, weights, img, guide=layer.reconstruction)
    _, without = encode_group(model, weights, img)
    assert with_guide != without
    data = codec.compress(img, mode="rc", quality=20, fallback=False)
    assert np.array_equal(codec.decompress(data), img)
    # The same file claiming version 5, whose rc mode had no engine (and no header flags
    # but the adapters': this one's no-match flag is version 16's).
    assert data[9] & ~container.FLAG_NO_MATCH == 0
    with pytest.raises(DecodeError, match="version 5"):
        codec.decompress(with_header_bytes(fixed_layout(data), 8, bytes([5, 0])))


def test_compact_base_layer_payload_and_its_format_version(codec):
    import hashlib

    img = smooth_image(40, 48, planes=3, seed=11)
    layer = base_layer.encode(img, 10)
    v1, v2 = layer.pack(version=1), layer.pack()
    assert len(v2) < len(v1) - 200  # the HEIF boxes deflate against the dictionary
    for version, payload in ((1, v1), (2, v2)):
        again = base_layer.unpack(payload, img.shape, version)
        assert again.heif == layer.heif and np.array_equal(again.reconstruction, layer.reconstruction)
    assert hashlib.sha256(base_layer.HEIF_DICTIONARY).hexdigest() == base_layer.HEIF_DICTIONARY_SHA256
    with pytest.raises(base_layer.BaseLayerError, match="payload version 2"):
        base_layer.unpack(v2, img.shape, 1)
    broken = bytearray(v2)
    broken[8] ^= 0xFF  # inside the deflated boxes
    with pytest.raises(base_layer.BaseLayerError):
        base_layer.unpack(bytes(broken), img.shape, 2)
    with pytest.raises(base_layer.BaseLayerError, match="truncated"):
        base_layer.unpack(v2[:9], img.shape, 2)
    # A version-7 file relabelled as version 6 (whose base layers are HEIF files as they are;
    # its flags cleared: the no-match flag is version 16's).
    data = codec.compress(img, mode="rc", quality=10, fallback=False)
    with pytest.raises(DecodeError, match="payload version"):
        codec.decompress(with_header_bytes(fixed_layout(data), 8, bytes([6, 0])))


def test_the_med_rc_model_still_codes_and_decodes(med_rc):
    img = smooth_image(24, 30, planes=3, seed=10)
    data = Codec(rc_model=med_rc).compress(img, mode="rc", quality=30, fallback=False)
    assert container.unpack(data).header.model_id == med_rc.model_id
    assert np.array_equal(Codec().decompress(data), img)


def test_quality_search_returns_a_local_minimum_of_the_file_size(codec):
    img = smooth_image(48, 64, planes=3, seed=6)
    data = codec.compress(img, mode="rc", quality="search")
    chosen = section_stats(data)["hevc_quality"]["colour"]
    assert chosen in RC_QUALITIES
    k = RC_QUALITIES.index(chosen)
    for j in (k - 1, k, k + 1):
        if 0 <= j < len(RC_QUALITIES):
            assert len(data) <= len(codec.compress(img, mode="rc", quality=RC_QUALITIES[j]))
    assert np.array_equal(codec.decompress(data), img)


class _CodingTasks:
    """The part of rich's Progress that coding uses: each task's total and advances."""

    def __init__(self):
        self.totals, self.advances, self.notes = {}, {}, []

    def add_task(self, description, total, note):
        task = len(self.totals)
        self.totals[task], self.advances[task] = total, 0
        return task

    def advance(self, task):
        self.advances[task] += 1

    def update(self, task, total, note):
        self.totals[task] = total
        self.notes.append(note)

    def remove_task(self, task):
        pass


def test_quality_search_counts_every_quality_it_codes_in_the_progress_total(codec, monkeypatch):
    img = smooth_image(48, 64, planes=3, seed=6)
    tried = []
    real = base_layer.encode
    monkeypatch.setattr(base_layer, "encode", lambda planes, q: tried.append(q) or real(planes, q))
    progress = _CodingTasks()
    data = codec.compress(img, mode="rc", quality="search", progress=progress)
    assert len(tried) >= 2 and progress.notes == [f"quality {q}" for q in tried]
    assert progress.totals == progress.advances == {0: len(tried)}  # one stripe a coding, none over the total
    assert np.array_equal(codec.decompress(data), img)


def test_a_different_reconstruction_is_an_error_not_wrong_pixels(codec, monkeypatch):
    img = smooth_image(32, 32, planes=3, seed=7)
    data = codec.compress(img, mode="rc", quality=40)
    real = base_layer._decode_heif

    def drifted(payload, planes):
        out = real(payload, planes).copy()
        out[5, 5, 0] ^= 1
        return out

    monkeypatch.setattr(base_layer, "_decode_heif", drifted)
    with pytest.raises(DecodeError, match="reconstruct"):
        codec.decompress(data)


def test_rc_with_adapters_round_trips_and_never_loses(codec):
    img = smooth_image(64, 64, planes=3, seed=8)
    plain = codec.compress(img, mode="rc", quality=40)
    adapted = codec.compress(img, steps=3, mode="rc", quality=40)
    assert len(adapted) <= len(plain)
    assert np.array_equal(codec.decompress(adapted), img)
    from lora_codec.lora.fit import adapt_to_image
    from lora_codec.lora.options import AdaptOptions

    result = adapt_to_image(codec.rc_model, img, "RGB", 3, AdaptOptions(seed=2),
                            guide=base_layer.encode(img, 40).reconstruction)
    forced = codec.encode_adapted(img, result, mode="rc", quality=40)
    assert container.unpack(forced).header.flags & container.FLAG_ADAPTERS
    assert np.array_equal(codec.decompress(forced), img)


def test_cli_rc_mode_round_trip_and_info(tmp_path, capsys):
    src = tmp_path / "img.png"
    Image.fromarray(smooth_image(30, 44, planes=3, seed=9)).save(src)
    out = tmp_path / "img.lcz"
    assert main(["compress", str(src), "-o", str(out), "--mode", "rc", "--quiet", "--verify"]) == 0
    assert main(["decompress", str(out), "-o", str(tmp_path / "back.png"), "--quiet"]) == 0
    with Image.open(tmp_path / "back.png") as back, Image.open(src) as orig:
        assert np.array_equal(np.asarray(back), np.asarray(orig))
    capsys.readouterr()
    assert main(["info", str(out), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["mode"] == "rc" and stats["hevc_quality"]["colour"] in RC_QUALITIES
    assert stats["split_bytes"]["base layer"] > 0


def test_rc_mode_codes_once_at_the_classifiers_quality(codec):
    img = smooth_image(48, 64, planes=3, seed=7)
    data = codec.compress(img, mode="rc", fallback=False)
    predicted = load_quality_classifier().predict(img)
    assert section_stats(data)["hevc_quality"]["colour"] == predicted
    assert data == codec.compress(img, mode="rc", quality=predicted, fallback=False)
    assert np.array_equal(codec.decompress(data), img)


def test_shipped_classifier_scores_the_rc_modes_qualities():
    classifier = load_quality_classifier()
    assert classifier.qualities == RC_QUALITIES
    # Not a constant choice: images of different statistics get different qualities.
    rng = np.random.default_rng(3)
    x = rng.normal(classifier.mean, 3 * classifier.scale, size=(200, len(classifier.mean)))
    assert len(set(np.argmax(classifier.scores(x), axis=1).tolist())) > 1


def test_classifier_save_load_round_trip_and_feature_check(tmp_path):
    from safetensors.numpy import load_file, save_file

    from lora_codec.quality_choice import QualityClassifier

    shipped = load_quality_classifier()
    shipped.save(tmp_path / "q.safetensors")
    again = QualityClassifier.load(tmp_path / "q.safetensors")
    x = np.random.default_rng(4).normal(shipped.mean, shipped.scale, size=(20, len(shipped.mean)))
    assert again.qualities == shipped.qualities and np.array_equal(again.scores(x), shipped.scores(x))
    save_file(load_file(str(tmp_path / "q.safetensors")), str(tmp_path / "other.safetensors"),
              metadata={"features": "something else"})
    with pytest.raises(ValueError, match="other features"):
        QualityClassifier.load(tmp_path / "other.safetensors")


@pytest.mark.parametrize("field, value, message", [("qualities", np.array([0, 5, 10, 20, 30]), "HEVC qualities"),
                                                    ("bias", np.zeros(3), "bias"), ("mean", np.zeros(2), "mean")])
def test_a_classifier_file_of_bad_qualities_or_shapes_is_refused_on_load(tmp_path, field, value, message):
    from safetensors.numpy import load_file, save_file

    from lora_codec.quality_choice import FEATURE_NAMES, QualityClassifier

    load_quality_classifier().save(tmp_path / "q.safetensors")
    tensors = load_file(str(tmp_path / "q.safetensors"))
    tensors[field] = value.astype(tensors[field].dtype)
    save_file(tensors, str(tmp_path / "bad.safetensors"), metadata={"features": "; ".join(FEATURE_NAMES)})
    with pytest.raises(ValueError, match=message):
        QualityClassifier.load(tmp_path / "bad.safetensors")


@pytest.mark.parametrize("quality, error", [("best", ValueError), (0, ValueError), (101, ValueError),
                                            (True, TypeError), (40.0, TypeError)])
def test_bad_quality_is_refused_before_coding(codec, quality, error):
    with pytest.raises(error, match="quality"):
        codec.compress(smooth_image(8, 8), mode="rc", quality=quality)


def test_quality_needs_rc_mode_in_the_api(codec):
    with pytest.raises(ValueError, match="rc mode"):
        codec.compress(smooth_image(8, 8), quality="search")


def test_features_refuse_planes_of_the_wrong_shape():
    with pytest.raises(ValueError, match="planes"):
        features(np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="planes"):
        features(np.zeros((8, 8, 2), np.uint8))


def test_cli_quality_search_and_bad_quality(tmp_path, capsys):
    src = tmp_path / "img.png"
    Image.fromarray(smooth_image(16, 16, planes=3)).save(src)
    assert main(["compress", str(src), "--mode", "rc", "--quality", "fast", "--quiet"]) != 0
    err = capsys.readouterr().err.strip()
    assert "--quality" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "img.lcz").exists()
    assert main(["compress", str(src), "--mode", "rc", "--quality", "search", "--quiet"]) == 0
    assert (tmp_path / "img.lcz").exists()


def test_cli_quality_needs_rc_mode(tmp_path, capsys):
    src = tmp_path / "img.png"
    Image.fromarray(smooth_image(8, 8)).save(src)
    assert main(["compress", str(src), "--quality", "40", "--quiet"]) != 0
    err = capsys.readouterr().err.strip()
    assert "--quality" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "img.lcz").exists()


def test_rc_mode_codes_with_the_default_model_and_the_old_rc_model_is_shipped(codec, med_rc):
    import hashlib

    from lora_codec.registry import WEIGHTS

    assert codec.rc_model.model_id == codec.model.model_id  # one model, read with the base layer
    old = WEIGHTS / "rc.safetensors"  # for the rc files of versions 1 to 5
    assert med_rc.model.guided and med_rc.cfg.guide_channels > 0
    assert med_rc.model_id == hashlib.sha256(old.read_bytes()).digest()[:8]
    assert old.stat().st_size <= 10 * 1024 * 1024


def test_a_forged_larger_base_layer_is_refused_before_its_pixels_are_decoded(codec, monkeypatch):
    img = smooth_image(16, 16, planes=3, seed=9)
    data = codec.compress(img, mode="rc", quality=40)
    big = base_layer.encode(smooth_image(48, 64, planes=3, seed=9), 40).packed
    c = container.unpack(data)
    c.sections[b"HEVC"] = big
    forged = container.pack(c)
    real = base_layer._pillow_heif()

    class Lazy:  # the real file's size; decoding its pixels is what must not happen
        def __init__(self, heif):
            self.size = heif.size

        def __array__(self, *args, **kwargs):
            raise AssertionError("the forged layer's pixels were decoded")

    class Stub:
        @staticmethod
        def open_heif(fp, **kwargs):
            return Lazy(real.open_heif(fp, **kwargs))

    monkeypatch.setattr(base_layer, "_pillow_heif", lambda: Stub)
    with pytest.raises(DecodeError, match="64x48, the image 16x16"):
        codec.decompress(forged)


def test_a_size_the_hevc_encoder_refuses_is_a_one_line_error(codec):
    img = (np.arange(8 * 5000 * 3) % 251).astype(np.uint8).reshape(8, 5000, 3)  # x265: a side over 4216, the other under 32
    try:
        data = codec.compress(img, mode="rc", quality=30)
    except base_layer.BaseLayerError as exc:
        assert "default mode" in str(exc) and "\n" not in str(exc)
    else:  # an HEVC encoder that takes it must give an exact file
        assert np.array_equal(codec.decompress(data), img)


def test_a_truncated_base_layer_is_a_one_line_error(codec):
    # libheif's messages end in a newline; the error must still be one line.
    data = codec.compress(smooth_image(16, 16, planes=3, seed=9), mode="rc", quality=40)
    c = container.unpack(data)
    c.sections[b"HEVC"] = c.sections[b"HEVC"][:-40]
    with pytest.raises(DecodeError, match="base layer") as err:
        codec.decompress(container.pack(c))
    assert "\n" not in str(err.value) and not str(err.value).endswith(" ")
