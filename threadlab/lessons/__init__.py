"""Machinery for single lessons: ``threadlab.lessons.lesson01`` belongs to lesson 01, and so on.

Anything a lesson needs that is longer than a few lines lives here, so the notebook keeps to
prose, short cells and plots. Worker functions for processes must live in modules like these
(never in the notebook) so that they import under the spawn and forkserver start methods.
"""
