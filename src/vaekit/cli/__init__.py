"""The command-line interface: argument parsing and printing only, no maths."""
