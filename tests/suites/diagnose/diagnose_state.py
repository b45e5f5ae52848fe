"""State shared by the polluters and their victims: a module global, as an app's cache."""
CACHE = {}
FLAGS = set()
