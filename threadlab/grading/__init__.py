"""Batch grading of a class's lab submissions: nbgrader autograde with every student kernel in a sandbox.

``python -m threadlab grade LAB SUBMISSIONS... --out DIR``; see :mod:`threadlab.grading.grader`.
"""
