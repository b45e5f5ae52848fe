import pytest


def test_a0():
    pass


def test_a1():
    pass


def test_a2():
    pass


def test_a3():
    pass


def test_a4():
    pass


def test_a5():
    pass

