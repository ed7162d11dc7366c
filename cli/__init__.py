"""Command-line interfaces: thin Typer apps over library calls."""
