"""The fuzz suite: a package, so that its network (scope="package") ends with it."""
