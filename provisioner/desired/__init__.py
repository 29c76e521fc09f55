"""Desired state: what each tunnel of a validated manifest should be as a container (`specs`), the two sides the
planner compares (`model`), and the labels and digests a container carries to say what it was made from (`labels`)."""
