"""The native range coder: round trips, degenerate distributions, golden bytes, size,
bad input and damaged streams."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from golden_inputs import mixture_case, table_case
from lora_codec import entropy

# Format v2 streams start with varint(stripped trailing zeros): 05 here, then the v1 bytes.
GOLDEN_MIXTURE = "05" "fe320a214c5588a1172facbf969a90f6d8dd523c2a711b26097e451a983ef8a66d3941858862c50d9bc05b7e50"
GOLDEN_TABLE = ("05" "0030de230e1ca61a95399b6af99b9066451e2865c602fa2a25ea19224a1f096c2d4d5dee8ff853f72"
                "05c54512a4eb84097422ab7b0f84e800fdbe1f33c4e16ab0d5bb5383bfacc373c62f9b0")


@st.composite
def mixture_problems(draw):
    n = draw(st.integers(0, 300))
    k = draw(st.integers(1, 4))
    alphabet = draw(st.sampled_from([2, 3, 17, 256, 1000, 65536]))
    symbols = draw(hnp.arrays(np.int32, n, elements=st.integers(0, alphabet - 1)))
    means = draw(hnp.arrays(np.int32, (n, k), elements=st.integers(-16 * 300, 16 * (alphabet + 300))))
    scales = draw(hnp.arrays(np.int32, (n, k), elements=st.integers(-100, 200)))
    logits = draw(hnp.arrays(np.int32, (n, k), elements=st.integers(-3000, 3000)))
    return symbols, means, scales, logits, alphabet


@given(mixture_problems())
@settings(max_examples=150, deadline=None)
def test_mixture_round_trip(problem):
    symbols, means, scales, logits, alphabet = problem
    data = entropy.encode_mixture(symbols, means, scales, logits, alphabet=alphabet)
    decoded = entropy.decode_mixture(data, means, scales, logits, alphabet=alphabet)
    assert decoded.tolist() == symbols.tolist()


@st.composite
def table_problems(draw):
    precision = draw(st.integers(8, 24))
    alphabet = draw(st.integers(2, 40))
    tables = draw(st.integers(1, 4))
    cdfs = []
    for _ in range(tables):
        cuts = draw(st.lists(st.integers(1, (1 << precision) - 1), min_size=alphabet - 1,
                             max_size=alphabet - 1, unique=True))
        cdfs.append([0] + sorted(cuts) + [1 << precision])
    n = draw(st.integers(0, 200))
    symbols = draw(st.lists(st.integers(0, alphabet - 1), min_size=n, max_size=n))
    indexes = draw(st.lists(st.integers(0, tables - 1), min_size=n, max_size=n))
    return np.array(symbols, np.int32), np.array(indexes, np.int32), np.array(cdfs, np.int32), precision


@given(table_problems())
@settings(max_examples=150, deadline=None)
def test_table_round_trip(problem):
    symbols, indexes, cdfs, precision = problem
    data = entropy.encode_with_tables(symbols, indexes, cdfs, precision)
    assert entropy.decode_with_tables(data, indexes, cdfs, precision).tolist() == symbols.tolist()


def _round_trip_mixture(symbols, means, scales, logits, alphabet=256):
    data = entropy.encode_mixture(symbols, means, scales, logits, alphabet=alphabet)
    assert entropy.decode_mixture(data, means, scales, logits, alphabet=alphabet).tolist() == list(symbols)
    return data


def test_all_mass_on_one_symbol_costs_almost_nothing():
    n = 10000
    symbols = np.full(n, 77, np.int32)
    means = np.full((n, 1), 77 * 16, np.int32)
    scales = np.full((n, 1), -64, np.int32)  # the smallest scale
    data = _round_trip_mixture(symbols, means, scales, np.zeros((n, 1), np.int32))
    assert len(data) < 10


def test_every_symbol_codable_under_a_sharp_distribution():
    # The least probable symbols (far tails, both ends) still round-trip.
    symbols = np.array([0, 255, 1, 254, 128, 0, 255], np.int32)
    n = symbols.size
    means = np.full((n, 1), 128 * 16, np.int32)
    scales = np.full((n, 1), -64, np.int32)
    data = _round_trip_mixture(symbols, means, scales, np.zeros((n, 1), np.int32))
    assert len(data) * 8 <= 24 * n + 8  # at most the 2^-24 floor per symbol


def test_uniform_table_costs_log2_alphabet():
    alphabet, n = 16, 4000
    cdf = np.arange(alphabet + 1, dtype=np.int32) * (65536 // alphabet)
    symbols = (np.arange(n) * 7 % alphabet).astype(np.int32)
    data = entropy.encode_with_tables(symbols, np.zeros(n, np.int32), cdf[None], 16)
    assert abs(len(data) * 8 - 4 * n) <= 64
    assert entropy.decode_with_tables(data, np.zeros(n, np.int32), cdf[None], 16).tolist() == symbols.tolist()


def test_least_probable_symbol_of_every_table():
    # Each table gives its least probable symbol a frequency of 1 out of 2^16.
    cdfs = np.array([[0, 1, 30000, 65536], [0, 30000, 65535, 65536], [0, 40000, 40001, 65536]], np.int32)
    symbols = np.array([0, 2, 1, 0, 2, 1], np.int32)
    indexes = np.array([0, 1, 2, 0, 1, 2], np.int32)
    data = entropy.encode_with_tables(symbols, indexes, cdfs, 16)
    assert entropy.decode_with_tables(data, indexes, cdfs, 16).tolist() == symbols.tolist()


def test_golden_bitstreams():
    assert entropy.encode_mixture(*mixture_case()).hex() == GOLDEN_MIXTURE
    symbols, indexes, cdfs = table_case()
    assert entropy.encode_with_tables(symbols, indexes, cdfs, 16).hex() == GOLDEN_TABLE


def test_coded_size_close_to_ideal():
    rng = np.random.default_rng(1)
    n = 200_000
    means = rng.integers(0, 256 * 16, (n, 2)).astype(np.int32)
    scales = rng.integers(-20, 80, (n, 2)).astype(np.int32)
    logits = rng.integers(-40, 40, (n, 2)).astype(np.int32)
    symbols = np.clip(np.round(means[:, 0] / 16 + rng.logistic(0, np.exp(scales[:, 0] / 16))), 0, 255)
    symbols = symbols.astype(np.int32)
    data = entropy.encode_mixture(symbols, means, scales, logits)
    ideal = entropy.mixture_cdf_bits(symbols, means, scales, logits)
    assert len(data) * 8 <= ideal * 1.005 + 64
    assert len(data) * 8 >= ideal - 64


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(symbols=[256]), "out of range"),
        (dict(symbols=[-1]), "out of range"),
        (dict(symbols=[1.5]), "integers"),
        (dict(means=[[1], [2]]), "parameter rows"),
        (dict(log_scales=[[1, 2]]), "same shape"),
        (dict(alphabet=1), "alphabet"),
        (dict(means=[[1 << 29]]), "means"),
    ],
)
def test_bad_mixture_input(kwargs, message):
    args = dict(symbols=[3], means=[[48]], log_scales=[[0]], logits=[[0]], alphabet=256)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        entropy.encode_mixture(args["symbols"], args["means"], args["log_scales"], args["logits"],
                               alphabet=args["alphabet"])


@pytest.mark.parametrize(
    "cdfs, symbols, indexes, message",
    [
        ([[0, 10, 5, 65536]], [0], [0], "strictly increasing"),
        ([[0, 10, 10, 65536]], [0], [0], "strictly increasing"),
        ([[0, 10, 20, 65535]], [0], [0], "end at 2"),
        ([[0, 10, 20, 65536]], [3], [0], "out of range"),
        ([[0, 10, 20, 65536]], [0], [1], "indexes"),
        ([[0, 10, 20, 65536]], [0, 1], [0], "table indexes for"),
    ],
)
def test_bad_table_input(cdfs, symbols, indexes, message):
    with pytest.raises(ValueError, match=message):
        entropy.encode_with_tables(symbols, indexes, np.array(cdfs), 16)


@given(st.binary(max_size=64), st.integers(0, 400))
@settings(max_examples=200, deadline=None)
def test_damaged_streams_never_crash(data, n):
    symbols, means, scales, logits = mixture_case(n)
    try:
        out = entropy.decode_mixture(data, means, scales, logits)
    except entropy.CorruptStreamError:
        return
    assert out.shape == (n,) and out.min(initial=0) >= 0 and out.max(initial=0) < 256


def test_truncated_stream_decodes_to_something_or_errors():
    symbols, means, scales, logits = mixture_case(400)
    data = entropy.encode_mixture(symbols, means, scales, logits)
    for cut in range(0, len(data), 7):
        try:
            out = entropy.decode_mixture(data[:cut], means, scales, logits)
        except entropy.CorruptStreamError:
            continue
        assert out.shape == symbols.shape
