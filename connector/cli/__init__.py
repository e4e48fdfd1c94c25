"""The typer app and its commands (``connector``)."""
