"""The built-in routines, installed as package data of relax (as relax.routines)."""
