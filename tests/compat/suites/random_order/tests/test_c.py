import pytest


def test_c0():
    pass


def test_c1():
    pass


def test_c2():
    pass


def test_c3():
    pass


def test_c4():
    pass


def test_c5():
    pass

