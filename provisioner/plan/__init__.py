"""Planning: the pure planner (`planner`) that turns desired specs and observed containers into actions, the path every
changing command shares across engines (`fleet`: open, observe once each, plan, pair moves, fingerprint), and saved
plans (`savedplan`)."""
