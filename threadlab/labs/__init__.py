"""Machinery for the labs: ``threadlab.labs.lab1`` belongs to lab 1, and so on."""
