"""Activities: the catalogue and sign-up, rotating scan codes, attendance turned into hours and
points.
"""
