def area(kind, a, b=None):
    if kind == "square":
        return a * a
    elif kind == "rect":
        return a * b
    elif kind == "circle":
        return 3.14159 * a * a
    raise ValueError(kind)


def classify(n):
    if n < 0:
        return "negative"
    if n == 0:
        return "zero"
    if n > 1000:
        return "huge"
    return "positive"
