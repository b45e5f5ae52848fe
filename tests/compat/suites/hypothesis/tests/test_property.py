from hypothesis import given, strategies as st


@given(st.integers())
def test_below_a_thousand(n):
    assert n < 1000


@given(st.text())
def test_text_is_text(s):
    assert isinstance(s, str)
