def test_seed_from_the_controller(request):
    assert request.config.lazy_seed == 1234


def test_again(request):
    assert request.config.lazy_seed == 1234
