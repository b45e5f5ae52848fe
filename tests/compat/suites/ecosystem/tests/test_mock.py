import os


def test_patch(mocker):
    mocker.patch("os.getcwd", return_value="/patched")
    assert os.getcwd() == "/patched"


def test_spy(mocker):
    spy = mocker.spy(os.path, "join")
    os.path.join("a", "b")
    spy.assert_called_once_with("a", "b")
