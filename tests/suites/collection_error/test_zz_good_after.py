# Fixture suite collection_error (see ../README.md): good tests collected after the broken module.
def test_after_one():
    assert True


def test_after_two():
    assert True
