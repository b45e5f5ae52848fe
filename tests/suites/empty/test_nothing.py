# Fixture suite empty (see ../README.md): a test module that defines no tests. pytest collects
# zero items and exits 5 ("no tests ran").


def helper_not_a_test():
    return 42


class NotATestClass:
    def test_method_not_collected(self):
        pass
