def test_with_subtests(subtests):
    for i in range(4):
        with subtests.test(msg="even", i=i):
            assert i % 2 == 0
