"""LEB128 numbers (lora_codec/leb128.py): round trips, the shortest form, and each error."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lora_codec import leb128


@given(st.integers(0, 2**64 - 1), st.binary(max_size=4))
def test_round_trip_and_the_shortest_form(n, rest):
    data = leb128.pack(n)
    assert leb128.unpack(data + rest) == (n, len(data))
    assert len(data) == max(1, (n.bit_length() + 6) // 7)


@pytest.mark.parametrize("data, limit, reason", [
    (b"", 10, leb128.INCOMPLETE), (b"\x80", 10, leb128.INCOMPLETE),
    (b"\x85\x00", 10, leb128.NOT_SHORTEST), (b"\x0b", 10, leb128.OVER_LIMIT), (b"\xff\xff\xff", 2**16, leb128.OVER_LIMIT),
])
def test_each_error_names_its_reason(data, limit, reason):
    with pytest.raises(leb128.Leb128Error) as info:
        leb128.unpack(data, limit=limit)
    assert info.value.reason == reason


def test_negative_numbers_are_refused():
    with pytest.raises(ValueError, match="unsigned"):
        leb128.pack(-1)
