# Fixture suite collection_error (see ../README.md): this module has a syntax error on purpose.
def test_never_collected():
    assert True


def broken(:
    pass
