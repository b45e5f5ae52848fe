# Fixture suite maxfail (see ../README.md): 10 tests, 5 of which fail (03, 05, 06, 08, 09).
# Alone: 5 failed, 5 passed; with -x: 1 failed, 2 passed; with --maxfail 3: 3 failed, 3 passed.


def test_01():
    assert True


def test_02():
    assert True


def test_03_fails():
    assert False, "first failure"


def test_04():
    assert True


def test_05_fails():
    assert False, "second failure"


def test_06_fails():
    assert False, "third failure"


def test_07():
    assert True


def test_08_fails():
    assert False, "fourth failure"


def test_09_fails():
    assert False, "fifth failure"


def test_10():
    assert True
