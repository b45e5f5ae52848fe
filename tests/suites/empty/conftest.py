# Fixture suite empty (see ../README.md): present so the directory is a normal pytest rootdir.
